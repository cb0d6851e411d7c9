"""Headless Chromium reads the demo site through the middleware, as a user
would: every subresource loads, no console errors, the stylesheet and the
script apply, relative links lead to nested pages and to the unicode page."""

from __future__ import annotations

import json
import re
import sys
from urllib.parse import unquote, urlsplit

import pytest
from running import Running
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from .chromium import console_problems

URL = re.compile(r"http://127\.0\.0\.1:\d+/docs/")

# What the sample site's stylesheet and script do, as a browser computes it.
TOPBAR_BACKGROUND = "rgb(31, 111, 139)"
CURRENT_LINK_BACKGROUND = "rgb(232, 244, 248)"


@pytest.fixture(scope="module")
def docs_url():
    """``s3wsgi demo --port 0`` in a process of its own; the docs URL."""
    process = Running([sys.executable, "-m", "s3wsgi", "demo", "--port", "0"])
    try:
        yield process.wait_for(URL).group(0)
        assert process.stop() == 0
    finally:
        process.close()


def responses(driver) -> dict[str, int]:
    """URL -> HTTP status of every response since the last call (DevTools)."""
    statuses, requested = {}, {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message["params"]
        if message["method"] == "Network.requestWillBeSent":
            requested[params["requestId"]] = params["request"]["url"]
        elif message["method"] == "Network.responseReceived":
            if params["response"]["url"].startswith("http"):  # not data: URLs
                statuses[params["response"]["url"]] = params["response"]["status"]
        elif message["method"] == "Network.loadingFailed":
            statuses[requested.get(params["requestId"], params["requestId"])] = params["errorText"]
    return statuses


def wait_until_ready(driver) -> None:
    """The page, its subresources and the site's script have all run."""
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script(
            "return document.readyState === 'complete'"
            " && document.documentElement.dataset.docs === 'ready'"
        )
    )


def background(driver, selector: str) -> str:
    return driver.execute_script(
        "return getComputedStyle(document.querySelector(arguments[0])).backgroundColor", selector
    )


def check_page(driver, *, expect_path: str) -> dict[str, int]:
    """What every page of the site must show; the statuses of its responses."""
    wait_until_ready(driver)
    assert unquote(urlsplit(driver.current_url).path) == expect_path
    statuses = responses(driver)
    assert statuses, "no network events were recorded"
    bad = {url: status for url, status in statuses.items() if status not in range(200, 300)}
    assert {url: status for url, status in bad.items() if status != 304} == {}
    assert console_problems(driver) == []

    timing = driver.execute_script(
        "return performance.getEntriesByType('resource')"
        ".map(e => [e.name, e.responseStatus, e.initiatorType])"
    )
    loaded = {urlsplit(name).path.rsplit("/", 1)[-1] for name, _, _ in timing}
    assert {"docs.css", "docs.js", "logo.svg"} <= loaded
    assert [entry for entry in timing if entry[1] not in (200, 304)] == []

    # Every image decoded (a broken one has naturalWidth 0).
    images = driver.execute_script(
        "return [...document.images].map(i => [i.currentSrc, i.complete, i.naturalWidth])"
    )
    assert images and all(complete and width > 0 for _, complete, width in images), images

    assert background(driver, ".topbar") == TOPBAR_BACKGROUND
    # Marked by the script, coloured by the stylesheet.
    assert background(driver, ".sidebar a.current") == CURRENT_LINK_BACKGROUND
    return statuses


def test_the_docs_home_loads_every_subresource(browser, docs_url):
    browser.get(docs_url)
    statuses = check_page(browser, expect_path="/docs/")
    assert statuses[docs_url] == 200
    assert browser.title == "Overview — Kestrel 2.4 documentation"
    figure = browser.find_element(By.CSS_SELECTOR, "figure img")
    assert browser.execute_script("return arguments[0].naturalWidth", figure) == 560
    assert {url.rsplit("/", 1)[-1] for url in statuses} >= {
        "docs.css",
        "docs.js",
        "logo.svg",
        "architecture.png",
    }


def test_relative_links_lead_to_nested_pages(browser, docs_url):
    browser.get(docs_url)
    wait_until_ready(browser)
    responses(browser)

    browser.find_element(By.LINK_TEXT, "User guide").click()  # href="guide/"
    check_page(browser, expect_path="/docs/guide/")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("User guide")

    browser.find_element(By.CSS_SELECTOR, ".toctree a[href='install.html']").click()
    check_page(browser, expect_path="/docs/guide/install.html")

    browser.find_element(By.LINK_TEXT, "kestrel.Queue").click()  # ../api/reference/queue.html
    check_page(browser, expect_path="/docs/api/reference/queue.html")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("kestrel.Queue")

    browser.find_element(By.LINK_TEXT, "API reference").click()
    check_page(browser, expect_path="/docs/api/reference/index.html")


def test_the_unicode_page_loads_from_its_link(browser, docs_url):
    browser.get(docs_url + "guide/install.html")
    wait_until_ready(browser)
    responses(browser)

    browser.find_element(By.LINK_TEXT, "the café tutorial").click()
    check_page(browser, expect_path="/docs/guide/café.html")
    assert "/docs/guide/caf%C3%A9.html" in browser.current_url
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Tutorial: the café queue")
    assert "☕" in browser.find_element(By.TAG_NAME, "main").text


def test_revisits_are_revalidated_with_304(browser, docs_url):
    browser.get(docs_url)
    wait_until_ready(browser)
    responses(browser)
    # The demo sends Cache-Control: no-cache, so a reload asks again with
    # If-None-Match, and the middleware answers 304 from S3's answer.
    browser.refresh()
    statuses = check_page(browser, expect_path="/docs/")
    assert 304 in statuses.values()


def test_chromium_receives_brotli_and_a_page_weighs_a_third(browser, docs_url):
    # The demo publishes its site with `s3wsgi publish`, which made Brotli
    # and gzip variants of its pages, stylesheet and larger scripts.
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    try:
        browser.get(docs_url)
        wait_until_ready(browser)
        sent, encodings = {}, {}
        timing = browser.execute_script(
            "return performance.getEntriesByType('navigation').concat("
            "performance.getEntriesByType('resource'))"
            ".map(e => [e.name, e.encodedBodySize, e.decodedBodySize])"
        )
        for entry in browser.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.responseReceived":
                response = message["params"]["response"]
                headers = {k.lower(): v for k, v in response["headers"].items()}
                encodings[response["url"]] = headers.get("content-encoding")
                sent[response["url"]] = headers.get("vary")
    finally:
        browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": False})
    by_name = {urlsplit(url).path.rsplit("/", 1)[-1] or "index": url for url in encodings}
    for name in ("index", "docs.css"):
        assert encodings[by_name[name]] == "br", (name, encodings)
        assert sent[by_name[name]] == "Accept-Encoding"
    text = [(e, d) for url, e, d in timing if url.endswith(("/docs/", ".css", ".js"))]
    encoded, decoded = sum(e for e, _ in text), sum(d for _, d in text)
    print(f"HTML, CSS and JS: {encoded} bytes on the wire for {decoded} ({encoded / decoded:.0%})")
    assert encoded <= 0.5 * decoded
    assert console_problems(browser) == []

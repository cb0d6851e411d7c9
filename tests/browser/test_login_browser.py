"""Headless Chromium, signed out, asks for a page of the Flask example's docs:
it is sent to the app's login page, signs in through the form, and is brought
back to the very page it asked for, sent private; signed out again, the same
page sends it to the login page again (docs/frameworks.rst)."""

from __future__ import annotations

import json
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from frameworks.scenario import DOCS, docs_environment, import_example
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from .chromium import console_problems

# The page asked for while signed out, its query included.
ASKED = "/docs/?lang=en"
# h1 { color: teal } in the bucket's style.css, as a browser computes it.
TEAL = "rgb(0, 128, 128)"


@pytest.fixture
def example_url(s3_client, s3_endpoint, serve, monkeypatch, request):
    """The Flask example under waitress (at the root or under a mount), its
    bucket filled as the framework tests fill it; the URL of its root."""
    bucket = f"login-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    for key, (body, content_type) in DOCS.items():
        s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    docs_environment(monkeypatch, bucket, s3_endpoint)
    # The example's own factory, read now: its module-level app may have
    # been made for another bucket by an earlier import.
    app = import_example("flask_app").create_app()
    mount = request.param
    return serve(app, url_prefix=mount) + mount


def answers(driver) -> list[tuple[str, int, dict[str, str]]]:
    """(URL, status, headers with lower-case names) of every HTTP answer
    since the last call, redirects included, in order (DevTools)."""
    seen = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message["params"]
        if message["method"] == "Network.requestWillBeSent":
            response = params.get("redirectResponse")  # the 3xx this request follows
        elif message["method"] == "Network.responseReceived":
            response = params["response"]
        else:
            continue
        if response and response["url"].startswith("http"):
            headers = {name.lower(): value for name, value in response["headers"].items()}
            seen.append((response["url"], response["status"], headers))
    return seen


def directives(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(",") if part.strip()}


def at_path(driver, path: str) -> None:
    """Wait until the browser shows ``path`` and has loaded it."""
    try:
        WebDriverWait(driver, 20).until(
            lambda d: (
                urlsplit(d.current_url).path == path
                and d.execute_script("return document.readyState") == "complete"
            )
        )
    except TimeoutException:
        raise AssertionError(f"at {driver.current_url}, never at {path}") from None


def assert_on_login_page(driver, base: str, asked: str) -> None:
    """The app's login page, asked to bring the reader back to ``asked``."""
    url = urlsplit(driver.current_url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{base}/login"
    assert parse_qs(url.query) == {"next": [asked]}
    assert driver.title == "Log in"
    form = driver.find_element(By.TAG_NAME, "form")
    assert form.get_attribute("method") == "post"
    assert form.get_attribute("action") == f"{base}/login"
    hidden = form.find_element(By.NAME, "next")
    assert (hidden.get_attribute("type"), hidden.get_attribute("value")) == ("hidden", asked)
    assert form.find_element(By.NAME, "password").get_attribute("type") == "password"
    assert form.find_element(By.NAME, "username").is_displayed()


@pytest.mark.parametrize("example_url", ["", "/intranet"], indirect=True)
def test_a_signed_out_reader_logs_in_and_is_brought_back_to_the_docs_page(browser, example_url):
    base = example_url
    mount = urlsplit(base).path
    asked = mount + ASKED
    browser.delete_all_cookies()
    answers(browser)
    console_problems(browser)

    # Signed out: the docs page sends the reader to the app's login page.
    browser.get(base + ASKED)
    at_path(browser, f"{mount}/login")
    assert_on_login_page(browser, base, asked)
    (refusal,) = [a for a in answers(browser) if a[0] == base + ASKED]
    assert refusal[1] == 302
    assert {"private", "no-store"} <= directives(refusal[2].get("cache-control", ""))
    assert "cookie" in directives(refusal[2].get("vary", ""))

    # Signed in through the form: back at the very page first asked for.
    browser.find_element(By.NAME, "username").send_keys("ada")
    browser.find_element(By.NAME, "password").send_keys("lovelace")
    browser.find_element(By.CSS_SELECTOR, "form button").click()
    at_path(browser, f"{mount}/docs/")
    assert browser.current_url == base + ASKED
    assert browser.find_element(By.TAG_NAME, "h1").text == "Docs home"
    heading = "return getComputedStyle(document.querySelector('h1')).color"
    assert browser.execute_script(heading) == TEAL  # the stylesheet applied
    docs = {url: (status, headers) for url, status, headers in answers(browser)}
    assert docs[f"{base}/login"][0] == 302  # the form's POST, redirected back
    assert docs[f"{base}/login"][1]["location"] == asked
    assert docs[base + ASKED][0] == 200
    assert docs[f"{base}/docs/style.css"][0] == 200
    # What the middleware sent a signed-in reader is theirs alone.
    for url in (base + ASKED, f"{base}/docs/style.css"):
        headers = docs[url][1]
        assert "private" in directives(headers.get("cache-control", "")), (url, headers)
        assert "public" not in directives(headers.get("cache-control", "")), (url, headers)
        assert "cookie" in directives(headers.get("vary", "")), (url, headers)
    # The example has no icon: Chromium's ask for one is the only 404.
    problems = [p for p in console_problems(browser) if "/favicon.ico " not in p["message"]]
    assert problems == []

    # Signed out through the app's link: the same page is the login page again.
    browser.get(base + "/")
    browser.find_element(By.LINK_TEXT, "Log out").click()
    WebDriverWait(browser, 20).until(
        lambda d: (
            d.find_elements(By.LINK_TEXT, "Log in")
            and d.execute_script("return document.readyState") == "complete"
        )
    )
    assert browser.current_url == base + "/"
    answers(browser)
    browser.get(base + ASKED)
    at_path(browser, f"{mount}/login")
    assert_on_login_page(browser, base, asked)
    assert "Docs home" not in browser.page_source
    statuses = [status for url, status, _ in answers(browser) if url == base + ASKED]
    assert statuses == [302]  # asked of the server again, not read from the cache

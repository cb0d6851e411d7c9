"""Headless Chromium on what a hosted site needs: a single-page app whose
client-side route survives a reload while a missing script stays a 404, and
versioned docs whose ``latest`` follows a new upload without a restart."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from s3wsgi import S3Middleware
from s3wsgi.publish import publish

from .chromium import console_problems

APP_PAGE = b"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>App</title><link rel="icon" href="data:,">
<script src="/spa/app.js" defer></script></head>
<body><main id="view"></main><a id="go" href="/spa/users/42">user 42</a></body></html>
"""
APP_SCRIPT = b"""
function render() {
  document.getElementById("view").textContent = "route " + location.pathname;
  document.documentElement.dataset.ready = "yes";
}
document.getElementById("go").addEventListener("click", (event) => {
  event.preventDefault();
  history.pushState({}, "", event.target.href);
  render();
});
render();
"""
BROKEN_PAGE = b"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Broken</title>
<script src="/spa/missing.4f3c2b1a.js"></script></head><body><p>broken</p></body></html>
"""


def host_app(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not the app's"]


@pytest.fixture
def site(s3_client, bucket, s3_endpoint, serve, tmp_path):
    for key, body, kind in (
        ("spa/index.html", APP_PAGE, "text/html"),
        ("spa/app.js", APP_SCRIPT, "text/javascript"),
        ("spa/broken.html", BROKEN_PAGE, "text/html"),
    ):
        s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=kind)

    def release(version: str) -> None:
        folder = tmp_path / version
        folder.mkdir()
        (folder / "index.html").write_text(
            f"<!DOCTYPE html><title>Manual</title><h1>Manual {version}</h1>"
        )
        publish(
            folder,
            bucket=bucket,
            key_prefix="manual",
            client=s3_client,
            version=version,
            aliases=["latest"],
        )

    release("v1")
    app = S3Middleware(
        host_app,
        mounts={
            "/spa": {"key_prefix": "spa", "spa_fallback": "index.html"},
            "/manual": {"key_prefix": "manual", "versions": True, "site_files_ttl": 0.5},
        },
        bucket=bucket,
        endpoint_url=s3_endpoint,
    )
    return serve(app), release


def ready(driver) -> None:
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.documentElement.dataset.ready === 'yes'")
    )


def test_a_client_side_route_is_reloaded_and_still_renders(browser, site):
    url, _ = site
    browser.get(url + "/spa/")
    ready(browser)
    browser.find_element(By.ID, "go").click()
    assert browser.find_element(By.ID, "view").text == "route /spa/users/42"
    browser.refresh()  # the server, not the script, answers /spa/users/42 now
    ready(browser)
    assert browser.current_url == url + "/spa/users/42"
    assert browser.find_element(By.ID, "view").text == "route /spa/users/42"
    assert console_problems(browser) == []


def test_a_missing_script_is_a_404_in_the_console(browser, site):
    url, _ = site
    browser.get(url + "/spa/broken.html")
    problems = console_problems(browser)
    assert any("missing.4f3c2b1a.js" in p["message"] and "404" in p["message"] for p in problems)


def test_latest_follows_a_new_release_without_a_restart(browser, site):
    url, release = site
    browser.get(url + "/manual/")
    assert browser.current_url == url + "/manual/latest/"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Manual v1"
    release("v2")
    deadline = time.monotonic() + 10
    while True:
        browser.refresh()
        if browser.find_element(By.TAG_NAME, "h1").text == "Manual v2":
            break
        assert time.monotonic() < deadline, "latest never moved to v2"
        time.sleep(0.3)
    browser.get(url + "/manual/v1/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Manual v1"

"""Debian's Chromium under selenium, as the browser tests drive it."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def start_chromium(profile):
    """Headless Chromium with an empty profile, recording the console
    ("browser") and the network ("performance")."""
    # Imported here: only the browser environment installs selenium, and
    # every run loads this folder's conftest.
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    # The console ("browser") and the network events ("performance").
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    # Forget the start page's own traffic (chrome:// pages, a lookup that
    # this closed network refuses): only the demo's pages are under test.
    driver.get("about:blank")
    driver.get_log("performance")
    driver.get_log("browser")
    return driver


def console_problems(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]

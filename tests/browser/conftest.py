"""The browser tests need Chromium and selenium: tox's ``browser`` env
provides both and sets RUN_BROWSER_TESTS; every other run leaves them out."""

from __future__ import annotations

import os

import pytest

from .chromium import start_chromium

collect_ignore_glob = [] if os.environ.get("RUN_BROWSER_TESTS") == "1" else ["test_*.py"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()

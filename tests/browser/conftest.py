"""The browser tests need Chromium and selenium: tox's ``browser`` env
provides both and sets RUN_BROWSER_TESTS; every other run leaves them out."""

from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("RUN_BROWSER_TESTS") == "1" else ["test_*.py"]

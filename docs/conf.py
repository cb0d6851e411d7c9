"""Sphinx's settings for the docs: plain reStructuredText pages, built by
``tox -e docs`` with warnings as errors."""

from __future__ import annotations

import re
from pathlib import Path

# The version, read rather than imported: building the docs needs Sphinx only.
_PACKAGE = Path(__file__).resolve().parent.parent / "s3wsgi" / "__init__.py"
release = re.search(r'__version__ = "([^"]+)"', _PACKAGE.read_text(encoding="utf-8")).group(1)
version = release

project = "s3wsgi"
author = "The s3wsgi authors"
copyright = "the s3wsgi authors (MIT licence)"

root_doc = "index"
exclude_patterns = ["_build"]
# Code blocks name their language; anything unmarked is plain text.
highlight_language = "none"
# Text as written: "--header" stays a flag, not an en dash and a word.
smartquotes = False

html_theme = "alabaster"
html_title = f"s3wsgi {release}"
html_theme_options = {
    "description": "S3 objects under a prefix of any WSGI app",
    "fixed_sidebar": True,
    "page_width": "1180px",
    "sidebar_width": "240px",
}

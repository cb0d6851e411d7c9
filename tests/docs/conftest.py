"""The rendered docs: tox's ``docs`` environment builds them with Sphinx
(warnings as errors), sets RUN_DOCS_TESTS and DOCS_HTML (where it built
them), and runs these tests; every other run leaves them out, as it has no
Sphinx."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

collect_ignore_glob = [] if os.environ.get("RUN_DOCS_TESTS") == "1" else ["test_*.py"]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def html(tmp_path_factory) -> Path:
    """The folder of the built HTML pages: DOCS_HTML, else built here."""
    built = os.environ.get("DOCS_HTML")
    if built:
        return Path(built)
    from sphinx.cmd.build import build_main

    folder = tmp_path_factory.mktemp("html")
    status = build_main(["-W", "--keep-going", "-q", "-b", "html", str(ROOT / "docs"), str(folder)])
    assert status == 0, "sphinx-build failed: see its warnings above"
    return folder

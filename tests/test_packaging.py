"""The release artifacts: a wheel and an sdist built from this checkout hold
what a user installs and nothing of the repository's tests, and say what the
project claims (licence, Python versions, typing, entry points)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import s3wsgi

# Runs commands in subprocesses: not in the fast tier.
pytestmark = pytest.mark.real

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """The wheel and the sdist, built without network (no isolation)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    [wheel] = out.glob("*.whl")
    [sdist] = out.glob("*.tar.gz")
    return wheel, sdist


def package_files() -> set[str]:
    return {
        str(path.relative_to(ROOT))
        for path in (ROOT / "s3wsgi").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_the_wheel_holds_the_whole_package_and_its_data(artifacts):
    wheel, _ = artifacts
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = Parser().parsestr(
            archive.read(f"s3wsgi-{s3wsgi.__version__}.dist-info/METADATA").decode()
        )
        entry_points = archive.read(f"s3wsgi-{s3wsgi.__version__}.dist-info/entry_points.txt")
    assert package_files() <= names
    assert "s3wsgi/py.typed" in names
    assert "s3wsgi/demo_site/guide/café.html" in names
    assert not any(name.startswith(("tests/", "examples/", "benchmarks/")) for name in names)
    assert metadata["Version"] == s3wsgi.__version__
    assert metadata["License-Expression"] == "MIT"
    assert metadata["Requires-Python"] == ">=3.11"
    classifiers = metadata.get_all("Classifier")
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers
    # Every Python version claimed is one the suite runs on.
    versions = {c.rsplit(" ", 1)[1] for c in classifiers if c.count("::") == 2 and "3." in c}
    assert versions == {f"{sys.version_info.major}.{sys.version_info.minor}"}
    assert b"s3wsgi = s3wsgi.cli:main" in entry_points
    assert b"main = s3wsgi.paste:app_factory" in entry_points


def test_the_sdist_has_the_package_and_licence_and_no_tests(artifacts):
    _, sdist = artifacts
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"pyproject.toml", "README.rst", "LICENSE"} <= names
    assert package_files() <= names
    # No tests rather than tests that cannot run: their fixtures live in
    # the repository.
    assert not any(name.startswith(("tests/", "examples/", "benchmarks/")) for name in names)


def test_the_licence_file_is_the_declared_licence():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")

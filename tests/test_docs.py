"""What the README and the docs tell a reader to run is what runs: the
README's two commands are the ones CI runs, nothing is installed from a
package index that does not have it, and every ``s3wsgi`` command line in
the docs is one the command accepts. (tests/docs/ checks the rendered
pages, in tox's ``docs`` environment.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from s3wsgi.cli import build_parser
from s3wsgi.cli.settings import SERVER_DEFAULTS, variables
from s3wsgi.options import FIELDS

ROOT = Path(__file__).resolve().parent.parent
DEMO_COMMAND = "python3 -m pip install -e '.[demo]' && s3wsgi demo"
TEST_COMMAND = "python3 -m pip install --upgrade tox tox-uv && python3 -m tox"
VIRTUALENV = "python3 -m venv .venv && . .venv/bin/activate"

PAGES = [
    ROOT / "README.rst",
    ROOT / "examples" / "README.rst",
    *sorted((ROOT / "docs").glob("*.rst")),
]


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def console_lines(text: str) -> list[str]:
    """The commands of the ``console`` code blocks of a page: in a block
    with ``$`` prompts the prompted lines (the others are output), else
    every line but comments."""
    blocks: list[list[str]] = []
    in_block = False
    for line in text.splitlines():
        if line.strip().startswith(".. code-block::"):
            in_block = line.split("::", 1)[1].strip() == "console"
            if in_block:
                blocks.append([])
            continue
        if in_block and line and not line.startswith(" "):
            in_block = False
        if in_block and line.strip() and not line.strip().startswith("#"):
            blocks[-1].append(line.strip())
    commands = []
    for block in blocks:
        prompted = [line[2:] for line in block if line.startswith("$ ")]
        commands += prompted or block
    return commands


def test_the_readme_gives_the_virtualenv_the_demo_and_the_test_suite_literally():
    commands = console_lines(read(ROOT / "README.rst"))
    assert VIRTUALENV in commands
    assert DEMO_COMMAND in commands
    assert TEST_COMMAND in commands
    assert commands.index(VIRTUALENV) < commands.index(DEMO_COMMAND)


def test_ci_runs_the_readme_test_command():
    ci = read(ROOT / ".ci" / "run").splitlines()
    ran = [line for line in ci if "python3 -m tox" in line]
    assert ran == [TEST_COMMAND]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_nothing_is_installed_from_an_index_that_does_not_have_it(page):
    # s3wsgi installs from a clone: '.[serve]', '/path/to/s3wsgi[serve]'.
    from_index = re.findall(r"pip install\s+(?:-\S+\s+)*['\"]?s3wsgi\b", read(page))
    assert from_index == []


def s3wsgi_command_lines() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for line in console_lines(read(page)):
            for command in line.split("&&"):
                command = command.split(" # ")[0].strip()
                words = shlex.split(command)
                while words and re.fullmatch(r"[A-Z0-9_]+=\S*", words[0]):
                    words.pop(0)
                if words[:1] == ["s3wsgi"] or words[:3] == ["python3", "-m", "s3wsgi"]:
                    found.append((str(page.relative_to(ROOT)), command))
    return found


COMMAND_LINES = s3wsgi_command_lines()


def test_the_docs_show_each_command():
    shown = set()
    for _, line in COMMAND_LINES:
        words = shlex.split(line)
        shown.add(words[words.index("s3wsgi") + 1])
    assert {"serve", "publish", "demo"} <= shown


@pytest.mark.parametrize(("page", "line"), COMMAND_LINES, ids=[line for _, line in COMMAND_LINES])
def test_every_s3wsgi_command_line_in_the_docs_is_one_it_accepts(page, line):
    words = shlex.split(line)
    assignments = []
    while re.fullmatch(r"[A-Z0-9_]+=\S*", words[0]):
        assignments.append(words.pop(0).split("=", 1)[0])
    words = words[words.index("s3wsgi") + 1 :] if "s3wsgi" in words else words
    # A usage line: "[--host 127.0.0.1]" shows an optional flag.
    words = [word.strip("[]") for word in words]
    try:
        args, unknown = build_parser().parse_known_args(words)
    except SystemExit:
        pytest.fail(f"{page}: s3wsgi refuses {line!r}")
    assert unknown == [], f"{page}: {line!r}"
    known = {variable for name in [*FIELDS, *SERVER_DEFAULTS] for variable in variables(name)}
    assert set(assignments) <= known, f"{page}: {line!r}"

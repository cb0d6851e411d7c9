"""Every table of the docs and of the README renders with the rows its
source means: one row per entry, none split over two rows (what a wrapped
line does to a simple table), and the options table is the schema."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from docutils.core import publish_string
from docutils.writers.html5_polyglot import Writer

from s3wsgi.options import FIELDS

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(path.stem for path in (ROOT / "docs").glob("*.rst"))

Table = list[list[str]]


class Tables(HTMLParser):
    """The tables of a page: rows of cells, each cell's text with its
    whitespace collapsed, and ``**`` around what a cell starts in bold."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[Table] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._bold = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "strong" and self._cell is not None and not "".join(self._cell).strip():
            self._cell.append("**")
            self._bold = True

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None
        elif tag == "strong" and self._bold and self._cell is not None:
            self._cell.append("**")
            self._bold = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> list[Table]:
    parser = Tables()
    parser.feed(html)
    return parser.tables


def assert_rows_whole(table: Table, where: str) -> None:
    """Every row has every cell filled, but a heading row (the options'
    groups), which has its first cell in bold, at most its second (the
    group's keyword) filled and the others empty."""
    width = len(table[0])
    for row in table:
        heading = row[0].startswith("**") and not any(row[2:])
        assert len(row) == width and (all(row) or heading), (
            f"{where}: a row split or cut short: {row}"
        )


def page(html: Path, name: str) -> list[Table]:
    return tables((html / f"{name}.html").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def readme() -> list[Table]:
    """The README as docutils renders it (PyPI and code hosts do the same),
    any warning an error."""
    source = (ROOT / "README.rst").read_text(encoding="utf-8")
    rendered = publish_string(
        source,
        writer=Writer(),
        settings_overrides={"halt_level": 2, "report_level": 2, "output_encoding": "unicode"},
    )
    return tables(rendered)


def test_every_page_is_built(html):
    assert {path.stem for path in html.glob("*.html")} >= set(PAGES)


@pytest.mark.parametrize("name", PAGES)
def test_every_table_row_is_whole(html, name):
    for table in page(html, name):
        assert_rows_whole(table, name)


def test_the_readme_table_has_a_row_per_way_s3_misbehaves(readme):
    (table,) = readme
    assert_rows_whole(table, "README.rst")
    assert [row[0].split(" (")[0].split(",")[0] for row in table[1:]] == [
        "slow",
        "hung",
        "down",
        "throttling",
        "cut off mid-answer",
        "refusing",
    ]


def test_the_safety_table_has_a_row_per_way_s3_misbehaves(html):
    table = page(html, "safety")[0]
    assert [row[0].replace("**", "").split(":")[0].split(",")[0] for row in table[1:]] == [
        "slow",
        "hung",
        "down",
        "throttling",
        "cut off in the middle of an answer",
        "refusing",
        "any of the above",
    ]


def test_the_errors_tables_give_each_case_one_answer(html):
    from_s3, without_s3, mistakes = page(html, "errors")
    # Each configuration mistake the advice table names, with what to set.
    assert [row[0] for row in mistakes[1:]] == [
        "no credentials",
        "refused credentials",
        "no such bucket",
        "an endpoint that is not S3",
        "the bucket in another region",
    ]
    assert all("``" not in row[1] and row[1] for row in mistakes[1:])
    for table in (from_s3, without_s3):
        for case, answer in table[1:]:
            assert re.match(r"(\d{3}\b|the connection is aborted)", answer), (case, answer)
    assert [row[0].split()[0] for row in from_s3[1:]] == [
        "NoSuchKey",
        "NoSuchBucket,",
        "SlowDown",
        "connection",
        "no",
        "an",
        "the",
    ]


def test_the_options_table_is_the_schema(html):
    (table,) = page(html, "options")
    rows = {row[0]: row for row in table[1:] if not row[0].startswith("**")}
    assert list(rows) == list(FIELDS)
    for name, flat in FIELDS.items():
        assert rows[name][4] == flat.help, name

"""``versions.json`` is bucket data: over real HTTP against moto's server,
both stores, its names are checked by the rule ``s3wsgi publish`` writes
them by, bad entries are left out and logged once per read of the file,
a document of the wrong shape is no versions document (an ERROR line,
never a 5xx), and a version becomes a key only through a request path's
checks."""

from __future__ import annotations

import json
import logging

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s3wsgi.site import versions

# Keys a version named "..", "../secret" or "/secret" would reach from
# key_prefix "manual": S3 keys are literal, so each is a distinct object.
OUTSIDE = {
    "manual/../secret/page.html": b"secret one",
    "manual/../page.html": b"secret two",
    "manual//secret/page.html": b"secret three",
}


def get(url: str, path: str) -> requests.Response:
    return requests.get(url + path, allow_redirects=False, timeout=10)


@pytest.fixture
def put_versions(s3_client, bucket):
    """``put_versions(document_or_bytes)``: write manual/versions.json, with
    manual/v1/ published and objects at the keys bad names would reach."""
    for key, body in {**OUTSIDE, "manual/v1/index.html": b"<h1>v1</h1>"}.items():
        s3_client.put_object(Bucket=bucket, Key=key, Body=body)

    def put(document) -> None:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        s3_client.put_object(Bucket=bucket, Key="manual/versions.json", Body=body)

    return put


def versions_lines(caplog, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == level and r.getMessage().startswith("manual/versions.json: ")
    ]


def test_names_publish_would_refuse_are_left_out_once_per_read(
    make_middleware, serve, put_versions, caplog
):
    put_versions(
        {
            "versions": ["v1", "..", "../secret", "/secret", "v 1", "\u00e9", 5, "v1"],
            "aliases": {
                "latest": "v1",
                "up": "..",
                "out": "../secret",
                "root": "/secret",
                "ghost": "v9",
                "v1": "v1",
                "../x": "v1",
            },
            "default": "latest",
        }
    )
    # site_files_ttl=0: the file is asked for again on every request (a 304).
    url = serve(make_middleware(key_prefix="manual", versions=True, site_files_ttl=0))
    with caplog.at_level(logging.WARNING, logger="s3wsgi"):
        for _ in range(2):
            for path in ("/docs/up/secret/page.html", "/docs/out/page.html", "/docs/up/page.html"):
                assert get(url, path).status_code == 404, path
            assert get(url, "/docs/root/page.html").status_code == 404
            assert get(url, "/docs/latest/").text == "<h1>v1</h1>"
            assert get(url, "/docs/").headers["Location"] == "/docs/latest/"
    assert get(url, "/docs/versions.json").json() == {
        "versions": ["v1"],
        "aliases": {"latest": "v1"},
        "default": "latest",
    }
    left_out = versions_lines(caplog, logging.WARNING)
    assert len(left_out) == 13  # each bad entry once, however many requests
    for name in ("'..'", "'../secret'", "'/secret'", "'v 1'", "'\u00e9'", "5", "'ghost'"):
        assert any(name in line for line in left_out), name


@pytest.mark.parametrize("default", [5, ["v1"], {"v": 1}, "..", "v9", "v 1"])
def test_a_bad_default_is_no_default(make_middleware, serve, put_versions, caplog, default):
    put_versions({"versions": ["v1"], "default": default})
    url = serve(make_middleware(key_prefix="manual", versions=True))
    with caplog.at_level(logging.WARNING, logger="s3wsgi"):
        root = get(url, "/docs/")
    assert root.status_code == 404
    assert get(url, "/docs/v1/").text == "<h1>v1</h1>"
    assert get(url, "/docs/versions.json").json()["default"] is None
    assert [line for line in versions_lines(caplog, logging.WARNING) if "default" in line]


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2]",
        b'"v1"',
        b"null",
        b'{"versions": "v1"}',
        b'{"versions": {"v1": true}}',
        b'{"versions": ["v1"], "aliases": ["latest"]}',
        b'{"aliases": {"latest": "v1"}}',
        b"[" * 100_000 + b"]" * 100_000,
        b"\xff\xfe not json",
    ],
)
def test_a_document_of_another_shape_is_no_versions_document(
    make_middleware, serve, put_versions, caplog, body
):
    put_versions(body)
    url = serve(make_middleware(key_prefix="manual", versions=True))
    with caplog.at_level(logging.WARNING, logger="s3wsgi"):
        answers = [get(url, path) for path in ("/docs/", "/docs/v1/", "/docs/v/", "/docs/1/")]
    assert [a.status_code for a in answers] == [404] * 4
    assert get(url, "/docs/versions.json").json() == {
        "versions": [],
        "aliases": {},
        "default": None,
    }
    errors = versions_lines(caplog, logging.ERROR)
    assert len(errors) == 1 and errors[0].endswith("; ignored")
    assert "Traceback" not in caplog.text


def test_the_default_is_percent_encoded_once(make_middleware, serve, put_versions):
    put_versions({"versions": ["v1"]})
    url = serve(
        make_middleware(
            key_prefix="manual",
            versions=True,
            version_aliases={"\u00e9t\u00e9": "v1"},
            default_version="\u00e9t\u00e9",
        )
    )
    root = get(url, "/docs/")
    assert (root.status_code, root.headers["Location"]) == (302, "/docs/%C3%A9t%C3%A9/")
    assert get(url, root.headers["Location"]).text == "<h1>v1</h1>"


def test_a_version_becomes_a_key_only_through_a_request_paths_checks(
    make_middleware, serve, put_versions, s3_client, bucket, caplog
):
    # A name publish allows, but too long for a key once the path is added.
    long = "v" * 1000
    put_versions({"versions": ["v1", long], "aliases": {"long": long}})
    url = serve(make_middleware(key_prefix="manual", versions=True))
    with caplog.at_level(logging.WARNING, logger="s3wsgi"):
        answer = get(url, "/docs/long/" + "p" * 100 + ".html")
    assert answer.status_code == 404
    assert any("cannot name a key" in r.getMessage() for r in caplog.records)
    assert get(url, "/docs/v1/").text == "<h1>v1</h1>"


def test_a_file_of_many_bad_names_is_logged_in_a_few_lines(
    make_middleware, serve, put_versions, caplog
):
    put_versions({"versions": ["v1", *(f"../v{n}" for n in range(20_000))]})
    url = serve(make_middleware(key_prefix="manual", versions=True))
    with caplog.at_level(logging.WARNING, logger="s3wsgi"):
        assert get(url, "/docs/v1/").text == "<h1>v1</h1>"
    lines = versions_lines(caplog, logging.WARNING)
    assert len(lines) == 21
    assert lines[-1] == "manual/versions.json: 19980 more entries left out"


# --- any document at all ----------------------------------------------------------

NAMES = ["v1", "v2", "latest", "..", "../x", "/x", "v 1", "\u00e9", "", "a\r\nb", "-v", "v1/"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(NAMES) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
names = st.sampled_from(NAMES) | json_values
documents = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"versions": st.lists(names, max_size=6)},
        optional={
            "aliases": st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=4), names),
            "default": names,
        },
    ),
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents)
def test_any_document_is_refused_or_holds_only_what_publish_would_write(document):
    try:
        found, dropped = versions.checked(json.dumps(document).encode())
    except ValueError:
        assert not (
            isinstance(document, dict)
            and isinstance(document.get("versions"), list)
            and isinstance(document.get("aliases", {}), dict)
        )
        return
    for name in [*found["versions"], *found["aliases"]]:
        versions.check_name("name", name)  # raises for a name publish refuses
    assert len(set(found["versions"])) == len(found["versions"])
    assert set(found["aliases"].values()) <= set(found["versions"])
    assert not set(found["aliases"]) & set(found["versions"])
    default = found["default"]
    assert default is None or default in found["versions"] or default in found["aliases"]
    kept = len(found["versions"]) + len(found["aliases"]) + (default is not None)
    entries = len(document["versions"]) + len(document.get("aliases", {}))
    assert kept + len(dropped) == entries + (document.get("default") is not None)
    assert not any(c in line for line in dropped for c in "\r\n\x00")

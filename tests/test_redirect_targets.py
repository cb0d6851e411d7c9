"""Redirect targets that come from the bucket (S3 website redirects, a
``redirects_file``) are bucket data: over real HTTP against moto's server,
both stores, a target goes only to a path inside the mount or over http(s)
to a host in ``redirect_hosts``, rebuilt, never echoed; anything else is a
logged 404, never a 5xx. The operator's ``redirects`` stay trusted but
are checked when the middleware is made."""

from __future__ import annotations

import json
import logging
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sample_site import host_app

from s3wsgi import S3Middleware
from s3wsgi.http.paths import redirect_location, text_to_wsgi
from s3wsgi.http.targets import BadTarget, Local, Remote, checked

ALLOWED = "allowed.example"
# Answers are judged, never timed (a shared machine stalls any example).
timeless = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def get(url: str, path: str) -> requests.Response:
    return requests.get(url + path, allow_redirects=False, timeout=10)


def refusals(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]


# --- S3 website redirects ------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        # urlsplit reads allowed.example, every browser evil.example.
        "https://evil.example\\@allowed.example/",
        "https://evil.example%5C@allowed.example/",
        "https://user:pass@allowed.example/",
        "https://allowed.example@evil.example/",
        "ftp://allowed.example/",
        "https:/allowed.example/",
        "https://allowed.example:99999/",
        # A path of the bucket that leaves the mount once a browser resolves it.
        "/guide/../../logout",
        "/./guide/intro.html",
        "/guide\\..\\..\\logout",
    ],
)
def test_a_website_redirect_the_browser_reads_otherwise_is_refused(
    make_middleware, serve, s3_client, bucket, caplog, location
):
    s3_client.put_object(Bucket=bucket, Key="away.html", Body=b"", WebsiteRedirectLocation=location)
    url = serve(make_middleware(redirect_hosts=ALLOWED))
    with caplog.at_level(logging.WARNING, logger="s3wsgi"):
        answer = get(url, "/docs/away.html")
    assert answer.status_code == 404
    assert "Location" not in answer.headers
    assert [m for m in refusals(caplog) if "away.html" in m and repr(location) in m]


def test_a_website_redirect_is_rebuilt_from_its_parts(make_middleware, serve, s3_client, bucket):
    s3_client.put_object(
        Bucket=bucket,
        Key="away.html",
        Body=b"",
        WebsiteRedirectLocation='HTTPS://Allowed.Example:8443/a"b<c>%zz%41?q=<x>&r=1#top',
    )
    url = serve(make_middleware(redirect_hosts=ALLOWED))
    answer = get(url, "/docs/away.html")
    assert answer.status_code == 301
    assert answer.headers["Location"] == (
        "https://allowed.example:8443/a%22b%3Cc%3E%25zz%41?q=%3Cx%3E&r=1#top"
    )


# --- redirects_file --------------------------------------------------------------

# Old path -> (target the file names, status, Location or None).
FILE_CASES = {
    "/evil.html": ("https://evil.example/", 404, None),
    "/script.html": ("javascript:alert(document.cookie)", 404, None),
    "/data.html": ("data:text/html,<script>alert(1)</script>", 404, None),
    "/split.html": (f"https://{ALLOWED}/\r\nSet-Cookie: session=stolen", 404, None),
    "/split-path.html": ("/guide/\r\nSet-Cookie: session=stolen", 404, None),
    "/wide.html": (f"https://{ALLOWED}/caf\u00e9", 404, None),
    "/space.html": (f"https://{ALLOWED}/a b", 404, None),
    "/backslash.html": (f"https://evil.example\\@{ALLOWED}/", 404, None),
    "/user.html": (f"https://evil.example@{ALLOWED}/", 404, None),
    "/up.html": ("../../logout", 404, None),
    "/dot.html": ("/guide/./intro.html", 404, None),
    "/hostless.html": ("//evil.example/", 404, None),
    "/nul.html": ("/guide/\x00intro.html", 404, None),
    "/c1.html": ("/guide/\x85intro.html", 404, None),
    "/surrogate.html": ("/guide/\ud800.html", 404, None),
    "/long.html": ("https://" + "evil" * 2000 + "/" + "a" * 9000, 404, None),
    "/long-scheme.html": ("x" * 9000 + ":", 404, None),
    "/allowed.html": (f"https://{ALLOWED}/new/?from=old", 301, f"https://{ALLOWED}/new/?from=old"),
    "/local.html": ("/guide/intro.html", 301, "/docs/guide/intro.html"),
    "/relative.html": ("guide/", 301, "/docs/guide/"),
    "/wide-local.html": ("/caf\u00e9/menu.html", 301, "/docs/caf%C3%A9/menu.html"),
}


def test_a_redirects_file_target_is_checked_as_bucket_data(
    make_middleware, serve, s3_client, bucket, caplog
):
    moved = {old: target for old, (target, _, _) in FILE_CASES.items()}
    s3_client.put_object(Bucket=bucket, Key="redirects.json", Body=json.dumps(moved))
    url = serve(make_middleware(redirects_file="redirects.json", redirect_hosts=ALLOWED))
    with caplog.at_level(logging.WARNING, logger="s3wsgi"):
        answers = {old: get(url, "/docs" + old) for old in FILE_CASES}
    for old, (_, status, location) in FILE_CASES.items():
        answer = answers[old]
        assert (old, answer.status_code) == (old, status)
        assert answer.headers.get("Location") == location
        assert "session=stolen" not in answer.headers.get("Set-Cookie", "")
    logged = refusals(caplog)
    assert len(logged) == sum(status == 404 for _, status, _ in FILE_CASES.values())
    assert all(m.startswith("redirects.json: redirect to ") for m in logged)
    assert all(len(m) < 500 for m in logged)  # one line, however long the target
    # Control characters are escaped in the log: one line per refusal.
    assert not any(c in m for m in logged for c in "\r\n\x00\x85")
    assert any("\\r\\nSet-Cookie" in m for m in logged)
    # The followed local redirects serve their pages.
    assert (
        get(url, answers["/local.html"].headers["Location"]).text == "<html><h1>Intro</h1></html>"
    )


def test_a_bad_target_is_refused_without_falling_back_to_the_old_page(
    make_middleware, serve, s3_client, bucket
):
    s3_client.put_object(
        Bucket=bucket, Key="redirects.json", Body=json.dumps({"/digits.txt": "../../logout"})
    )
    url = serve(make_middleware(redirects_file="redirects.json"))
    assert get(url, "/docs/digits.txt").status_code == 404


def test_a_redirects_file_nested_too_deep_is_no_file(make_middleware, serve, s3_client, bucket):
    body = b"[" * 100_000 + b"]" * 100_000
    s3_client.put_object(Bucket=bucket, Key="redirects.json", Body=body)
    url = serve(make_middleware(redirects_file="redirects.json"))
    assert get(url, "/docs/digits.txt").content == b"0123456789"


# --- the operator's own redirects ------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["/new.html\r\nSet-Cookie: a=b", "https://example.org/\nX: y", "/a\x00b", "/a\x85b"],
)
def test_a_configured_target_with_a_control_character_is_refused_when_made(s3_endpoint, target):
    with pytest.raises(ValueError, match=r"redirects: '/old\.html'.*control character"):
        S3Middleware(
            host_app, bucket="b", endpoint_url=s3_endpoint, redirects={"/old.html": target}
        )


def test_a_configured_absolute_target_must_be_ascii(s3_endpoint):
    with pytest.raises(ValueError, match=r"redirects: '/old\.html'.*must be ASCII"):
        S3Middleware(
            host_app,
            bucket="b",
            endpoint_url=s3_endpoint,
            redirects={"/old.html": "https://example.org/caf\u00e9"},
        )


def test_a_configured_target_stays_trusted(make_middleware, serve):
    url = serve(
        make_middleware(redirects={"/away.html": "https://anywhere.example/x?y", "/up.html": "a/"})
    )
    assert get(url, "/docs/away.html").headers["Location"] == "https://anywhere.example/x?y"
    assert get(url, "/docs/up.html").headers["Location"] == "/docs/a/"


# --- any target at all ------------------------------------------------------------

# Pieces a hostile target is made of: schemes, separators, hosts in their
# disguises, userinfo, dot segments, encodings, whitespace and controls.
PIECES = [
    "http",
    "https",
    "HTTPS",
    "javascript",
    "data",
    ":",
    "://",
    ":/",
    "//",
    "/",
    "\\",
    "/\\",
    ALLOWED,
    ALLOWED.upper(),
    "evil.example",
    f"{ALLOWED}.evil.example",
    "@",
    "user:pw@",
    ":443",
    ":99999",
    ":x",
    "[::1]",
    ".",
    "..",
    "%2e",
    "%2f",
    "%5c",
    "%",
    "?",
    "#",
    "&",
    "\r\n",
    "\t",
    " ",
    "\x00",
    "\x85",
    "\u2028",
    "\u00e9",
    "\ud800",
    "\uff0e",
    "guide",
    "intro.html",
]
targets = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=8).map("".join),
    st.text(max_size=40),
)


def assert_safe(location: str | None, status: int) -> None:
    """A 404, or a 301 to a path under /docs/ or over http(s) to ALLOWED."""
    if status == 404:
        assert location is None
        return
    assert status == 301 and location is not None
    assert location.isascii() and location.isprintable()
    assert not any(c in location for c in " \\")
    resolved = urlsplit(urljoin("http://this.example/docs/old.html", location))
    if location.startswith("/"):
        assert not location.startswith("//")
        assert not {".", ".."} & set(location.split("?")[0].split("/"))
        assert "%2e" not in location.lower()  # a "." to a browser
        assert resolved.netloc == "this.example"
        assert resolved.path.startswith("/docs/")
    else:
        assert resolved.scheme in ("http", "https")
        assert resolved.hostname == ALLOWED
        assert resolved.netloc in (ALLOWED, f"{ALLOWED}:{resolved.port}")


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(target=targets)
def test_any_target_is_a_place_inside_the_mount_an_allowed_host_or_refused(target):
    try:
        place = checked(target, frozenset({ALLOWED}))
    except BadTarget:
        return
    if isinstance(place, Local):
        assert_safe(redirect_location("/docs/" + text_to_wsgi(place.path)), 301)
    else:
        assert isinstance(place, Remote)
        assert_safe(place.url, 301)


@pytest.fixture
def file_url(make_middleware, serve):
    """A mount reading redirects.json again (a changed ETag) per request."""
    return serve(
        make_middleware(redirects_file="redirects.json", redirect_hosts=ALLOWED, site_files_ttl=0)
    )


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(target=targets)
def test_any_target_in_a_redirects_file_is_answered_safely(file_url, s3_client, bucket, target):
    body = json.dumps({"/old.html": target})
    s3_client.put_object(Bucket=bucket, Key="redirects.json", Body=body)
    answer = get(file_url, "/docs/old.html")
    assert answer.status_code in (301, 404), (target, answer.status_code)
    assert_safe(answer.headers.get("Location"), answer.status_code)

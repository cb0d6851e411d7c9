"""What a bucket writer or a client cannot make the middleware do (the
threat model of docs/security.rst), over real HTTP against moto's server,
both stores: hidden names stay hidden, ``?after=`` is checked like a path,
one mount's keys are never read under another's rules, and the hooks'
and site files' faults stay small."""

from __future__ import annotations

import json
import logging

import pytest
import requests
from sample_site import host_app

from s3wsgi import S3Middleware
from s3wsgi.site import MANIFEST_NAME

NAVIGATE = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}


def get(url: str, path: str, **headers: str) -> requests.Response:
    return requests.get(url + path, headers=headers, allow_redirects=False, timeout=10)


def put(s3_client, bucket: str, key: str, body: bytes = b"x", **extra) -> None:
    s3_client.put_object(Bucket=bucket, Key=key, Body=body, **extra)


# --- hidden names: never served, never listed, from anywhere ---------------------


def test_a_hidden_folder_is_neither_listed_nor_served_from_inside(
    make_middleware, serve, s3_client, bucket
):
    put(s3_client, bucket, "files/.git/config", b"[remote]\nurl = secret")
    put(s3_client, bucket, "files/.git/HEAD")
    put(s3_client, bucket, "files/notes.txt")
    url = serve(make_middleware(listing=True))
    listing = get(url, "/docs/files/", Accept="application/json")
    assert listing.status_code == 200
    assert listing.json()["folders"] == []
    assert [item["name"] for item in listing.json()["objects"]] == ["notes.txt"]
    for path in ("/docs/files/.git/", "/docs/files/.git/config", "/docs/files/.git"):
        answer = get(url, path)
        assert answer.status_code == 404, path
        assert b"secret" not in answer.content


def test_the_manifest_and_the_redirects_file_are_not_served(
    make_middleware, serve, s3_client, bucket
):
    manifest = {"format": "s3wsgi-manifest/1", "files": {"secret-plan.html": {}}}
    put(s3_client, bucket, MANIFEST_NAME, json.dumps(manifest).encode())
    put(s3_client, bucket, "v2/" + MANIFEST_NAME, json.dumps(manifest).encode())
    put(s3_client, bucket, "_redirects.json", b'{"/old": "/new"}')
    url = serve(make_middleware(redirects_file="_redirects.json"))
    for path in ("/docs/" + MANIFEST_NAME, "/docs/v2/" + MANIFEST_NAME, "/docs/_redirects.json"):
        answer = get(url, path)
        assert answer.status_code == 404, path
        assert b"secret-plan" not in answer.content and b"/new" not in answer.content
    # The redirects file still does its job.
    assert get(url, "/docs/old").headers["Location"] == "/docs/new"


def test_well_known_is_served_and_hidden_names_can_be_opted_in(
    make_middleware, serve, s3_client, bucket
):
    put(s3_client, bucket, ".well-known/security.txt", b"Contact: mailto:security@example.com")
    put(s3_client, bucket, ".nojekyll", b"dot")
    url = serve(make_middleware())
    assert get(url, "/docs/.well-known/security.txt").status_code == 200
    assert get(url, "/docs/.nojekyll").status_code == 404
    opted = serve(make_middleware(hidden=""))
    assert get(opted, "/docs/.nojekyll").content == b"dot"


def test_a_hidden_name_never_reaches_s3(bucket, serve):
    """Refused before the store is asked: S3 here is a closed port, which
    any S3 request would turn into a 502; fallthrough hands it on as any
    missing key."""
    dead = {"bucket": bucket, "endpoint_url": "http://127.0.0.1:9", "store": "boto3"}
    url = serve(S3Middleware(host_app, **dead))
    assert get(url, "/docs/.env").status_code == 404
    assert get(url, "/docs/sub/.git/config").status_code == 404
    through = serve(S3Middleware(host_app, fallthrough=True, **dead))
    assert get(through, "/docs/.env").content == b"host app: GET /docs/.env"


# --- ?after= goes to S3 as a key: checked as a path is ------------------------------


@pytest.mark.parametrize(
    "query",
    ["after=a%00b", "after=%ff%fe", "after=" + "x" * 1100, "after=a%1bb", "after=a%5cb"],
    ids=["nul", "not-utf8", "too-long", "escape", "backslash"],
)
def test_a_bad_after_is_a_400_and_never_reaches_s3(
    make_middleware, serve, s3_client, bucket, query, caplog
):
    put(s3_client, bucket, "files/a.txt")
    url = serve(make_middleware(listing=True))
    with caplog.at_level(logging.WARNING, logger="s3wsgi"):
        answer = get(url, "/docs/files/?" + query)
    assert answer.status_code == 400
    # Ours only: a busy server's own warnings (waitress's queue) are not the point.
    assert not [
        r for r in caplog.records if r.name.startswith("s3wsgi") and r.levelno >= logging.WARNING
    ]


def test_a_missing_folder_is_404_whatever_the_query(make_middleware, serve, s3_client, bucket):
    put(s3_client, bucket, "files/a.txt")
    put(s3_client, bucket, "files/b.txt")
    url = serve(make_middleware(listing=True))
    assert get(url, "/docs/nothing-here/?after=a").status_code == 404
    # Past the end of a folder that exists: an empty page, not a 404.
    past = get(url, "/docs/files/?after=zzz", Accept="application/json")
    assert past.status_code == 200 and past.json()["objects"] == []


def test_after_is_decoded_as_a_form_value(make_middleware, serve, s3_client, bucket):
    for name in ("a b.txt", "a+b.txt", "c.txt"):
        put(s3_client, bucket, "files/" + name)
    url = serve(make_middleware(listing=True, listing_page_size=1))
    first = get(url, "/docs/files/", Accept="application/json").json()
    assert [item["name"] for item in first["objects"]] == ["a b.txt"]
    # The page link is followed as a browser would, and "+" is a space.
    second = get(url, "/docs/files/" + first["next"], Accept="application/json").json()
    assert [item["name"] for item in second["objects"]] == ["a+b.txt"]
    spaced = get(url, "/docs/files/?after=a+b.txt", Accept="application/json").json()
    assert [item["name"] for item in spaced["objects"]] == ["a+b.txt"]


# --- one mount's keys are read under its own rules only -----------------------------


def deny(environ) -> bool:
    return False


@pytest.fixture
def two_mounts(s3_client, bucket, s3_endpoint, store_kind, serve):
    """``/docs`` (public, versioned) and ``/docs/internal`` (behind
    authorize) on one bucket: the internal mount's keys are ``internal/``."""
    put(s3_client, bucket, "internal/secret.html", b"<p>internal only</p>")
    put(s3_client, bucket, "v1/index.html", b"<p>v1</p>")
    document = {"versions": ["v1", "internal"], "aliases": {"i": "internal"}, "default": "v1"}
    put(s3_client, bucket, "versions.json", json.dumps(document).encode())
    app = S3Middleware(
        lambda environ, start_response: [],
        mounts={
            "/docs": {"versions": True},
            "/docs/internal": {"key_prefix": "internal", "authorize": deny},
            "/everything": {},
        },
        bucket=bucket,
        endpoint_url=s3_endpoint,
        store=store_kind,
    )
    return serve(app)


def test_a_version_alias_cannot_reach_a_protected_mounts_keys(two_mounts):
    assert get(two_mounts, "/docs/internal/secret.html").status_code == 403
    for path in ("/docs/i/secret.html", "/docs/internal/secret.html"):
        answer = get(two_mounts, path.replace("/docs/internal/", "/docs/i/"))
        assert answer.status_code == 404
        assert b"internal only" not in answer.content
    assert get(two_mounts, "/docs/v1/").content == b"<p>v1</p>"


def test_a_wider_key_prefix_cannot_reach_a_protected_mounts_keys(two_mounts):
    answer = get(two_mounts, "/everything/internal/secret.html")
    assert answer.status_code == 404
    assert b"internal only" not in answer.content
    assert get(two_mounts, "/everything/v1/index.html").status_code == 200


# --- the hooks and site files fail small --------------------------------------------


def test_a_missing_spa_fallback_page_is_a_404_not_a_502(make_middleware, serve, caplog):
    url = serve(make_middleware(spa_fallback="no-such-app.html"))
    with caplog.at_level(logging.WARNING, logger="s3wsgi"):
        answer = get(url, "/docs/users/42", **NAVIGATE)
    assert answer.status_code == 404
    assert "Traceback" not in caplog.text
    assert "spa_fallback 'no-such-app.html' is missing" in caplog.text


def test_a_website_redirect_on_the_spa_page_is_followed_not_a_502(
    make_middleware, serve, s3_client, bucket, caplog
):
    put(s3_client, bucket, "shell.html", b"", WebsiteRedirectLocation="/index.html")
    url = serve(make_middleware(spa_fallback="shell.html"))
    with caplog.at_level(logging.WARNING, logger="s3wsgi"):
        answer = get(url, "/docs/users/42", **NAVIGATE)
    # As for any object of the bucket's: a redirect checked as bucket data.
    assert answer.status_code == 301
    assert answer.headers["Location"] == "/docs/index.html"
    assert answer.headers["Vary"] == "Sec-Fetch-Mode, Accept"  # a navigation's answer
    assert "Traceback" not in caplog.text


def test_an_exception_in_authorize_is_our_own_500_and_leaves_no_state(
    make_middleware, serve, caplog
):
    from s3wsgi.stores import context

    seen = []

    def app(environ, start_response):
        seen.append(context.request())  # what S3 calls made now would count for
        return host_app(environ, start_response)

    def broken(environ) -> bool:
        raise RuntimeError("the session store is down")

    url = serve(make_middleware(app, authorize=broken), threads=1)
    with caplog.at_level(logging.ERROR, logger="s3wsgi"):
        answer = get(url, "/docs/")
    assert answer.status_code == 500
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert b"session store" not in answer.content
    assert "authorize raised" in caplog.text
    # The same server thread then runs the app with no claimed request set.
    assert get(url, "/elsewhere").content == b"host app: GET /elsewhere"
    assert seen == [None]


# --- the operator's environment, read as serve reads it -----------------------------


def test_the_middleware_reads_s3wsgi_variables_and_keywords_win(
    bucket, s3_endpoint, serve, monkeypatch, caplog
):
    monkeypatch.setenv("S3WSGI_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("S3WSGI_PORT", "8999")  # the server's, not an option
    with caplog.at_level(logging.INFO, logger="s3wsgi"):
        url = serve(S3Middleware(host_app, bucket=bucket, store="boto3"))
    assert "options from the environment: S3WSGI_ENDPOINT_URL" in caplog.text
    assert get(url, "/docs/").status_code == 200
    monkeypatch.setenv("S3WSGI_ENDPOINT_URL", "http://127.0.0.1:9")
    kept = serve(S3Middleware(host_app, bucket=bucket, store="boto3", endpoint_url=s3_endpoint))
    assert get(kept, "/docs/").status_code == 200
    monkeypatch.setenv("S3WSGI_READ_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="S3WSGI_READ_TIMEOUT"):
        S3Middleware(host_app, bucket=bucket)

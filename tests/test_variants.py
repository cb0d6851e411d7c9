"""Serving what ``s3wsgi publish`` made: Brotli and gzip variants chosen by
Accept-Encoding, ``Vary: Accept-Encoding`` on every answer for a key that
has them, one S3 request per request, and immutable content-hashed names.
Over real HTTP against moto's server, both stores."""

from __future__ import annotations

import gzip
import http.client
from urllib.parse import urlsplit

import brotli
import pytest

from s3wsgi.publish import publish

STYLE = ("h1 { color: teal; margin: 0 auto; }\n" * 200).encode()
SCRIPT = ("console.log('the docs');\n" * 200).encode()
PAGE = ("<p>A page of the guide.</p>\n" * 100).encode()


def fetch(url: str, path: str, method: str = "GET", **headers: str):
    """(status, headers, raw body): no decoding, as a client that asked for
    a coding must do itself."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(
            method, path, headers={k.replace("_", "-"): v for k, v in headers.items()}
        )
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.fixture
def site(tmp_path, s3_client, bucket):
    folder = tmp_path / "html"
    (folder / "_static").mkdir(parents=True)
    (folder / "_static" / "style.css").write_bytes(STYLE)
    (folder / "_static" / "app.3f9a1c2e.js").write_bytes(SCRIPT)
    (folder / "guide.html").write_bytes(PAGE)
    (folder / "tiny.txt").write_bytes(b"too small to compress")
    publish(folder, bucket=bucket, key_prefix="site", client=s3_client)
    return folder


@pytest.fixture
def url(make_middleware, serve, site, proxy):
    return serve(make_middleware(key_prefix="site", endpoint_url=proxy.url))


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip, deflate, br, zstd", "br"),
        ("gzip, deflate", "gzip"),
        ("br;q=0, gzip", "gzip"),
        ("*", "br"),
        ("identity", None),
        ("", None),
        (None, None),
        ("gzip;q=0.5, identity;q=0.9", None),
        ("deflate", None),
    ],
)
def test_the_variant_follows_accept_encoding(url, accept, coding):
    headers = {} if accept is None else {"Accept-Encoding": accept}
    status, got, body = fetch(url, "/docs/_static/style.css", **headers)
    assert status == 200
    assert got.get("content-encoding") == coding
    assert got["vary"] == "Accept-Encoding"
    assert got["content-type"] == "text/css; charset=utf-8"
    assert got["content-length"] == str(len(body))
    decoded = {"br": brotli.decompress, "gzip": gzip.decompress, None: bytes}[coding](body)
    assert decoded == STYLE
    if coding:
        assert len(body) < len(STYLE) * 0.35


def test_each_encoding_has_its_own_etag_and_revalidates_in_one_request(url, proxy):
    tags = {}
    for accept in ("br", "gzip", "identity"):
        tags[accept] = fetch(url, "/docs/guide.html", Accept_Encoding=accept)[1]["etag"]
    assert len(set(tags.values())) == 3
    before = proxy.accepted
    status, got, body = fetch(
        url, "/docs/guide.html", Accept_Encoding="br", If_None_Match=tags["br"]
    )
    assert (status, body) == (304, b"")
    assert got["vary"] == "Accept-Encoding" and got["etag"] == tags["br"]
    assert proxy.accepted - before == 1  # one S3 request, the manifest already known
    # The identity tag does not match what a br-accepting client gets now.
    status, got, _ = fetch(
        url, "/docs/guide.html", Accept_Encoding="br", If_None_Match=tags["identity"]
    )
    assert status == 200 and got["content-encoding"] == "br"


def test_vary_is_on_every_answer_for_a_key_with_variants(url):
    path = "/docs/_static/style.css"
    for method, headers, status in [
        ("HEAD", {"Accept-Encoding": "br"}, 200),
        ("GET", {"Accept-Encoding": "br", "Range": "bytes=0-9"}, 206),
        ("GET", {"Range": "bytes=0-9"}, 206),
        ("GET", {"Accept-Encoding": "gzip", "If-Match": '"nope"'}, 412),
        ("GET", {"Accept-Encoding": "br", "Range": "bytes=999999-"}, 416),
    ]:
        got_status, got, body = fetch(
            url, path, method, **{k.replace("-", "_"): v for k, v in headers.items()}
        )
        assert got_status == status, (method, headers)
        assert got["vary"] == "Accept-Encoding", (method, headers)
    # A range applies to the bytes sent: the variant's.
    _, whole, br = fetch(url, path, Accept_Encoding="br")
    status, got, part = fetch(url, path, Accept_Encoding="br", Range="bytes=0-9")
    assert part == br[:10]
    assert got["content-range"] == f"bytes 0-9/{len(br)}"


def test_keys_without_variants_are_served_as_stored_without_vary(url, s3_client, bucket):
    status, got, body = fetch(url, "/docs/tiny.txt", Accept_Encoding="br, gzip")
    assert (status, body) == (200, b"too small to compress")
    assert "vary" not in got and "content-encoding" not in got
    # An object another tool uploaded, already compressed: sent as stored.
    s3_client.put_object(
        Bucket=bucket,
        Key="site/data.json",
        Body=gzip.compress(b'{"a": 1}'),
        ContentType="application/json",
        ContentEncoding="gzip",
    )
    status, got, body = fetch(url, "/docs/data.json", Accept_Encoding="br")
    assert got["content-encoding"] == "gzip"
    assert gzip.decompress(body) == b'{"a": 1}'


def test_a_missing_variant_falls_back_to_the_object(url, s3_client, bucket):
    s3_client.delete_object(Bucket=bucket, Key="site/_static/style.css.br")
    status, got, body = fetch(url, "/docs/_static/style.css", Accept_Encoding="br")
    assert (status, body) == (200, STYLE)
    assert got["vary"] == "Accept-Encoding" and "content-encoding" not in got


def test_a_new_publish_is_seen_within_site_files_ttl(
    make_middleware, serve, site, s3_client, bucket, clock
):
    url = serve(make_middleware(key_prefix="site", site_files_ttl=0.5, clock=clock))
    assert "content-encoding" not in fetch(url, "/docs/notes.txt", Accept_Encoding="br")[1]
    (site / "notes.txt").write_bytes(b"notes worth compressing\n" * 200)
    publish(site, bucket=bucket, key_prefix="site", client=s3_client)
    assert "content-encoding" not in fetch(url, "/docs/notes.txt", Accept_Encoding="br")[1]
    clock.advance(0.6)
    assert fetch(url, "/docs/notes.txt", Accept_Encoding="br")[1]["content-encoding"] == "br"


def test_variants_can_be_turned_off(make_middleware, serve, site):
    url = serve(make_middleware(key_prefix="site", variants=False))
    status, got, body = fetch(url, "/docs/_static/style.css", Accept_Encoding="br")
    assert (status, body) == (200, STYLE)
    assert "vary" not in got


def test_hashed_names_are_immutable_from_other_tools_when_asked(
    make_middleware, serve, s3_client, bucket
):
    for key in (
        "assets/app.3f9a1c2e.js",
        "assets/index-BfYx3sQ1.js",
        "assets/app.js",
        "a.3f9a1c2e.html",
    ):
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3_client.put_object(
        Bucket=bucket, Key="assets/own.3f9a1c2e.js", Body=b"x", CacheControl="no-store"
    )
    url = serve(make_middleware(cache_control="max-age=60", immutable_hashed=True))
    immutable = "public, max-age=31536000, immutable"
    assert fetch(url, "/docs/assets/app.3f9a1c2e.js")[1]["cache-control"] == immutable
    assert fetch(url, "/docs/assets/index-BfYx3sQ1.js")[1]["cache-control"] == immutable
    assert fetch(url, "/docs/assets/app.js")[1]["cache-control"] == "max-age=60"
    # A page is revalidated whatever its name; an object's own header wins.
    assert fetch(url, "/docs/a.3f9a1c2e.html")[1]["cache-control"] == "max-age=60"
    assert fetch(url, "/docs/assets/own.3f9a1c2e.js")[1]["cache-control"] == "no-store"
    # Also on a 304.
    etag = fetch(url, "/docs/assets/app.3f9a1c2e.js")[1]["etag"]
    status, got, _ = fetch(url, "/docs/assets/app.3f9a1c2e.js", If_None_Match=etag)
    assert status == 304 and got["cache-control"] == immutable
    off = serve(make_middleware())
    assert "cache-control" not in fetch(off, "/docs/assets/app.3f9a1c2e.js")[1]


def test_names_that_merely_look_hashed_are_not_immutable_by_default(
    make_middleware, serve, s3_client, bucket
):
    """A UUID, a date or a user id in a name is no content hash: a file
    replaced under such a name must reach browsers (no year-long immutable)."""
    names = (
        "uploads/550e8400-e29b-41d4-a716-446655440000.png",
        "reports/report-20240115.pdf",
        "avatars/user-12345678.jpg",
    )
    for key in names:
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"x")
    url = serve(make_middleware(cache_control="max-age=60"))
    for key in names:
        assert fetch(url, "/docs/" + key)[1]["cache-control"] == "max-age=60", key


def test_a_variant_asked_for_by_its_own_name_is_not_sent_encoded(url):
    """``style.css.br`` sent as stored would be Brotli to a client that never
    asked for it: a variant is reached only through its file."""
    for path in ("/docs/_static/style.css.br", "/docs/_static/style.css.gz"):
        status, got, _ = fetch(url, path, Accept_Encoding="identity")
        assert status == 404, path
        assert "content-encoding" not in got
    assert (
        fetch(url, "/docs/_static/style.css", Accept_Encoding="br")[1]["content-encoding"] == "br"
    )

"""``s3wsgi publish`` against moto's S3 server over HTTP: headers by rule,
precompressed variants, the manifest written last, only changes sent, an
interrupted publish resumed, versions switched in one write, and the
command line run as a real process."""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import os
import pty
import random
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
import uuid
from collections import Counter
from urllib.parse import urlsplit

import brotli
import pytest
import requests
from faultproxy import FaultProxy

from s3wsgi import S3App
from s3wsgi.publish import HASHED_PATTERN, PublishError, publish
from s3wsgi.publish import compress as compression
from s3wsgi.publish.remote import make_client

MANIFEST = ".s3wsgi-manifest.json"
IMMUTABLE = "public, max-age=31536000, immutable"
DEFAULT = "public, max-age=300"
WRITES = {"PutObject", "CreateMultipartUpload", "UploadPart", "DeleteObjects", "DeleteObject"}


VOCABULARY = ("the", "queue", "holds", "each", "job", "until", "a", "worker", "takes", "it")


def prose(words: int, seed: int = 0) -> bytes:
    """Text that compresses as a page does."""
    pick = random.Random(seed).choice
    return " ".join(pick(VOCABULARY) for _ in range(words)).encode() + b"\n"


def page(title: str, words: int = 400) -> bytes:
    return b"<!DOCTYPE html><title>" + title.encode() + b"</title><p>" + prose(words, len(title))


# A small built site: entry points, hashed assets (webpack's and Vite's
# names), plain assets, and files that gain nothing from compression.
SITE = {
    "index.html": page("Home"),
    "guide/intro.htm": page("Intro"),
    "guide/café.html": page("Café"),
    "assets/app.3f9a1c2e.js": b"export const run = () => 1;\n" + prose(300, 1),
    "assets/main.5d41402a.css": b"body { margin: 0 }\n" * 200,
    "assets/index-BfYx3sQ1.js": b"import './main.js';\n" * 150,
    "_static/docs.css": b"h1 { color: teal }\n" * 100,
    "_static/tiny.js": b"console.log(1);\n",
    "_static/logo.svg": b'<svg xmlns="http://www.w3.org/2000/svg">' + b"<g/>" * 400 + b"</svg>",
    "_static/font.ttf": b"\x00\x01\x00\x00" + b"glyf" * 600,
    "_static/font.woff2": random.Random(2).randbytes(3000),
    "img/photo.png": b"\x89PNG\r\n\x1a\n" + random.Random(3).randbytes(5000),
    "data/noise.txt": random.Random(4).randbytes(4000),
    "data/search.json": json.dumps({"terms": [f"term{i}" for i in range(300)]}).encode(),
    "robots.txt": b"User-agent: *\nAllow: /\n",
    "sitemap.xml": b"<urlset>" + b"<url><loc>x</loc></url>" * 80 + b"</urlset>",
    "sw.js": b"self.addEventListener('fetch', () => {});\n" * 40,
    "manifest.webmanifest": b'{"name": "docs"}',
}


def write_site(root, files: dict[str, bytes]):
    for path, body in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    return root


def remove(root, *paths: str) -> None:
    for path in paths:
        (root / path).unlink()


class Recorder:
    """A boto3 client's S3 calls (operation and key, in order) and HTTP
    requests, counted through botocore's events."""

    def __init__(self, client):
        self.calls: list[tuple[str, str | None]] = []
        self.http_requests = 0
        self._lock = threading.Lock()
        client.meta.events.register("before-parameter-build.s3", self._call)
        client.meta.events.register("before-send.s3", self._send)

    def _call(self, params, event_name, **kwargs):
        with self._lock:
            self.calls.append((event_name.rsplit(".", 1)[-1], params.get("Key")))

    def _send(self, **kwargs):
        with self._lock:
            self.http_requests += 1

    def operations(self) -> Counter:
        return Counter(operation for operation, _ in self.calls)

    def keys(self, operation: str) -> list[str]:
        return [key for op, key in self.calls if op == operation]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()
            self.http_requests = 0


@pytest.fixture
def recorder(client):
    return Recorder(client)


@pytest.fixture
def site(tmp_path):
    return write_site(tmp_path / "html", SITE)


def stored_keys(s3_client, bucket: str) -> dict[str, str]:
    """key -> ETag of everything in the bucket."""
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {item["Key"]: item["ETag"] for page in pages for item in page.get("Contents", ())}


def read_manifest(s3_client, bucket: str, key: str = "docs/" + MANIFEST) -> dict:
    return json.loads(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())


# -- headers ------------------------------------------------------------------


EXPECTED_HEADERS = {
    "index.html": ("text/html; charset=utf-8", "no-cache"),
    "guide/intro.htm": ("text/html; charset=utf-8", "no-cache"),
    "guide/café.html": ("text/html; charset=utf-8", "no-cache"),
    "assets/app.3f9a1c2e.js": ("text/javascript; charset=utf-8", IMMUTABLE),
    "assets/main.5d41402a.css": ("text/css; charset=utf-8", IMMUTABLE),
    "assets/index-BfYx3sQ1.js": ("text/javascript; charset=utf-8", IMMUTABLE),
    "_static/docs.css": ("text/css; charset=utf-8", DEFAULT),
    "_static/tiny.js": ("text/javascript; charset=utf-8", DEFAULT),
    "_static/logo.svg": ("image/svg+xml; charset=utf-8", DEFAULT),
    "_static/font.ttf": ("font/ttf", DEFAULT),
    "_static/font.woff2": ("font/woff2", DEFAULT),
    "img/photo.png": ("image/png", DEFAULT),
    "data/noise.txt": ("text/plain; charset=utf-8", DEFAULT),
    "data/search.json": ("application/json; charset=utf-8", DEFAULT),
    "robots.txt": ("text/plain; charset=utf-8", "no-cache"),
    "sitemap.xml": ("text/xml; charset=utf-8", "no-cache"),
    "sw.js": ("text/javascript; charset=utf-8", "no-cache"),
    "manifest.webmanifest": ("application/manifest+json; charset=utf-8", "no-cache"),
}


def test_content_type_and_cache_control_follow_the_rules(site, client, s3_client, empty_bucket):
    publish(site, bucket=empty_bucket, key_prefix="docs", client=client)
    for path, (content_type, cache_control) in EXPECTED_HEADERS.items():
        head = s3_client.head_object(Bucket=empty_bucket, Key=f"docs/{path}")
        assert (head["ContentType"], head.get("CacheControl")) == (content_type, cache_control), (
            path
        )


def test_cache_control_and_hashed_pattern_are_configurable(site, client, s3_client, empty_bucket):
    publish(
        site,
        bucket=empty_bucket,
        client=client,
        cache_control="public, max-age=60",
        hashed_pattern=r"^assets/",
    )

    def cache_control(key):
        return s3_client.head_object(Bucket=empty_bucket, Key=key)["CacheControl"]

    assert cache_control("_static/docs.css") == "public, max-age=60"
    assert cache_control("assets/index-BfYx3sQ1.js") == IMMUTABLE
    assert cache_control("index.html") == "no-cache"


@pytest.mark.parametrize(
    ("path", "hashed"),
    [
        ("app.3f9a1c2e.js", True),
        ("static/js/main.5d41402a.chunk.js", True),
        ("assets/index-BfYx3sQ1.js", True),
        ("assets/index-Bf-x3sQ1.js", True),
        ("assets/index-BfYx3sQ1.js.map", True),
        ("fonts/inter-0123456789abcdef.woff2", True),
        ("_static/docs.css", False),
        ("js/my-settings.js", False),
        ("js/app-myWidget.js", False),
        ("jquery-3.6.0.min.js", False),
        ("a.3f9a1c2.js", False),  # 7 hex digits: too short to be a hash
        ("_downloads/8f14e45fceea167a5a36dedd4bea2543/report.pdf", False),  # a folder
    ],
)
def test_the_default_hashed_pattern(path, hashed):
    assert (re.search(HASHED_PATTERN, path) is not None) == hashed


# -- variants -----------------------------------------------------------------


def test_variants_are_made_for_compressible_files_worth_it(site, client, s3_client, empty_bucket):
    publish(site, bucket=empty_bucket, key_prefix="docs", client=client)
    keys = stored_keys(s3_client, empty_bucket)
    with_variants = {
        key[len("docs/") : -3] for key in keys if key.endswith(".br") or key.endswith(".gz")
    }
    # Small files, already compressed types, and noise that compresses to
    # nothing get none.
    assert with_variants == {
        "index.html",
        "guide/intro.htm",
        "guide/café.html",
        "assets/app.3f9a1c2e.js",
        "assets/main.5d41402a.css",
        "assets/index-BfYx3sQ1.js",
        "_static/docs.css",
        "_static/logo.svg",
        "_static/font.ttf",
        "data/search.json",
        "sitemap.xml",
        "sw.js",
    }
    for path in with_variants:
        original = s3_client.get_object(Bucket=empty_bucket, Key=f"docs/{path}")
        body = original["Body"].read()
        for suffix, encoding, decode in (
            (".br", "br", brotli.decompress),
            (".gz", "gzip", gzip.decompress),
        ):
            variant = s3_client.get_object(Bucket=empty_bucket, Key=f"docs/{path}{suffix}")
            data = variant["Body"].read()
            assert decode(data) == body
            assert len(data) <= 0.95 * len(body)
            assert variant["ContentEncoding"] == encoding
            assert variant["ContentType"] == original["ContentType"]
            assert variant["CacheControl"] == original["CacheControl"]


def test_a_variant_is_kept_only_when_it_saves_five_percent():
    noise = random.Random(5).randbytes(20_000)
    assert compression.variants(noise + bytes(400)) == {}  # about 2 % smaller
    kept = compression.variants(noise + bytes(2_000))  # about 9 % smaller
    assert set(kept) == {"br", "gzip"}
    assert compression.variants(b"a" * 512) == {}  # 512 bytes: too small to bother


def test_gzip_variants_are_reproducible(site, client, s3_client, empty_bucket):
    publish(site, bucket=empty_bucket, key_prefix="one", client=client)
    publish(site, bucket=empty_bucket, key_prefix="two", client=client)
    keys = stored_keys(s3_client, empty_bucket)
    assert keys["one/index.html.gz"] == keys["two/index.html.gz"]
    assert keys["one/index.html.br"] == keys["two/index.html.br"]
    data = s3_client.get_object(Bucket=empty_bucket, Key="one/index.html.gz")["Body"].read()
    assert data[4:8] == b"\0\0\0\0"  # RFC 1952 §2.3: MTIME 0, no time stamp


# -- metadata and manifest ----------------------------------------------------


def test_every_object_carries_its_sha256(site, client, s3_client, empty_bucket):
    publish(site, bucket=empty_bucket, key_prefix="docs", client=client)
    for key in stored_keys(s3_client, empty_bucket):
        answer = s3_client.get_object(Bucket=empty_bucket, Key=key)
        body = answer["Body"].read()
        assert answer["Metadata"] == {"s3wsgi-sha256": hashlib.sha256(body).hexdigest()}, key


def test_the_manifest_describes_the_site_in_its_format(site, client, s3_client, empty_bucket):
    publish(site, bucket=empty_bucket, key_prefix="docs/", client=client)
    head = s3_client.head_object(Bucket=empty_bucket, Key="docs/" + MANIFEST)
    assert (head["ContentType"], head["CacheControl"]) == ("application/json", "no-cache")
    document = read_manifest(s3_client, empty_bucket)
    assert set(document) == {"format", "files"}
    assert document["format"] == "s3wsgi-manifest/1"
    assert set(document["files"]) == set(SITE)
    keys = stored_keys(s3_client, empty_bucket)
    for path, entry in document["files"].items():
        content_type, cache_control = EXPECTED_HEADERS[path]
        sizes = {
            encoding: s3_client.head_object(Bucket=empty_bucket, Key=f"docs/{path}{suffix}")[
                "ContentLength"
            ]
            for encoding, suffix in (("br", ".br"), ("gzip", ".gz"))
            if f"docs/{path}{suffix}" in keys
        }
        assert entry == {
            "sha256": hashlib.sha256(SITE[path]).hexdigest(),
            "size": len(SITE[path]),
            "content_type": content_type,
            "cache_control": cache_control,
            "encodings": sizes,
        }


def test_assets_then_variants_then_entry_points_then_the_manifest(
    site, client, recorder, empty_bucket
):
    publish(site, bucket=empty_bucket, key_prefix="docs", client=client, max_concurrency=1)
    order = [key[len("docs/") :] for key in recorder.keys("PutObject")]
    assert order[-1] == MANIFEST
    entries = {"index.html", "guide/intro.htm", "guide/café.html", "robots.txt"}
    entries |= {"sitemap.xml", "sw.js", "manifest.webmanifest"}

    def position(predicate):
        return [i for i, path in enumerate(order[:-1]) if predicate(path)]

    def is_variant(path):
        return path.endswith((".br", ".gz"))

    def base(path):
        return path[:-3] if is_variant(path) else path

    assets = position(lambda p: not is_variant(p) and p not in entries)
    asset_variants = position(lambda p: is_variant(p) and base(p) not in entries)
    entry_points = position(lambda p: base(p) in entries)
    assert max(assets) < min(asset_variants)
    assert max(asset_variants) < min(entry_points)
    assert len(order) == len(set(order))


# -- only what changed ---------------------------------------------------------


def test_an_unchanged_second_publish_sends_nothing_in_two_requests(
    site, client, recorder, empty_bucket
):
    first = publish(site, bucket=empty_bucket, key_prefix="docs", client=client)
    assert first.manifest_written and len(first.uploaded) > len(SITE)
    recorder.clear()

    second = publish(site, bucket=empty_bucket, key_prefix="docs", client=client)
    assert (len(second.uploaded), second.unchanged) == (0, len(first.uploaded))
    assert not second.manifest_written
    # One listing page (under 1000 keys) and the previous manifest.
    assert recorder.operations() == Counter({"ListObjectsV2": 1, "GetObject": 1})
    assert recorder.http_requests == 2


def test_a_changed_file_sends_it_its_variants_and_the_manifest(
    site, client, recorder, s3_client, empty_bucket
):
    publish(site, bucket=empty_bucket, key_prefix="docs", client=client)
    (site / "_static/docs.css").write_bytes(b"h1 { color: navy }\n" * 100)
    recorder.clear()
    result = publish(site, bucket=empty_bucket, key_prefix="docs", client=client)
    expected = ["docs/_static/docs.css", "docs/_static/docs.css.br", "docs/_static/docs.css.gz"]
    assert result.uploaded == expected
    assert recorder.keys("PutObject") == [*expected, "docs/" + MANIFEST]
    assert "HeadObject" not in recorder.operations()
    stored = s3_client.get_object(Bucket=empty_bucket, Key="docs/_static/docs.css.gz")
    assert gzip.decompress(stored["Body"].read()) == b"h1 { color: navy }\n" * 100


def test_changed_rules_resend_the_files_they_change(site, client, recorder, empty_bucket):
    publish(site, bucket=empty_bucket, client=client)
    recorder.clear()
    result = publish(site, bucket=empty_bucket, client=client, cache_control="max-age=60")
    changed = {key for key in result.uploaded if not key.endswith((".br", ".gz"))}
    assert changed == {path for path, (_, cc) in EXPECTED_HEADERS.items() if cc == DEFAULT}


def test_objects_another_tool_uploaded_are_sent_again_with_the_headers(
    site, client, recorder, s3_client, empty_bucket
):
    # As `aws s3 sync` leaves them: the same bytes (the same MD5 ETag), no
    # charset, no Cache-Control, no metadata, no manifest.
    for path, body in SITE.items():
        s3_client.put_object(Bucket=empty_bucket, Key=path, Body=body)
    result = publish(site, bucket=empty_bucket, client=client)
    assert set(SITE) <= set(result.uploaded)
    assert recorder.operations()["HeadObject"] == len(SITE)
    head = s3_client.head_object(Bucket=empty_bucket, Key="index.html")
    assert head["CacheControl"] == "no-cache"


def test_a_large_file_goes_in_parts_and_is_not_sent_again(
    tmp_path, client, recorder, s3_client, empty_bucket
):
    site = write_site(tmp_path / "big", {"video/clip.mp4": os.urandom(9 * 1024 * 1024)})
    publish(site, bucket=empty_bucket, client=client)
    assert recorder.operations()["UploadPart"] == 2  # over the transfer manager's 8 MiB
    assert "-" in stored_keys(s3_client, empty_bucket)["video/clip.mp4"]
    recorder.clear()
    assert publish(site, bucket=empty_bucket, client=client).uploaded == []
    # Without the manifest, a multipart ETag tells nothing: the stored
    # SHA-256 metadata does, in one HeadObject.
    s3_client.delete_object(Bucket=empty_bucket, Key=MANIFEST)
    recorder.clear()
    assert publish(site, bucket=empty_bucket, client=client).uploaded == []
    assert recorder.operations()["HeadObject"] == 1
    assert recorder.keys("PutObject") == [MANIFEST]  # the manifest only
    assert not WRITES - {"PutObject"} & set(recorder.operations())


# -- delete and dry run --------------------------------------------------------


def test_delete_removes_what_the_folder_no_longer_has_and_nothing_outside_the_prefix(
    site, client, recorder, s3_client, empty_bucket
):
    outside = ["readme.txt", "docs-old/index.html", "doc/index.html", "other/docs/x.css"]
    for key in outside:
        s3_client.put_object(Bucket=empty_bucket, Key=key, Body=b"keep me")
    s3_client.put_object(Bucket=empty_bucket, Key="docs/stray.html", Body=b"old")
    publish(site, bucket=empty_bucket, key_prefix="docs", client=client)
    remove(site, "guide/intro.htm", "img/photo.png")
    recorder.clear()

    result = publish(site, bucket=empty_bucket, key_prefix="docs", client=client, delete=True)
    assert result.deleted == [
        "docs/guide/intro.htm",
        "docs/guide/intro.htm.br",
        "docs/guide/intro.htm.gz",
        "docs/img/photo.png",
    ]
    # Put there by another tool: no manifest of ours names it.
    assert result.kept == ["docs/stray.html"]
    keys = stored_keys(s3_client, empty_bucket)
    assert set(outside) | {"docs/stray.html"} <= set(keys)
    assert not set(result.deleted) & set(keys)
    assert "guide/intro.htm" not in read_manifest(s3_client, empty_bucket)["files"]
    # The manifest that no longer names them is written before they go.
    operations = [operation for operation, _ in recorder.calls]
    assert operations.index("PutObject") < operations.index("DeleteObjects")


def test_without_delete_removed_files_stay(site, client, s3_client, empty_bucket):
    publish(site, bucket=empty_bucket, key_prefix="docs", client=client)
    remove(site, "img/photo.png")
    result = publish(site, bucket=empty_bucket, key_prefix="docs", client=client)
    assert result.deleted == []
    assert "docs/img/photo.png" in stored_keys(s3_client, empty_bucket)


def test_dry_run_writes_nothing_and_says_what_it_would_do(
    site, client, recorder, s3_client, empty_bucket
):
    publish(site, bucket=empty_bucket, key_prefix="docs", client=client)
    before = stored_keys(s3_client, empty_bucket)
    (site / "index.html").write_bytes(page("Home, again"))
    remove(site, "robots.txt")
    recorder.clear()

    result = publish(
        site, bucket=empty_bucket, key_prefix="docs", client=client, delete=True, dry_run=True
    )
    assert result.dry_run
    assert result.uploaded == ["docs/index.html.br", "docs/index.html.gz", "docs/index.html"]
    assert result.deleted == ["docs/robots.txt"]
    assert result.summary().startswith("would upload 3 (")
    assert not WRITES & set(recorder.operations())
    assert stored_keys(s3_client, empty_bucket) == before


# -- failures ------------------------------------------------------------------


def test_an_interrupted_publish_leaves_the_old_site_and_a_second_run_finishes_it(
    tmp_path, s3_endpoint, s3_client, empty_bucket
):
    site = write_site(tmp_path / "html", SITE)
    parts = urlsplit(s3_endpoint)
    with FaultProxy((parts.hostname, parts.port)) as proxy:
        client = make_client(
            endpoint_url=proxy.url, region_name="us-east-1", max_attempts=2, connect_timeout=1
        )
        try:
            recorder = Recorder(client)
            options = dict(bucket=empty_bucket, key_prefix="docs", client=client, delete=True)
            publish(site, **options)
            old = stored_keys(s3_client, empty_bucket)
            old_manifest = read_manifest(s3_client, empty_bucket)

            # The next release: assets changed and added, a page changed, one gone.
            write_site(
                site,
                {
                    "assets/app.9e107d9d.js": b"export const run = () => 2;\n" * 100,
                    "_static/docs.css": b"h1 { color: navy }\n" * 100,
                    "_static/new.css": b"p { margin: 1em }\n" * 100,
                    "index.html": page("Home, second edition"),
                },
            )
            remove(site, "assets/app.3f9a1c2e.js", "guide/intro.htm")
            sent = []

            def cut_after_three(http_response, **kwargs):
                sent.append(1)
                if len(sent) == 3:
                    proxy.set("refuse")  # S3 becomes unreachable mid-publish

            client.meta.events.register("after-call.s3.PutObject", cut_after_three)
            recorder.clear()
            with pytest.raises(PublishError) as failure:
                publish(site, **options, max_concurrency=1)
            assert str(failure.value) == (f"cannot reach S3 at {proxy.url}: connection refused")
            first_try = recorder.keys("PutObject")[:3]
            assert all(not key.endswith(".html") for key in first_try)

            # Nothing deleted, the old manifest in place and true: every
            # object it names is still there, the pages as they were.
            now = stored_keys(s3_client, empty_bucket)
            assert set(old) <= set(now)
            assert read_manifest(s3_client, empty_bucket) == old_manifest
            assert {key: now[key] for key in old if key not in first_try} == {
                key: etag for key, etag in old.items() if key not in first_try
            }
            assert now["docs/index.html"] == old["docs/index.html"]

            client.meta.events.unregister("after-call.s3.PutObject", cut_after_three)
            proxy.set("pass")
            recorder.clear()
            result = publish(site, **options)
            assert not set(first_try) & set(result.uploaded)  # only the rest is sent
            assert recorder.keys("PutObject")[-1] == "docs/" + MANIFEST
            assert set(read_manifest(s3_client, empty_bucket)["files"]) == {
                path.relative_to(site).as_posix() for path in site.rglob("*") if path.is_file()
            }
            assert result.deleted == [
                "docs/assets/app.3f9a1c2e.js",
                "docs/assets/app.3f9a1c2e.js.br",
                "docs/assets/app.3f9a1c2e.js.gz",
                "docs/guide/intro.htm",
                "docs/guide/intro.htm.br",
                "docs/guide/intro.htm.gz",
            ]
            assert publish(site, **options).uploaded == []
        finally:
            client.close()


def test_a_missing_or_empty_folder_is_refused(tmp_path, client, empty_bucket):
    with pytest.raises(ValueError, match="no such folder"):
        publish(tmp_path / "nothing", bucket=empty_bucket, client=client)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(ValueError, match="no files to publish"):
        publish(tmp_path / "empty", bucket=empty_bucket, client=client)


# -- versions ------------------------------------------------------------------


def read_versions(s3_client, bucket: str) -> dict:
    return json.loads(s3_client.get_object(Bucket=bucket, Key="docs/versions.json")["Body"].read())


def test_versions_are_published_in_folders_and_switched_in_versions_json_last(
    site, client, recorder, s3_client, empty_bucket
):
    options = dict(bucket=empty_bucket, key_prefix="docs", client=client)
    publish(site, **options, version="v1", aliases=["latest", "stable"], default="latest")
    assert read_versions(s3_client, empty_bucket) == {
        "versions": ["v1"],
        "aliases": {"latest": "v1", "stable": "v1"},
        "default": "latest",
    }
    (site / "index.html").write_bytes(page("Home, v2"))
    recorder.clear()
    result = publish(site, **options, version="v2", aliases=["latest"])

    assert read_versions(s3_client, empty_bucket) == {
        "versions": ["v1", "v2"],
        "aliases": {"latest": "v2", "stable": "v1"},
        "default": "latest",
    }
    writes = recorder.keys("PutObject")
    assert writes[-2:] == ["docs/v2/" + MANIFEST, "docs/versions.json"]
    assert all(key.startswith("docs/v2/") for key in writes[:-1])
    assert result.versions_key == "docs/versions.json" and result.versions_written
    head = s3_client.head_object(Bucket=empty_bucket, Key="docs/versions.json")
    assert (head["ContentType"], head["CacheControl"]) == ("application/json", "no-cache")
    keys = stored_keys(s3_client, empty_bucket)
    assert {"docs/v1/index.html", "docs/v2/index.html", "docs/v2/index.html.br"} <= set(keys)


def test_publishing_a_version_again_keeps_its_place(site, client, empty_bucket, s3_client):
    options = dict(bucket=empty_bucket, key_prefix="docs", client=client)
    publish(site, **options, version="v1")
    publish(site, **options, version="v2", aliases=["latest"])
    result = publish(site, **options, version="v1", aliases=["stable"])
    assert read_versions(s3_client, empty_bucket) == {
        "versions": ["v1", "v2"],
        "aliases": {"latest": "v2", "stable": "v1"},
        "default": "v1",
    }
    assert result.uploaded == []
    again = publish(site, **options, version="v1", aliases=["stable"])
    assert not again.versions_written  # the file already says so


@pytest.mark.parametrize(
    ("version", "aliases", "default", "message"),
    [
        ("v3", ["v1"], None, "--alias v1: 'v1' is a version"),
        ("latest", [], None, "'latest' is an alias"),
        ("v3", [], "nightly", "--default nightly: no version or alias"),
        ("v3/x", [], None, "--version: 'v3/x' must start"),
    ],
)
def test_bad_versions_are_refused_before_anything_is_written(
    site, client, recorder, empty_bucket, version, aliases, default, message
):
    options = dict(bucket=empty_bucket, key_prefix="docs", client=client)
    publish(site, **options, version="v1", aliases=["latest"])
    recorder.clear()
    with pytest.raises(ValueError, match=re.escape(message)):
        publish(site, **options, version=version, aliases=aliases, default=default)
    assert not WRITES & set(recorder.operations())


def test_an_unversioned_delete_keeps_the_published_versions(site, client, s3_client, empty_bucket):
    options = dict(bucket=empty_bucket, key_prefix="docs", client=client)
    publish(site, **options, version="v1", aliases=["latest"])
    result = publish(site, **options, delete=True)
    assert result.deleted == []
    keys = stored_keys(s3_client, empty_bucket)
    assert {"docs/versions.json", "docs/v1/index.html", "docs/index.html"} <= set(keys)


# -- what a browser sees --------------------------------------------------------


def test_the_published_site_is_served_with_its_headers(site, client, s3_endpoint, serve):
    bucket = f"pub-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    publish(site, bucket=bucket, key_prefix="docs", client=client)
    url = serve(S3App(bucket=bucket, prefix="/docs", key_prefix="docs", endpoint_url=s3_endpoint))
    for path, (content_type, cache_control) in EXPECTED_HEADERS.items():
        answer = requests.get(f"{url}/docs/{path}", timeout=10)
        assert answer.status_code == 200, path
        assert answer.content == SITE[path]
        assert answer.headers["Content-Type"] == content_type
        assert answer.headers["Cache-Control"] == cache_control


# -- the command line ------------------------------------------------------------


def child_environ(**variables: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("S3WSGI_")}
    environ["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
    environ.update(variables)
    return environ


def s3wsgi_publish(*args, **variables) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "s3wsgi", "publish", *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=child_environ(**variables),
        timeout=120,
    )


SUMMARY = re.compile(
    r"uploaded (\d+) \((\d+\.\d) MiB\) · unchanged (\d+) · deleted (\d+) · \d+\.\d s\n"
)


def test_the_command_publishes_and_prints_one_summary_line(site, s3_endpoint, empty_bucket):
    first = s3wsgi_publish(
        site, "--bucket", empty_bucket, "--key-prefix", "docs", "--endpoint-url", s3_endpoint
    )
    assert (first.returncode, first.stderr) == (0, "")
    uploaded, _, unchanged, deleted = SUMMARY.fullmatch(first.stdout).groups()
    assert int(uploaded) > len(SITE) and (unchanged, deleted) == ("0", "0")

    remove(site, "robots.txt")
    # The same settings from S3WSGI_* variables.
    again = s3wsgi_publish(
        site,
        "--delete",
        S3WSGI_BUCKET=empty_bucket,
        S3WSGI_KEY_PREFIX="docs/",
        S3WSGI_ENDPOINT_URL=s3_endpoint,
        S3WSGI_ADDRESSING_STYLE="path",
    )
    assert (again.returncode, again.stderr) == (0, "")
    assert SUMMARY.fullmatch(again.stdout).groups() == (
        "0",
        "0.0",
        str(int(uploaded) - 1),
        "1",
    )


def test_the_command_prints_one_json_object_for_ci(site, s3_endpoint, empty_bucket):
    common = (site, "--bucket", empty_bucket, "--endpoint-url", s3_endpoint, "--json")
    first = json.loads(s3wsgi_publish(*common).stdout)
    assert first["uploaded"] == len(first["uploaded_keys"]) > len(SITE)
    assert first["uploaded_bytes"] > sum(map(len, SITE.values()))
    assert first["manifest"] == MANIFEST and first["manifest_written"] is True
    assert first["files"] == len(SITE)
    (site / "sw.js").write_bytes(b"// v2\n")
    result = s3wsgi_publish(*common, "--delete")
    assert result.returncode == 0 and result.stderr == ""
    second = json.loads(result.stdout)
    assert second["uploaded_keys"] == ["sw.js"]
    assert second["deleted_keys"] == ["sw.js.br", "sw.js.gz"]  # no longer worth it
    assert (second["uploaded"], second["deleted"], second["dry_run"]) == (1, 2, False)
    assert isinstance(second["seconds"], float)


def test_the_command_dry_run_lists_and_writes_nothing(site, s3_endpoint, empty_bucket, s3_client):
    result = s3wsgi_publish(
        site, "--bucket", empty_bucket, "--endpoint-url", s3_endpoint, "--dry-run"
    )
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert "upload index.html" in lines and "upload _static/docs.css.br" in lines
    assert lines[-2] == f"upload {MANIFEST}"
    assert lines[-1].startswith("would upload ")
    assert stored_keys(s3_client, empty_bucket) == {}


def test_the_command_publishes_versions(site, s3_endpoint, empty_bucket, s3_client):
    common = (site, "--bucket", empty_bucket, "--key-prefix", "docs", "--endpoint-url", s3_endpoint)
    assert s3wsgi_publish(*common, "--version", "1.0", "--alias", "stable").returncode == 0
    result = s3wsgi_publish(*common, "--version", "2.0", "--alias", "latest", "--default", "stable")
    assert result.returncode == 0, result.stderr
    assert read_versions(s3_client, empty_bucket) == {
        "versions": ["1.0", "2.0"],
        "aliases": {"stable": "1.0", "latest": "2.0"},
        "default": "stable",
    }


@pytest.mark.parametrize(
    ("args", "variables", "message"),
    [
        (("{missing}", "--bucket", "b"), {}, "{missing}: no such folder"),
        (("{empty}", "--bucket", "b"), {}, "{empty}: no files to publish"),
        (("{site}", "--bucket", "b", "--hashed-pattern", "(["), {}, "--hashed-pattern: '(['"),
        (("{site}",), {}, "the following arguments are required: --bucket (or S3WSGI_BUCKET)"),
        (("{site}", "--alias", "latest"), {"S3WSGI_BUCKET": "b"}, "--alias and --default need"),
        (("{site}", "--bucket", "b", "--max-attempts", "many"), {}, "--max-attempts: 'many'"),
        (("{site}", "--bucket", "b"), {"S3WSGI_ENDPOINT_URL": "s3.local"}, "S3WSGI_ENDPOINT_URL:"),
        (("{site}", "--bucket", "b", "--addressing-style", "odd"), {}, "--addressing-style:"),
    ],
)
def test_bad_requests_are_usage_errors_in_one_line(tmp_path, site, args, variables, message):
    (tmp_path / "empty").mkdir()
    places = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "site": site}
    result = s3wsgi_publish(*(arg.format(**places) for arg in args), **variables)
    assert result.returncode == 2
    usage, error = result.stderr.splitlines()
    assert usage == "usage: s3wsgi publish DIR --bucket BUCKET [options]"
    assert error.startswith(f"s3wsgi publish: error: {message.format(**places)}")
    assert result.stdout == ""


def test_failures_end_in_one_line_and_status_1(site, s3_endpoint):
    missing = s3wsgi_publish(site, "--bucket", "no-such-bucket", "--endpoint-url", s3_endpoint)
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == (
        f"s3wsgi: publish failed: no such bucket 'no-such-bucket' at {s3_endpoint}"
        " (--create-bucket creates it)\n"
    )
    with FaultProxy(("127.0.0.1", 9)) as proxy:
        proxy.set("refuse")
        refused = s3wsgi_publish(site, "--bucket", "docs", "--endpoint-url", proxy.url)
    assert refused.returncode == 1
    assert refused.stderr == (
        f"s3wsgi: publish failed: cannot reach S3 at {proxy.url}: connection refused\n"
    )


def test_the_command_stopped_by_sigterm_says_so_in_one_line(
    site, s3_endpoint, s3_client, empty_bucket
):
    parts = urlsplit(s3_endpoint)
    with FaultProxy((parts.hostname, parts.port)) as proxy:
        proxy.set("latency", delay=0.5)  # each request takes half a second
        process = subprocess.Popen(
            [sys.executable, "-m", "s3wsgi", "publish", str(site), "--bucket", empty_bucket],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_environ(S3WSGI_ENDPOINT_URL=proxy.url),
        )
        deadline = time.monotonic() + 30
        while proxy.accepted < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # until it is talking to S3
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stdout == ""
    assert stderr == (
        "s3wsgi: publish failed: interrupted (the previous site is intact; "
        "run it again to finish)\n"
    )
    assert MANIFEST not in stored_keys(s3_client, empty_bucket)


def test_the_progress_bar_shows_on_a_terminal_only(site, s3_endpoint, empty_bucket):
    controller, terminal = pty.openpty()
    # A new pseudo-terminal is 0 columns wide, too narrow for any bar.
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "s3wsgi", "publish", str(site), "--bucket", empty_bucket],
            stdout=subprocess.PIPE,
            stderr=terminal,
            env=child_environ(S3WSGI_ENDPOINT_URL=s3_endpoint),
        )
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal's other end closed
                break
            if not chunk:
                break
            shown += chunk
        stdout, _ = process.communicate(timeout=60)
        process.stdout.close()
    finally:
        os.close(controller)
    assert process.returncode == 0
    assert re.search(rb"\d+%\|", shown), shown  # tqdm's bar, on the terminal
    assert SUMMARY.fullmatch(stdout.decode())  # and nothing of it in the output


def test_a_file_no_longer_worth_compressing_lists_no_variants_it_lacks(
    site, client, s3_client, empty_bucket, monkeypatch
):
    # Published with variants; then one of them is lost and the rules no
    # longer compress a file of that size (a release that raised the bar).
    publish(site, bucket=empty_bucket, key_prefix="docs", client=client)
    assert set(read_manifest(s3_client, empty_bucket)["files"]["sw.js"]["encodings"]) == {
        "br",
        "gzip",
    }
    s3_client.delete_object(Bucket=empty_bucket, Key="docs/sw.js.br")
    monkeypatch.setattr(compression, "MIN_SIZE", 1 << 30)
    publish(site, bucket=empty_bucket, key_prefix="docs", client=client)
    entry = read_manifest(s3_client, empty_bucket)["files"]["sw.js"]
    # The manifest lists only variants that are there: none, so sw.js is
    # served as stored (a listed variant that is missing costs a 404 first).
    assert entry["encodings"] == {}

"""The object cache, through the middleware over real HTTP: freshness,
revalidation with S3's 304 / 200 / 404, bounds, and one S3 request per miss."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from s3wsgi.site import MANIFEST_NAME
from s3wsgi.stores.base import Connection
from s3wsgi.stores.boto3_store import BotoStore
from s3wsgi.stores.cache import CachingStore

DIGITS = b"0123456789"  # digits.txt in the test bucket


def asked(request) -> dict:
    """What a store call asked S3 beyond the key, by field."""
    fields = ("range", "if_match", "if_none_match", "if_modified_since", "if_unmodified_since")
    return {name: getattr(request, name) for name in fields if getattr(request, name) is not None}


class Counting:
    """A store that records every call it passes to S3; ``delay`` holds each
    GET back, so requests that arrive together overlap for sure."""

    def __init__(self, inner, *, delay: float = 0.0):
        self.inner = inner
        self.delay = delay
        self.calls: list[tuple[str, str, dict]] = []
        self._lock = threading.Lock()

    def head(self, request):
        with self._lock:
            self.calls.append(("head", request.key, asked(request)))
        return self.inner.head(request)

    def get(self, request):
        # The publish manifest is read past the cache (tests/test_variants.py).
        if request.key.endswith(MANIFEST_NAME):
            return self.inner.get(request)
        with self._lock:
            self.calls.append(("get", request.key, asked(request)))
        time.sleep(self.delay)
        return self.inner.get(request)

    def take(self) -> list[tuple[str, str, dict]]:
        """The calls so far, forgetting them."""
        with self._lock:
            calls, self.calls = self.calls, []
        return calls


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def s3_store(bucket, s3_endpoint, store_kind):
    """A store on the test bucket, of each kind."""
    if store_kind == "obstore":
        from s3wsgi.stores.obstore_store import ObstoreStore

        return ObstoreStore(bucket, Connection(endpoint_url=s3_endpoint))
    return BotoStore(bucket, Connection(endpoint_url=s3_endpoint))


@pytest.fixture
def cached(make_middleware, s3_store, serve):
    """``cached(**cache_options)`` -> (base URL, counting store, cache, clock)."""

    def start(*, delay: float = 0.0, threads: int = 4, max_s3_requests=None, **options):
        counting = Counting(s3_store, delay=delay)
        clock = Clock()
        options.setdefault("max_bytes", 1024 * 1024)
        options.setdefault("ttl", 60.0)
        cache = CachingStore(counting, clock=clock, **options)
        app = make_middleware(store=cache, max_s3_requests=max_s3_requests)
        url = serve(app, threads=threads)
        return url, counting, cache, clock

    return start


def get(url: str, path: str, **headers) -> requests.Response:
    return requests.get(f"{url}/docs/{path}", headers=headers, timeout=10)


def test_a_fresh_object_is_answered_without_asking_s3(cached, stored):
    url, s3, cache, clock = cached(ttl=60)
    first = get(url, "style.css")
    assert [call[:2] for call in s3.take()] == [("get", "style.css")]
    clock.advance(59)
    second = get(url, "style.css")
    assert s3.take() == []
    assert second.status_code == 200
    assert second.content == first.content == stored("style.css")
    for name in ("ETag", "Last-Modified", "Content-Type", "Content-Length", "Accept-Ranges"):
        assert second.headers[name] == first.headers[name]


def test_after_ttl_s3s_304_renews_the_entry(cached):
    url, s3, cache, clock = cached(ttl=60)
    first = get(url, "digits.txt")
    s3.take()
    clock.advance(61)
    again = get(url, "digits.txt")
    assert s3.take() == [("get", "digits.txt", {"if_none_match": first.headers["ETag"]})]
    assert (again.status_code, again.content) == (200, DIGITS)
    clock.advance(30)
    get(url, "digits.txt")
    assert s3.take() == []  # renewed for another ttl


def test_after_ttl_a_changed_object_replaces_the_entry(cached, s3_client, bucket):
    url, s3, cache, clock = cached(ttl=60)
    old = get(url, "digits.txt")
    s3_client.put_object(
        Bucket=bucket, Key="digits.txt", Body=b"9876543210", ContentType="text/plain"
    )
    assert get(url, "digits.txt").content == DIGITS  # within ttl: as it was
    clock.advance(61)
    s3.take()
    new = get(url, "digits.txt")
    assert s3.take() == [("get", "digits.txt", {"if_none_match": old.headers["ETag"]})]
    assert new.content == b"9876543210"
    assert new.headers["ETag"] != old.headers["ETag"]
    assert get(url, "digits.txt").content == b"9876543210"
    assert s3.take() == []


def test_after_ttl_a_deleted_object_is_dropped(cached, s3_client, bucket):
    url, s3, cache, clock = cached(ttl=60)
    assert get(url, "guide/intro.html").status_code == 200
    assert "guide/intro.html" in cache
    s3_client.delete_object(Bucket=bucket, Key="guide/intro.html")
    assert get(url, "guide/intro.html").status_code == 200  # within ttl
    clock.advance(61)
    assert get(url, "guide/intro.html").status_code == 404
    assert "guide/intro.html" not in cache
    assert cache.cached_bytes == sum(entry.cost for entry in cache._entries.values())


def test_ttl_zero_revalidates_every_request(cached, s3_client, bucket):
    url, s3, cache, clock = cached(ttl=0)
    first = get(url, "digits.txt")
    for _ in range(3):
        assert get(url, "digits.txt").content == DIGITS
    etag = first.headers["ETag"]
    assert (
        s3.take()
        == [("get", "digits.txt", {})] + [("get", "digits.txt", {"if_none_match": etag})] * 3
    )
    s3_client.put_object(Bucket=bucket, Key="digits.txt", Body=b"changed", ContentType="text/plain")
    assert get(url, "digits.txt").content == b"changed"


# Requests whose answers the cache must give exactly as S3 (through the
# middleware without a cache) gives them.
VARIANTS = [
    {},
    {"Range": "bytes=2-5"},
    {"Range": "bytes=7-"},
    {"Range": "bytes=-3"},
    {"Range": "bytes=-30"},
    {"Range": "bytes=8-100"},
    {"Range": "bytes=10-"},
    {"Range": "bytes=0-0,5-6"},
    {"If-None-Match": "{etag}"},
    {"If-None-Match": 'W/"other", {etag}'},
    {"If-None-Match": '"other"'},
    {"If-Match": "{etag}"},
    {"If-Match": '"other"'},
    {"If-Modified-Since": "{later}"},
    {"If-Modified-Since": "Thu, 01 Jan 2004 00:00:00 GMT"},
    {"If-Unmodified-Since": "Thu, 01 Jan 2004 00:00:00 GMT"},
    {"If-Unmodified-Since": "{later}"},
    {"Range": "bytes=1-2", "If-Range": "{etag}"},
    {"Range": "bytes=1-2", "If-Range": '"other"'},
    {"Range": "bytes=1-2", "If-Match": "{etag}"},
]
COMPARED = ("ETag", "Content-Type", "Content-Length", "Content-Range", "Last-Modified")


def test_ranges_and_conditionals_are_answered_from_the_cache_as_s3_answers_them(
    cached, make_middleware, serve
):
    url, s3, cache, clock = cached()
    etag = get(url, "digits.txt").headers["ETag"]
    later = "Fri, 01 Jan 2100 00:00:00 GMT"
    s3.take()
    plain = serve(make_middleware())
    for variant in VARIANTS:
        headers = {name: value.format(etag=etag, later=later) for name, value in variant.items()}
        expected = get(plain, "digits.txt", **headers)
        answer = get(url, "digits.txt", **headers)
        assert answer.status_code == expected.status_code, headers
        assert answer.content == expected.content, headers
        # A 304 from the cache keeps Last-Modified too, which moto's omits.
        compared = ("ETag",) if expected.status_code == 304 else COMPARED
        for name in compared:
            assert answer.headers.get(name) == expected.headers.get(name), (headers, name)
    assert s3.take() == []


def test_head_304_and_416_come_from_the_cache(cached):
    url, s3, cache, clock = cached()
    page = get(url, "digits.txt")
    s3.take()
    head = requests.head(f"{url}/docs/digits.txt", timeout=10)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["Content-Length"] == "10"
    assert head.headers["ETag"] == page.headers["ETag"]
    not_modified = get(url, "digits.txt", **{"If-None-Match": page.headers["ETag"]})
    assert not_modified.status_code == 304
    assert not_modified.headers["ETag"] == page.headers["ETag"]
    unsatisfiable = get(url, "digits.txt", Range="bytes=50-")
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["Content-Range"] == "bytes */10"
    assert s3.take() == []


def test_objects_over_the_size_limit_stream_and_are_not_kept(cached, stored):
    url, s3, cache, clock = cached(max_object_bytes=100)
    logo = stored("img/logo.png")
    assert get(url, "img/logo.png").content == logo
    assert get(url, "img/logo.png").content == logo
    part = get(url, "img/logo.png", Range="bytes=0-7")
    assert (part.status_code, part.content) == (206, logo[:8])
    assert "img/logo.png" not in cache
    assert s3.take() == [
        ("get", "img/logo.png", {}),
        ("get", "img/logo.png", {}),
        ("get", "img/logo.png", {"range": (0, 7)}),
    ]


def test_a_head_for_a_large_object_never_downloads_it(cached):
    url, s3, cache, clock = cached(max_object_bytes=100)
    get(url, "img/logo.png")
    clock.advance(61)
    head = requests.head(f"{url}/docs/img/logo.png", timeout=10)
    assert (head.status_code, head.headers["Content-Length"]) == (200, "1032")
    assert [call[:2] for call in s3.take()] == [("get", "img/logo.png"), ("head", "img/logo.png")]


def test_least_recently_used_objects_are_evicted_first(cached, s3_client, bucket):
    body = bytes(4000)
    for name in ("a", "b", "c"):
        s3_client.put_object(Bucket=bucket, Key=f"{name}.bin", Body=body)
    url, s3, cache, clock = cached(max_bytes=10_000)  # room for two
    get(url, "a.bin")
    get(url, "b.bin")
    get(url, "a.bin")  # a is now the most recently used
    get(url, "c.bin")
    assert "a.bin" in cache and "c.bin" in cache
    assert "b.bin" not in cache
    assert cache.cached_bytes <= 10_000
    s3.take()
    assert get(url, "a.bin").content == body
    assert s3.take() == []


def test_the_byte_bound_holds_under_load(cached, s3_client, bucket):
    bodies = {f"load/{n}.bin": random.randbytes(random.randint(1000, 6000)) for n in range(30)}
    for key, body in bodies.items():
        s3_client.put_object(Bucket=bucket, Key=key, Body=body)
    # No bound on S3 requests: this is about the cache's bytes, and on a busy
    # machine the bound could refuse one of the eight (tests/test_safety.py).
    url, s3, cache, clock = cached(max_bytes=40_000, threads=8, max_s3_requests=0)
    seen = []

    def client(seed: int):
        picker = random.Random(seed)
        with requests.Session() as session:
            for _ in range(40):
                key = picker.choice(list(bodies))
                answer = session.get(f"{url}/docs/{key}", timeout=10)
                assert answer.content == bodies[key]
                seen.append(cache.cached_bytes)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(client, range(8)))
    assert len(seen) == 320
    assert max(seen) <= 40_000
    assert cache.cached_bytes == sum(entry.cost for entry in cache._entries.values())
    assert 0 < len(cache) < len(bodies)


def test_concurrent_misses_for_one_key_make_one_s3_request(cached, stored):
    # No bound on S3 requests: all eight wait on one slow S3 request.
    url, s3, cache, clock = cached(delay=0.3, threads=8, max_s3_requests=0)
    start = threading.Barrier(8)

    def client(_):
        start.wait()
        return get(url, "guide/index.html")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(client, range(8)))
    assert [answer.content for answer in answers] == [stored("guide/index.html")] * 8
    assert s3.take() == [("get", "guide/index.html", {})]


def test_concurrent_revalidations_make_one_s3_request(cached):
    url, s3, cache, clock = cached(delay=0.3, threads=8, max_s3_requests=0)
    etag = get(url, "style.css").headers["ETag"]
    s3.take()
    clock.advance(120)
    start = threading.Barrier(8)

    def client(_):
        start.wait()
        return get(url, "style.css")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(client, range(8)))
    assert {answer.status_code for answer in answers} == {200}
    assert s3.take() == [("get", "style.css", {"if_none_match": etag})]


def test_the_middlewares_cache_options_keep_objects(
    make_middleware, serve, s3_client, bucket, stored
):
    app = make_middleware(cache_max_bytes=1024 * 1024, cache_ttl=300)
    assert isinstance(app.store, CachingStore)
    assert app.store.ttl == 300
    url = serve(app)
    page = stored("guide/intro.html")
    assert get(url, "guide/intro.html").status_code == 200
    s3_client.delete_object(Bucket=bucket, Key="guide/intro.html")
    kept = get(url, "guide/intro.html")
    assert (kept.status_code, kept.content) == (200, page)


def test_no_cache_unless_asked(make_middleware):
    assert not isinstance(make_middleware().store, CachingStore)

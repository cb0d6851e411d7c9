"""The middleware holds its mounts: one, or several sharing one bound on S3
requests; a key answered from memory takes no S3 turn, and one that may
still ask S3 takes one. Over moto's S3, in-process and over HTTP."""

from __future__ import annotations

import pytest
import requests
from sample_site import host_app

from s3wsgi import S3Middleware


def test_a_middleware_of_several_mounts_says_where_they_are(bucket, s3_endpoint):
    app = S3Middleware(
        host_app,
        mounts={"/docs": {}, "/files": {"key_prefix": "files"}},
        bucket=bucket,
        endpoint_url=s3_endpoint,
    )
    with pytest.raises(AttributeError, match=r"several mounts \(/files, /docs\): see .mounts"):
        app.match("/docs/")
    with pytest.raises(AttributeError, match="see .mounts"):
        app.options  # noqa: B018
    assert sorted(mount.match("/files/a.txt") or "" for mount in app.mounts) == ["", "a.txt"]
    one = S3Middleware(host_app, bucket=bucket, endpoint_url=s3_endpoint)
    assert one.mount is one.mounts[0] and one.options is one.mount.options
    assert one.match("/docs/a") == "a" and one.fallthrough is False


def test_mounts_asking_for_different_bounds_are_refused(bucket, s3_endpoint):
    with pytest.raises(ValueError, match=r"/files asks for another bound on S3 requests \(10\)"):
        S3Middleware(
            host_app,
            mounts={"/docs": {}, "/files": {"max_s3_requests": 10}},
            bucket=bucket,
            endpoint_url=s3_endpoint,
            server_threads=16,
        )
    shared = S3Middleware(
        host_app,
        mounts={"/docs": {}, "/files": {}},
        bucket=bucket,
        endpoint_url=s3_endpoint,
        max_s3_requests=10,
        server_threads=16,
    )
    assert {id(mount.bulkhead) for mount in shared.mounts} == {id(shared.mounts[0].bulkhead)}
    assert shared.mounts[0].bulkhead.limit == 10


@pytest.mark.parametrize("store_kind", ["boto3"])
def test_a_cached_key_takes_a_turn_only_while_it_may_still_ask_s3(
    make_middleware, serve, s3_client, bucket
):
    s3_client.put_object(Bucket=bucket, Key="page.html", Body=b"<p>page</p>")
    turns = []

    def counted(app):
        enter = app.bulkhead.enter

        def counting(max_wait):
            turns.append(max_wait)
            return enter(max_wait)

        app.bulkhead.enter = counting
        return app

    known = counted(make_middleware(cache_max_bytes=1 << 20, cache_ttl=60))
    url = serve(known)
    for _ in range(3):
        assert requests.get(url + "/docs/page.html", timeout=10).content == b"<p>page</p>"
    # The first read took a turn; then object and manifest are in memory.
    assert len(turns) == 1
    turns.clear()
    stale = counted(make_middleware(cache_max_bytes=1 << 20, cache_ttl=60, site_files_ttl=0))
    url = serve(stale)
    for _ in range(3):
        assert requests.get(url + "/docs/page.html", timeout=10).status_code == 200
    # The manifest is asked for again each time: each request takes a turn.
    assert len(turns) == 3

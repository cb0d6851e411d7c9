"""A site file (the manifest, ``versions.json``, a redirects file) read
from moto's S3 server through each store: kept, revalidated by its ETag,
and one too large for a site file is neither read nor fetched again."""

from __future__ import annotations

import json

import pytest

from s3wsgi.site import kept
from s3wsgi.stores.base import Connection, NotModified, ObjectRequest, S3Object
from s3wsgi.stores.boto3_store import BotoStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recording:
    """A store that records each GetObject's status and the body bytes the
    caller read."""

    def __init__(self, inner):
        self.inner = inner
        self.answers: list[int] = []
        self.bytes_read = 0

    def head(self, request: ObjectRequest) -> S3Object:
        return self.inner.head(request)

    def get(self, request: ObjectRequest) -> S3Object:
        try:
            obj = self.inner.get(request)
        except NotModified:
            self.answers.append(304)
            raise
        self.answers.append(obj.status)
        body = obj.body or ()

        def counted():
            for chunk in body:
                self.bytes_read += len(chunk)
                yield chunk

        return S3Object(obj.status, obj.headers, counted(), obj.redirect)


@pytest.fixture
def store(bucket, s3_endpoint, store_kind):
    if store_kind == "obstore":
        from s3wsgi.stores.obstore_store import ObstoreStore

        return Recording(ObstoreStore(bucket, Connection(endpoint_url=s3_endpoint)))
    return Recording(BotoStore(bucket, Connection(endpoint_url=s3_endpoint)))


def test_a_site_file_is_kept_and_revalidated_by_its_etag(store, s3_client, bucket):
    s3_client.put_object(Bucket=bucket, Key="site.json", Body=b'{"a": 1}')
    clock = Clock()
    file = kept.Kept(store, "site.json", json.loads, ttl=10.0, clock=clock)
    assert file.get() == {"a": 1}
    assert file.get() == {"a": 1}  # kept: S3 not asked
    clock.now += 11
    assert file.get() == {"a": 1}  # asked again: 304
    s3_client.put_object(Bucket=bucket, Key="site.json", Body=b'{"a": 2}')
    clock.now += 11
    assert file.get() == {"a": 2}
    assert store.answers == [200, 304, 200]


def test_a_site_file_too_large_is_not_read_nor_fetched_again(
    store, s3_client, bucket, monkeypatch, caplog
):
    monkeypatch.setattr(kept, "MAX_BYTES", 1000)
    s3_client.put_object(Bucket=bucket, Key="site.json", Body=b"[" + b" " * 300_000 + b"]")
    clock = Clock()
    file = kept.Kept(store, "site.json", json.loads, ttl=10.0, clock=clock)
    assert file.get() is None
    assert "300002 bytes is too large for a site file" in caplog.text
    clock.now += 11
    assert file.get() is None
    # The second ask is conditional and S3 answers 304: nothing sent again.
    assert store.answers == [200, 304]
    assert store.bytes_read == 0

"""Which store a middleware reads through: the fast one by default, boto3's
for a ready client or where the fast one cannot run (said once in the log),
and the answers the same either way."""

from __future__ import annotations

import logging
import sys

import boto3
import requests

from s3wsgi import S3Middleware
from s3wsgi.stores.boto3_store import BotoStore
from s3wsgi.stores.obstore_store import ObstoreStore


def reader(middleware: S3Middleware):
    """The store under the retries and the breaker."""
    return middleware.store.inner


def test_the_default_is_the_fast_store(bucket, s3_endpoint):
    app = S3Middleware(lambda e, s: [], bucket=bucket, endpoint_url=s3_endpoint)
    assert isinstance(reader(app), ObstoreStore)


def test_a_ready_boto3_client_keeps_the_boto3_store(bucket, s3_endpoint):
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    app = S3Middleware(lambda e, s: [], bucket=bucket, client=client)
    assert isinstance(reader(app), BotoStore)
    assert reader(app).client is client
    client.close()


def test_where_the_fast_store_cannot_run_boto3_serves_and_says_so(
    bucket, s3_endpoint, serve, monkeypatch, caplog
):
    # As on a machine where obstore is not installed.
    monkeypatch.delitem(sys.modules, "s3wsgi.stores.obstore_store", raising=False)
    monkeypatch.setitem(sys.modules, "obstore", None)
    with caplog.at_level(logging.WARNING, logger="s3wsgi"):
        app = S3Middleware(
            lambda e, s: [], bucket=bucket, endpoint_url=s3_endpoint, region_name="us-east-1"
        )
    assert isinstance(reader(app), BotoStore)
    said = [r.getMessage() for r in caplog.records if "fast store cannot run" in r.getMessage()]
    assert len(said) == 1 and "boto3" in said[0]
    url = serve(app)
    assert requests.get(url + "/docs/digits.txt", timeout=10).content == b"0123456789"

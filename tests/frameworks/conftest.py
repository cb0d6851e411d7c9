"""Fixtures of the framework tests: one bucket for the whole run, named in
the environment while an example app is imported, as a user would set it."""

from __future__ import annotations

import uuid

import pytest
from scenario import DOCS, docs_environment

from s3wsgi.stores.boto3_store import BotoStore
from s3wsgi.stores.obstore_store import ObstoreStore
from s3wsgi.stores.shared import Body


@pytest.fixture(scope="session")
def docs_bucket(s3_client):
    """A bucket holding DOCS; its name."""
    name = f"frameworks-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    for key, (body, content_type) in DOCS.items():
        s3_client.put_object(Bucket=name, Key=key, Body=body, ContentType=content_type)
    return name


@pytest.fixture
def docs_env(docs_bucket, s3_endpoint, monkeypatch):
    """S3WSGI_BUCKET / S3WSGI_ENDPOINT_URL set for this test only; the bucket."""
    docs_environment(monkeypatch, docs_bucket, s3_endpoint)
    return docs_bucket


@pytest.fixture
def store_calls(monkeypatch):
    """The S3 calls made, by either store: ("get" | "head" | "close", key)."""
    calls = []
    keys = {}
    for store in (BotoStore, ObstoreStore):
        get, head = store.get, store.head

        def recording_get(self, request, get=get):
            obj = get(self, request)
            calls.append(("get", request.key))
            keys[id(obj.body)] = request.key
            return obj

        def recording_head(self, request, head=head):
            calls.append(("head", request.key))
            return head(self, request)

        monkeypatch.setattr(store, "get", recording_get)
        monkeypatch.setattr(store, "head", recording_head)
    close = Body.close

    def recording_close(self):
        if not self.closed:
            calls.append(("close", keys.get(id(self))))
        close(self)

    monkeypatch.setattr(Body, "close", recording_close)
    return calls

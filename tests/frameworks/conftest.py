"""Fixtures of the framework tests: one bucket for the whole run, named in
the environment while an example app is imported, as a user would set it."""

from __future__ import annotations

import uuid

import pytest
from scenario import DOCS, docs_environment


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

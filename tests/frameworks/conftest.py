"""Fixtures of the framework tests: one bucket for the whole run, named in
the environment before an example app is imported, as a user would set it."""

from __future__ import annotations

import importlib
import os
import sys
import uuid
from pathlib import Path

import pytest
from scenario import DOCS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="session")
def docs_bucket(s3_client, s3_endpoint):
    """A bucket holding DOCS, also named in S3WSGI_BUCKET / S3WSGI_ENDPOINT_URL."""
    name = f"frameworks-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    for key, (body, content_type) in DOCS.items():
        s3_client.put_object(Bucket=name, Key=key, Body=body, ContentType=content_type)
    saved = {key: os.environ.get(key) for key in ("S3WSGI_BUCKET", "S3WSGI_ENDPOINT_URL")}
    os.environ.update(S3WSGI_BUCKET=name, S3WSGI_ENDPOINT_URL=s3_endpoint)
    yield name
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def import_example(module: str, *, under: str = ""):
    """Import ``examples/<under>/<module>`` as its README runs it."""
    folder = str(EXAMPLES / under)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(module)

"""Publish a built static site to S3 the way the middleware serves it best:
web content types, Cache-Control by kind of file, precompressed variants,
a manifest, and only what changed. See :func:`publish`."""

from __future__ import annotations

from ..site import HASHED_PATTERN
from .remote import PublishError
from .rules import DEFAULT_CACHE_CONTROL, Rules
from .upload import Result, apply, plan_or_fail, publish

__all__ = [
    "DEFAULT_CACHE_CONTROL",
    "HASHED_PATTERN",
    "PublishError",
    "Result",
    "Rules",
    "apply",
    "plan_or_fail",
    "publish",
]

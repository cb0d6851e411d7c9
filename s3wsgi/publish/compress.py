"""Precompressed variants: ``KEY.br`` (Brotli) and ``KEY.gz`` (gzip).

Both are made at the highest level, once, at publish time, so that a server
can send them as they are (RFC 9110 §8.4 Content-Encoding) instead of
compressing on every request. The bytes are reproducible: gzip's header
carries no time and no file name, so publishing the same file twice makes
the same variant and the same ETag.
"""

from __future__ import annotations

import gzip

from ..site import VARIANT_SUFFIXES
from .remote import PublishError

# Smaller files gain too little: a few hundred bytes at most, where the
# answer's headers already weigh as much.
MIN_SIZE = 512
# A variant is kept only when it is at most this fraction of the original.
MAX_RATIO = 0.95

# Content-Encoding -> the suffix of the variant's key, in order of preference.
SUFFIXES = VARIANT_SUFFIXES


def require_brotli() -> None:
    """Raise PublishError, before any work, if Brotli cannot be made here."""
    try:
        import brotli  # noqa: F401
    except ImportError:
        raise PublishError(
            "Brotli variants need brotli: install s3wsgi's 'publish' extra"
        ) from None


def compress(encoding: str, data: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=9, mtime=0)
    import brotli

    return brotli.compress(data, quality=11)


def worth_compressing(size: int) -> bool:
    return size > MIN_SIZE


def variants(data: bytes) -> dict[str, bytes]:
    """The variants of ``data`` worth keeping, by Content-Encoding; none for
    a small file, and none that saves less than 5 % of its size."""
    if not worth_compressing(len(data)):
        return {}
    kept = {}
    for encoding in SUFFIXES:
        compressed = compress(encoding, data)
        if len(compressed) <= len(data) * MAX_RATIO:
            kept[encoding] = compressed
    return kept

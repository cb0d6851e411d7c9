"""Precompressed variants: which keys have them, and which one a request gets.

``s3wsgi publish`` stores ``KEY.br`` and ``KEY.gz`` beside a compressible
``KEY`` and lists them in the published folder's manifest. The middleware
reads that manifest (one object per folder, kept and asked for again at
most every ``site_files_ttl`` seconds: :mod:`s3wsgi.site.kept`), so knowing
a key's variants costs no S3 request on the common path, and a new publish
is seen within ``site_files_ttl`` seconds. A key the manifest does not list
(an object another tool uploaded) is served as stored.
"""

from __future__ import annotations

import threading
import time

from ..site import MANIFEST_NAME, manifest
from ..site.kept import Kept
from ..stores.base import Budget, Clock, Store

Encodings = tuple[str, ...]


def _parse(data: bytes) -> dict[str, Encodings]:
    files = manifest.loads(data)
    if files is None:
        raise ValueError("not an s3wsgi manifest")
    return {path: tuple(entry.encodings) for path, entry in files.items() if entry.encodings}


class Variants:
    """The variants of keys under each published folder (a key prefix)."""

    def __init__(self, store: Store, ttl: float, *, clock: Clock = time.monotonic):
        self.store = store
        self.ttl = ttl
        self._clock = clock
        self._manifests: dict[str, Kept[dict[str, Encodings]]] = {}
        self._lock = threading.Lock()

    def fresh(self, key_prefix: str) -> bool:
        """Whether the manifest of ``key_prefix`` is known without asking S3."""
        kept = self._manifests.get(key_prefix)
        return kept is not None and kept.fresh()

    def of(self, key_prefix: str, key: str, budget: Budget | None) -> Encodings:
        """The Content-Encodings ``key`` has variants in (empty for none)."""
        kept = self._manifests.get(key_prefix)
        if kept is None:
            with self._lock:
                kept = self._manifests.setdefault(
                    key_prefix,
                    Kept(
                        self.store,
                        key_prefix + MANIFEST_NAME,
                        _parse,
                        self.ttl,
                        clock=self._clock,
                    ),
                )
        files = kept.get(budget)
        if not files:
            return ()
        return files.get(key[len(key_prefix) :], ())

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

from .site import MANIFEST_NAME, manifest
from .site.kept import Kept
from .stores.base import Budget, Store

Encodings = tuple[str, ...]


def _parse(data: bytes) -> dict[str, Encodings]:
    files = manifest.loads(data)
    if files is None:
        raise ValueError("not an s3wsgi manifest")
    return {path: tuple(entry.encodings) for path, entry in files.items() if entry.encodings}


# Published sites' manifests kept per mount: the mount's own and those of
# the folders right below it that requests named (a client naming folders
# that hold no site costs one kept "missing" each, so they are bounded).
MAX_SITES = 256


class Variants:
    """The variants of keys under each published folder (a key prefix).

    A key's published site is the mount's own folder (``site``) when its
    manifest lists the key, else the folder right below it that holds the
    key (``manual/`` for ``manual/guide.html``: a site published with
    ``--key-prefix manual`` under a mount of the whole bucket), as versions
    are. Each manifest is kept for ``ttl`` seconds, so the common path asks
    S3 nothing.
    """

    def __init__(self, store: Store, ttl: float):
        self.store = store
        self.ttl = ttl
        self._manifests: dict[str, Kept[dict[str, Encodings]]] = {}
        self._lock = threading.Lock()

    def of(self, key_prefix: str, key: str, budget: Budget | None) -> Encodings:
        """The Content-Encodings ``key`` has variants in (empty for none)."""
        files = self._files(key_prefix, budget)
        if files is not None and key[len(key_prefix) :] in files:
            return files[key[len(key_prefix) :]]
        folder, slash, _ = key[len(key_prefix) :].partition("/")
        if not slash:
            return ()
        inner = key_prefix + folder + "/"
        files = self._files(inner, budget)
        return files.get(key[len(inner) :], ()) if files else ()

    def _files(self, key_prefix: str, budget: Budget | None) -> dict[str, Encodings] | None:
        kept = self._manifests.get(key_prefix)
        if kept is None:
            with self._lock:
                kept = self._manifests.get(key_prefix)
                if kept is None:
                    if len(self._manifests) >= MAX_SITES:
                        # The oldest folder a request named goes first.
                        del self._manifests[next(iter(self._manifests))]
                    kept = Kept(self.store, key_prefix + MANIFEST_NAME, _parse, self.ttl)
                    self._manifests[key_prefix] = kept
        return kept.get(budget)

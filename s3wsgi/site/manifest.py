"""The manifest: what a published folder holds, written after everything else.

Key: ``<key_prefix>.s3wsgi-manifest.json`` (``<key_prefix><version>/...``
when a version is published), ``Content-Type: application/json``,
``Cache-Control: no-cache``. Body, one JSON object::

    {
      "format": "s3wsgi-manifest/1",
      "files": {
        "guide/index.html": {
          "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
          "size": 5120,
          "content_type": "text/html; charset=utf-8",
          "cache_control": "no-cache",
          "encodings": {"br": 1210, "gzip": 1544}
        }
      }
    }

- ``files`` maps each file's path, relative to the key prefix and with ``/``
  between folders, to: the SHA-256 of its bytes (hex), its size in bytes,
  and the Content-Type and Cache-Control it is stored with.
- ``encodings`` maps a Content-Encoding to the size of the variant stored
  beside the file: ``br`` at ``KEY.br``, ``gzip`` at ``KEY.gz``. It lists
  only the variants kept (it may be empty); each variant carries the
  original's Content-Type and Cache-Control.

A server reads this one object to know which keys have variants, rather
than asking S3 once per request. The publisher reads the previous manifest
to send only what changed. Since it is written last, a manifest describes
objects that are all in place; the keys it names are never deleted before
the next manifest replaces it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

FORMAT = "s3wsgi-manifest/1"
CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class Entry:
    """One file of the manifest."""

    sha256: str
    size: int
    content_type: str
    cache_control: str
    encodings: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {
            "sha256": self.sha256,
            "size": self.size,
            "content_type": self.content_type,
            "cache_control": self.cache_control,
            "encodings": dict(self.encodings),
        }


def dumps(files: dict[str, Entry]) -> bytes:
    """The manifest's bytes: keys sorted, so the same site gives the same bytes."""
    document = {
        "format": FORMAT,
        "files": {path: files[path].as_json() for path in sorted(files)},
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def loads(body: bytes) -> dict[str, Entry] | None:
    """The files of a manifest; None for anything that is not one of this
    format (a publish then compares objects by their ETag instead)."""
    try:
        document = json.loads(body)
        if document.get("format") != FORMAT:
            return None
        return {
            path: Entry(
                sha256=str(item["sha256"]),
                size=int(item["size"]),
                content_type=str(item["content_type"]),
                cache_control=str(item["cache_control"]),
                encodings={str(k): int(v) for k, v in item.get("encodings", {}).items()},
            )
            for path, item in document["files"].items()
        }
    except (ValueError, TypeError, KeyError, AttributeError):
        return None

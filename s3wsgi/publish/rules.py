"""Which headers a published file gets: Content-Type, Cache-Control, and
whether precompressed variants are worth making.

Cache-Control follows what each kind of file can bear:

- entry points (``*.html``, ``*.htm``, ``sw.js``, ``manifest.webmanifest``,
  ``robots.txt``, ``sitemap.xml``, and the manifest and versions files this
  package writes) get ``no-cache``: their URLs never change, so a browser
  must revalidate them (RFC 9111 §5.2.2.4) to see a new release at once;
- names carrying a content hash (``app.3f9a1c2e.js``, Vite's
  ``index-BfYx3sQ1.js``) get ``public, max-age=31536000, immutable``
  (RFC 8246): new content gets a new name, so the old one never changes;
- everything else gets ``DEFAULT_CACHE_CONTROL`` unless told otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..http.responses import content_type
from ..site import (
    HASHED_PATTERN,
    IMMUTABLE,
    NO_CACHE,
    compile_hashed_pattern,
    is_entry_point,
)

# Short enough that a release reaches every reader within five minutes, long
# enough that a page's images and stylesheets are not asked for on every view.
DEFAULT_CACHE_CONTROL = "public, max-age=300"

# Types that compress well. Fonts in WOFF/WOFF2 are compressed already;
# TrueType, OpenType and EOT are not.
_COMPRESSIBLE_TYPES = frozenset(
    {
        "application/javascript",
        "application/json",
        "application/xml",
        "application/wasm",
        "application/manifest+json",
        "application/vnd.ms-fontobject",
        "font/ttf",
        "font/otf",
        "image/svg+xml",
        "image/x-icon",
        "image/bmp",
    }
)


@dataclass(frozen=True)
class Rules:
    """How a file's path decides its headers.

    :param cache_control: Cache-Control for files that are neither entry
        points nor hashed.
    :param hashed_pattern: a regular expression searched in the path (relative
        to the published folder); a match marks the name as content-hashed.
    """

    cache_control: str = DEFAULT_CACHE_CONTROL
    hashed_pattern: str = HASHED_PATTERN
    _hashed: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Compiled once here, so a bad expression fails before any work.
        hashed = compile_hashed_pattern(self.hashed_pattern, "--hashed-pattern")
        object.__setattr__(self, "_hashed", hashed)

    def is_entry(self, path: str) -> bool:
        return is_entry_point(path)

    def is_hashed(self, path: str) -> bool:
        return self._hashed.search(path) is not None

    def content_type(self, path: str) -> str:
        """The type the middleware would serve the file with, charset included."""
        return content_type(None, path)

    def cache_control_for(self, path: str) -> str:
        # An entry point is revalidated even if its name looks hashed: its
        # URL is the one readers and links come back to.
        if self.is_entry(path):
            return NO_CACHE
        if self.is_hashed(path):
            return IMMUTABLE
        return self.cache_control


def is_compressible(media_type: str) -> bool:
    """Whether a type (parameters allowed) is worth a Brotli or gzip variant."""
    bare = media_type.split(";", 1)[0].strip().lower()
    return (
        bare.startswith("text/")
        or bare in _COMPRESSIBLE_TYPES
        or bare.endswith("+xml")
        or bare.endswith("+json")
    )

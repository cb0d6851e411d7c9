"""What a published site holds, as ``s3wsgi publish`` writes it and the
middleware reads it: the manifest (:mod:`.manifest`), ``versions.json``
(:mod:`.versions`), the precompressed variants' keys, and which names carry
a content hash."""

from __future__ import annotations

import posixpath
import re

MANIFEST_NAME = ".s3wsgi-manifest.json"
VERSIONS_NAME = "versions.json"

# Entry points: pages and files whose URLs readers and links come back to,
# so they are revalidated (no-cache), even when their name looks hashed.
ENTRY_NAMES = frozenset(
    {"sw.js", "manifest.webmanifest", "robots.txt", "sitemap.xml", MANIFEST_NAME, VERSIONS_NAME}
)
ENTRY_EXTENSIONS = frozenset({".html", ".htm"})

# A variant of KEY, by its Content-Encoding: KEY.br and KEY.gz.
VARIANT_SUFFIXES = {"br": ".br", "gzip": ".gz"}

NO_CACHE = "no-cache"
# RFC 8246: a response that will not change while fresh, so a reload need
# not revalidate it; a year is the longest lifetime caches honour.
IMMUTABLE = "public, max-age=31536000, immutable"

# A content hash in the file name (never in a folder name): a segment of 8 or
# more lowercase hex digits separated by dots or dashes (webpack, Sphinx,
# esbuild), or Vite's 8 base64url characters between a dash and the
# extension. Vite's must hold a digit or two capitals past the first
# character, so that words such as "settings" in "my-settings.js" do not
# count: a missed hash costs a revalidation, a false one a stale year.
HASHED_PATTERN = (
    r"(?:^|[/.-])[0-9a-f]{8,}[.-][^/]*$"
    r"|-(?=[A-Za-z0-9_-]*[0-9]|[A-Za-z0-9_-]+[A-Z][A-Za-z0-9_-]*[A-Z])[A-Za-z0-9_-]{8}\.[^/]*$"
)


def compile_hashed_pattern(pattern: str, label: str) -> re.Pattern[str]:
    """The pattern, compiled; ValueError naming ``label`` if it is not one."""
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ValueError(f"{label}: {pattern!r}: {error}") from None


def is_entry_point(path: str) -> bool:
    name = posixpath.basename(path)
    return name in ENTRY_NAMES or posixpath.splitext(name)[1].lower() in ENTRY_EXTENSIONS

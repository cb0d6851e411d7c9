"""What every server of the matrix holds: one bucket, the same objects."""

from __future__ import annotations

import random

BUCKET = "compat-site"

# Uploaded with every object, so that a 304 can be checked for it (RFC 9110
# §15.4.5: a 304 carries the Cache-Control a 200 would have).
CACHE_CONTROL = "public, max-age=3600"

# 10 KiB whose every byte tells its offset's low bits: a wrong span shows.
DATA = bytes(range(256)) * 40
# 5 MiB that no server can compress or deduplicate.
LARGE = random.Random(5).randbytes(5 * 1024 * 1024)

SITE = {
    "index.html": (b"<html><h1>Docs home</h1><a href=guide/>Guide</a></html>", "text/html"),
    "guide/index.html": (b"<html><h1>Guide</h1><a href=intro.html>Intro</a></html>", "text/html"),
    "guide/intro.html": (b"<html><h1>Intro</h1></html>", "text/html"),
    "caf\u00e9/menu.html": ("<p>caf\u00e9 \u2615</p>".encode(), "text/html"),
    "data.bin": (DATA, "application/octet-stream"),
    "large.bin": (LARGE, "application/octet-stream"),
}

# A date before any upload, for If-Unmodified-Since and If-Modified-Since.
LONG_AGO = "Sat, 01 Jan 2000 00:00:00 GMT"


def fill_bucket(client) -> None:
    """Create BUCKET and upload SITE with boto3, as a user would."""
    client.create_bucket(Bucket=BUCKET)
    for key, (body, content_type) in SITE.items():
        client.put_object(
            Bucket=BUCKET,
            Key=key,
            Body=body,
            ContentType=content_type,
            CacheControl=CACHE_CONTROL,
        )

"""The ``Server-Timing`` header of an answer (``server_timing=True``).

W3C Server Timing: ``metric;dur=<milliseconds>;desc=<token>`` entries,
comma-separated. Two entries:

- ``s3;dur=12.3``: the milliseconds the request spent in S3 requests before
  its answer began (every attempt, retries and the manifest's reads
  included; 0 when nothing was asked of S3);
- ``cache;desc=hit``: what the object cache did for it (``hit``, ``miss``
  or ``revalidation``); left out when the mount has no cache, or the
  request never reached it.

The header tells the client how long S3 took; it is off by default.
"""

from __future__ import annotations

HEADER = "Server-Timing"


def header_value(s3_seconds: float, cache: str | None) -> str:
    value = f"s3;dur={s3_seconds * 1000:.1f}"
    if cache is not None:
        value += f", cache;desc={cache}"
    return value

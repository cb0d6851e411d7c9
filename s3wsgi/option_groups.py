"""The groups of options: small frozen classes that :class:`~s3wsgi.Options`
holds, one a field (``cache=Cache(ttl=60)``).

Each field of a group is also an option of its own flat name, the one text
settings, flags and variables use: the group's :attr:`PREFIX` and the
field's name (``cache_`` + ``ttl``), unless the field names another
(``flat=``). :mod:`s3wsgi.options` checks the values, by those names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .stores.base import Connection
from .stores.cache import DEFAULT_MAX_OBJECT_BYTES, DEFAULT_TTL
from .stores.resilient import Policy

DEFAULT_SEND_TIMEOUT = 10.0

# The sections of the options table, in order: the top-level options'
# (each a field's ``group``), then each group's HEADING.
SERVED = "What is served"
ANSWERS = "Answers"
S3_STORE = "Which store reads S3"

_CONNECTION = Connection()
_POLICY = Policy()


def option(
    default: Any,
    help: str,
    *,
    group: str = "",
    flat: str | None = None,
    flag: str | None = None,
    choices: tuple[str, ...] | None = None,
    command_line: bool = True,
) -> Any:
    """A field of :class:`~s3wsgi.Options` or of one of its groups.

    :param help: one line for ``--help`` and the docs.
    :param group: the table's section, for a top-level option (a group's
        fields are in the group's).
    :param flat: the option's flat name, when not the group's prefix plus
        the field's name.
    :param flag: the command line's flag, when not ``--`` plus the flat name.
    :param choices: the only values a text may take.
    :param command_line: whether ``s3wsgi serve`` offers it.
    """
    metadata = {
        "help": help,
        "group": group,
        "flat": flat,
        "flag": flag,
        "choices": choices,
        "command_line": command_line,
    }
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Access:
    """Who may read, and who may store what they read."""

    HEADING: ClassVar[str] = "Access"
    PREFIX: ClassVar[str] = "authorize_"

    authorize: Callable[[dict[str, Any]], object] | None = option(
        None,
        "callable(environ), or 'package.module:callable': true lets in; false answers 403,"
        " a path on this site a 302 there (a login page), before S3 is asked",
        flat="authorize",
    )
    scope: str = option(
        "auto",
        "who may store answers: auto (private when authorize is set), private, or public"
        " (shared caches may store them even with authorize)",
        flat="cache_scope",
        choices=("auto", "private", "public"),
    )
    vary: str = option(
        "Cookie, Authorization",
        "the request headers authorize reads, named in Vary on private answers",
    )


@dataclass(frozen=True)
class Published:
    """What ``s3wsgi publish`` stored beside the objects, and how it is used."""

    HEADING: ClassVar[str] = "Published sites"
    PREFIX: ClassVar[str] = ""

    variants: bool = option(
        True,
        "answer with the Brotli or gzip variant s3wsgi publish made of an object, as the"
        " request's Accept-Encoding allows (the folder's manifest lists them)",
    )
    hashed_pattern: str | None = option(
        None,
        "a regular expression: objects whose name it finds content-hashed and that carry"
        " no Cache-Control get 'public, max-age=31536000, immutable' (pages excepted)",
    )
    files_ttl: float = option(
        10.0,
        "seconds the manifest is used before S3 is asked again: how soon a new publish is seen",
        flat="site_files_ttl",
    )


@dataclass(frozen=True)
class Redirects:
    """Paths that moved, and where an object's redirect may send clients."""

    HEADING: ClassVar[str] = "Redirects"
    PREFIX: ClassVar[str] = "redirect_"

    paths: tuple[tuple[str, str], ...] = option(
        (),
        "paths that moved, old to new, under the prefix (a dict or pairs; 'old = new'"
        " per line as text): 301",
        flat="redirects",
        flag="--redirect",
    )
    file: str | None = option(
        None,
        "a key under key_prefix holding a JSON object of redirects, old path to new,"
        " read like the manifest (site_files_ttl)",
        flat="redirects_file",
    )
    hosts: str = option(
        "",
        "hosts (comma-separated) an object's S3 website redirect may send clients to;"
        " a path on this site is always allowed",
    )


@dataclass(frozen=True)
class Listing:
    """Listings of folders that have no index document."""

    HEADING: ClassVar[str] = "Listings"
    PREFIX: ClassVar[str] = "listing_"

    enabled: bool = option(
        False,
        "a folder without an index document answers a listing of its entries (HTML, or"
        " JSON when asked for)",
        flat="listing",
    )
    hidden: str = option(
        "",
        "more names (comma-separated shell patterns) a listing leaves out, though served",
    )
    page_size: int = option(1000, "entries per listing page, at most 1000")


@dataclass(frozen=True)
class Versions:
    """Versions of a site side by side, each in its folder."""

    HEADING: ClassVar[str] = "Versions"
    PREFIX: ClassVar[str] = "version_"

    enabled: bool = option(
        False,
        "the first folder of a path names a version or alias (/docs/latest/...), resolved"
        " from versions.json under key_prefix and version_aliases",
        flat="versions",
    )
    aliases: tuple[tuple[str, str], ...] = option(
        (),
        "aliases to versions that win over versions.json's (a dict or pairs;"
        " 'latest = v2' per line as text)",
        flag="--version-alias",
    )
    default: str | None = option(
        None,
        "the version or alias /docs/ redirects to (default: versions.json's)",
        flat="default_version",
    )


@dataclass(frozen=True)
class Downloads:
    """Large objects sent to S3 itself, by a presigned URL."""

    HEADING: ClassVar[str] = "Downloads"
    PREFIX: ClassVar[str] = ""

    over_bytes: int | None = option(
        None,
        "objects larger than this are answered with a 302 to a presigned S3 URL (the"
        " client then reads S3 directly; it sees S3's endpoint)",
        flat="redirect_over_bytes",
    )
    expires: int = option(300, "seconds a presigned URL stays valid", flat="presign_expires")


@dataclass(frozen=True)
class S3:
    """How S3 is reached: :class:`~s3wsgi.stores.base.Connection`'s fields."""

    HEADING: ClassVar[str] = "Reaching S3"
    PREFIX: ClassVar[str] = ""

    endpoint_url: str | None = option(
        _CONNECTION.endpoint_url,
        "an S3-compatible endpoint, e.g. http://127.0.0.1:9000 for MinIO",
    )
    region_name: str | None = option(
        _CONNECTION.region_name,
        "the bucket's region (else boto3's: AWS_REGION, AWS_DEFAULT_REGION, profile)",
        flag="--region",
    )
    addressing_style: str | None = option(
        _CONNECTION.addressing_style,
        "bucket addressing: auto, virtual or path (path suits most S3-compatible servers)",
        choices=("auto", "virtual", "path"),
    )
    connect_timeout: float = option(
        _CONNECTION.connect_timeout, "seconds to wait for a connection to S3"
    )
    read_timeout: float = option(
        _CONNECTION.read_timeout, "seconds to wait for S3 to answer or send more bytes"
    )
    max_pool_connections: int = option(
        _CONNECTION.max_pool_connections,
        "S3 connections kept open per process (raised to max_s3_requests if lower)",
    )
    chunk_size: int = option(_CONNECTION.chunk_size, "bytes read from S3 at a time while streaming")


@dataclass(frozen=True)
class Safety:
    """What keeps S3's trouble and slow clients out of the app."""

    HEADING: ClassVar[str] = "Safety: S3 trouble stays out of the app"
    PREFIX: ClassVar[str] = ""

    server_threads: int | None = option(
        None,
        "the server's worker threads per process; sizes max_s3_requests (s3wsgi serve:"
        " its threads, --threads, 64 by default)",
    )
    max_s3_requests: int | None = option(
        None,
        "requests that may wait on S3 at once per process; one more waits for a turn"
        " while turns come back and the app keeps a thread, else answers 503 (default:"
        " 3/4 of server_threads, or of a gevent worker's 1,000 connections, or 3; 0: no"
        " bound)",
    )
    send_timeout: float = option(
        DEFAULT_SEND_TIMEOUT,
        "s3wsgi serve: seconds a client may take none of an answer's bytes before its"
        " connection is closed, and the thread and S3 turn it holds are freed (elsewhere:"
        " the server's or proxy's own, see deployment)",
    )
    deadline: float | None = option(
        None,
        f"seconds a request may spend on S3 in all, retries included (default:"
        f" {_POLICY.deadline:g}, or connect_timeout + read_timeout if that is longer)",
    )
    max_attempts: int = option(_POLICY.max_attempts, "attempts per S3 request, the first included")
    breaker_failures: int = option(
        _POLICY.breaker_failures,
        "client requests in a row that S3 left without an answer (each counts once, whatever"
        " its attempts) that open the circuit breaker",
    )
    breaker_cooldown: float = option(
        _POLICY.breaker_cooldown,
        "seconds between probes of S3 while the circuit breaker is open, at most 1 (a longer"
        " one counts as 1): service is back within about that of S3's return",
    )


@dataclass(frozen=True)
class Cache:
    """The in-memory cache of small objects, per process."""

    HEADING: ClassVar[str] = "Cache"
    PREFIX: ClassVar[str] = "cache_"

    max_bytes: int = option(
        0, "bytes of small objects cached in memory per process; 0 turns the cache off"
    )
    ttl: float = option(DEFAULT_TTL, "seconds a cached object is served without asking S3")
    max_object_bytes: int = option(
        DEFAULT_MAX_OBJECT_BYTES, "larger objects are streamed, never cached"
    )


@dataclass(frozen=True)
class Observe:
    """What the app tells of its work."""

    HEADING: ClassVar[str] = "Observability"
    PREFIX: ClassVar[str] = ""

    metrics: Any = option(
        False,
        "count requests, S3 requests, cache and breaker in Prometheus series (true, or a"
        " prometheus_client registry; needs the metrics extra; s3wsgi serve: --metrics-path)",
        command_line=False,
    )
    server_timing: bool = option(
        False,
        "add Server-Timing to every answer: the time spent on S3, and what the cache did",
    )


GROUPS: tuple[type, ...] = (
    Access,
    Published,
    Redirects,
    Listing,
    Versions,
    Downloads,
    S3,
    Safety,
    Cache,
    Observe,
)

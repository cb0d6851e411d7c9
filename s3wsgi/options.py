"""Every option of s3wsgi, declared once.

:class:`Options` is the one typed, frozen definition: its fields carry the
type, the default and a line of help, and everything else comes from it:
the keyword options of :class:`~s3wsgi.S3Middleware` and
:class:`~s3wsgi.S3App`, their validation (contradictory combinations are
refused with a clear error), the conversion from text (``.ini`` files,
``S3WSGI_*`` variables, framework settings, command-line flags), the
command line's flags and ``--help``, and the options table in the docs.
"""

from __future__ import annotations

import dataclasses
import pkgutil
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from .site import compile_hashed_pattern
from .stores.base import Connection
from .stores.cache import DEFAULT_MAX_OBJECT_BYTES, DEFAULT_TTL
from .stores.green import server_concurrency
from .stores.resilient import Policy

ENVIRON_PREFIX = "S3WSGI_"
DEFAULT_SEND_TIMEOUT = 10.0

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})

# The groups of the options table, in order.
SERVED = "What is served"
ANSWERS = "Answers"
PUBLISHED = "Published sites"
HOSTED = "Hosted sites: SPAs, redirects, listings, versions, downloads"
S3 = "Reaching S3"
SAFETY = "Safety: S3 trouble stays out of the app"
CACHE = "Cache"
OBSERVE = "Observability"


def option(
    default: Any,
    help: str,
    *,
    group: str,
    flag: str | None = None,
    choices: tuple[str, ...] | None = None,
    command_line: bool = True,
) -> Any:
    """A field of :class:`Options`.

    :param help: one line for ``--help`` and the docs.
    :param flag: the command line's flag, when not ``--`` plus the name.
    :param choices: the only values a text may take.
    :param command_line: whether ``s3wsgi serve`` offers it.
    """
    metadata = {
        "help": help,
        "group": group,
        "flag": flag,
        "choices": choices,
        "command_line": command_line,
    }
    return field(default=default, metadata=metadata)


def to_bool(label: str, value: str) -> bool:
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{label}: {value!r} is not a boolean (use true/false, yes/no, on/off or 1/0)")


def to_int(label: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError(f"{label}: {value!r} is not a whole number") from None


def to_float(label: str, value: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise ValueError(f"{label}: {value!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{label}: {value!r} is not a finite number")
    return number


def to_str(label: str, value: str) -> str:
    return value.strip()


def to_headers(label: str, value: str) -> tuple[tuple[str, str], ...]:
    """One ``Name: value`` per line; blank lines are skipped."""
    headers = []
    for line in value.splitlines():
        if not line.strip():
            continue
        header, colon, text = line.partition(":")
        header, text = header.strip(), text.strip()
        if not colon or not header or " " in header:
            raise ValueError(f"{label}: {line.strip()!r} is not a 'Name: value' header line")
        headers.append((header, text))
    return tuple(headers)


def to_pairs(label: str, value: str, example: str) -> tuple[tuple[str, str], ...]:
    """One ``name = value`` per line (or separated by commas)."""
    pairs = []
    for line in value.replace(",", "\n").splitlines():
        if not line.strip():
            continue
        name, equals, target = line.partition("=")
        name, target = name.strip(), target.strip()
        if not equals or not name or not target:
            raise ValueError(f"{label}: {line.strip()!r} is not '{example}'")
        pairs.append((name, target))
    return tuple(pairs)


def to_callable(label: str, value: str) -> Callable[..., Any]:
    """``package.module:attribute`` (the attribute may be dotted), imported
    as the standard library resolves such names (:func:`pkgutil.resolve_name`)."""
    spec = value.strip()
    if ":" not in spec or spec.startswith(":") or spec.endswith(":"):
        raise ValueError(f"{label}: {value!r} is not a 'package.module:callable' path")
    module, _, attribute = spec.partition(":")
    try:
        target = pkgutil.resolve_name(spec)
    except ImportError as error:
        raise ValueError(f"{label}: cannot import module {module!r} ({error})") from None
    except AttributeError:
        raise ValueError(f"{label}: module {module!r} has no {attribute!r}") from None
    if not callable(target):
        raise ValueError(f"{label}: {spec!r} is not callable")
    return cast("Callable[..., Any]", target)


_CONNECTION = Connection()
_POLICY = Policy()


@dataclass(frozen=True)
class Options:
    """The options of :class:`~s3wsgi.S3Middleware` and :class:`~s3wsgi.S3App`.

    Give them as keywords to either; this class checks them. Every field is
    an option of the same name.
    """

    bucket: str | None = option(None, "the bucket to serve (required)", group=SERVED)
    prefix: str = option(
        "/docs", "the URL path claimed (/ for S3App and s3wsgi serve)", group=SERVED
    )
    key_prefix: str = option("", "the folder inside the bucket that prefix maps to", group=SERVED)
    index_document: str = option(
        "index.html", "the key served for a folder path (one ending in /)", group=SERVED
    )
    error_document: str | None = option(
        None, "a key (under key_prefix) served with status 404 for a missing key", group=SERVED
    )
    fallthrough: bool = option(
        False,
        "on a missing key, hand the request to the wrapped app",
        group=SERVED,
        command_line=False,
    )

    cache_control: str | None = option(
        None, "Cache-Control for objects that carry none, e.g. 'max-age=300'", group=ANSWERS
    )
    headers: tuple[tuple[str, str], ...] = option(
        (),
        "extra response headers 'Name: value' (a dict or pairs; one per line as text;"
        " repeat --header)",
        group=ANSWERS,
        flag="--header",
    )
    authorize: Callable[[dict[str, Any]], object] | None = option(
        None,
        "callable(environ), or 'package.module:callable': true lets in; false answers 403,"
        " a path on this site a 302 there (a login page), before S3 is asked",
        group=ANSWERS,
    )
    cache_scope: str = option(
        "auto",
        "who may store answers: auto (private when authorize is set), private, or public"
        " (shared caches may store them even with authorize)",
        group=ANSWERS,
        choices=("auto", "private", "public"),
    )
    authorize_vary: str = option(
        "Cookie, Authorization",
        "the request headers authorize reads, named in Vary on private answers",
        group=ANSWERS,
    )

    variants: bool = option(
        True,
        "answer with the Brotli or gzip variant s3wsgi publish made of an object, as the"
        " request's Accept-Encoding allows (the folder's manifest lists them)",
        group=PUBLISHED,
    )
    immutable_hashed: bool = option(
        False,
        "objects whose name looks content-hashed (hashed_pattern) and that carry no"
        " Cache-Control get 'public, max-age=31536000, immutable' (pages excepted)",
        group=PUBLISHED,
    )
    hashed_pattern: str | None = option(
        None,
        "the regular expression that marks a content-hashed name, for immutable_hashed"
        " (given: immutable_hashed is on; default: the one s3wsgi publish uses)",
        group=PUBLISHED,
    )
    site_files_ttl: float = option(
        10.0,
        "seconds the manifest is used before S3 is asked again: how soon a new publish is seen",
        group=PUBLISHED,
    )

    spa_fallback: str | None = option(
        None,
        "a key under key_prefix (e.g. index.html) answered 200 for a missing key when"
        " the request is a page navigation; assets stay 404",
        group=HOSTED,
    )
    redirects: tuple[tuple[str, str], ...] = option(
        (),
        "paths that moved, old to new, under the prefix (a dict or pairs; 'old = new'"
        " per line as text): 301",
        group=HOSTED,
        flag="--redirect",
    )
    redirects_file: str | None = option(
        None,
        "a key under key_prefix holding a JSON object of redirects, old path to new,"
        " read like the manifest (site_files_ttl)",
        group=HOSTED,
    )
    redirect_hosts: str = option(
        "",
        "hosts (comma-separated) an object's S3 website redirect may send clients to;"
        " a path on this site is always allowed",
        group=HOSTED,
    )
    listing: bool = option(
        False,
        "a folder without an index document answers a listing of its entries (HTML, or"
        " JSON when asked for)",
        group=HOSTED,
    )
    hidden: str = option(
        ".*",
        "names (comma-separated shell patterns) never served nor listed: a path with such"
        " a segment is 404 (.well-known is served unless named here)",
        group=HOSTED,
    )
    listing_hidden: str = option(
        "",
        "more names (comma-separated shell patterns) a listing leaves out, though served",
        group=HOSTED,
    )
    listing_page_size: int = option(1000, "entries per listing page, at most 1000", group=HOSTED)
    versions: bool = option(
        False,
        "the first folder of a path names a version or alias (/docs/latest/...), resolved"
        " from versions.json under key_prefix and version_aliases",
        group=HOSTED,
    )
    version_aliases: tuple[tuple[str, str], ...] = option(
        (),
        "aliases to versions that win over versions.json's (a dict or pairs;"
        " 'latest = v2' per line as text)",
        group=HOSTED,
        flag="--version-alias",
    )
    default_version: str | None = option(
        None,
        "the version or alias /docs/ redirects to (default: versions.json's)",
        group=HOSTED,
    )
    redirect_over_bytes: int | None = option(
        None,
        "objects larger than this are answered with a 302 to a presigned S3 URL (the"
        " client then reads S3 directly; it sees S3's endpoint)",
        group=HOSTED,
    )
    presign_expires: int = option(300, "seconds a presigned URL stays valid", group=HOSTED)

    endpoint_url: str | None = option(
        _CONNECTION.endpoint_url,
        "an S3-compatible endpoint, e.g. http://127.0.0.1:9000 for MinIO",
        group=S3,
    )
    region_name: str | None = option(
        _CONNECTION.region_name,
        "the bucket's region (else boto3's: AWS_REGION, AWS_DEFAULT_REGION, profile)",
        group=S3,
        flag="--region",
    )
    addressing_style: str | None = option(
        _CONNECTION.addressing_style,
        "bucket addressing: auto, virtual or path (path suits most S3-compatible servers)",
        group=S3,
        choices=("auto", "virtual", "path"),
    )
    store: Any = option(
        "auto",
        "how S3 is read: auto (obstore, the fast store, where it can run, else boto3),"
        " obstore, boto3, or a ready store object",
        group=S3,
        choices=("auto", "obstore", "boto3"),
    )
    client: Any = option(
        None,
        "a ready boto3 S3 client (implies the boto3 store; its own timeouts apply)",
        group=S3,
        command_line=False,
    )
    check: bool = option(
        False,
        "ask S3 once, when the app starts, whether the bucket can be served; refuse to"
        " start (BucketProblem, one sentence on what is wrong) if not",
        group=S3,
        command_line=False,
    )
    connect_timeout: float = option(
        _CONNECTION.connect_timeout, "seconds to wait for a connection to S3", group=S3
    )
    read_timeout: float = option(
        _CONNECTION.read_timeout, "seconds to wait for S3 to answer or send more bytes", group=S3
    )
    max_pool_connections: int = option(
        _CONNECTION.max_pool_connections,
        "S3 connections kept open per process (raised to max_s3_requests if lower)",
        group=S3,
    )
    chunk_size: int = option(
        _CONNECTION.chunk_size, "bytes read from S3 at a time while streaming", group=S3
    )

    server_threads: int | None = option(
        None,
        "the server's worker threads per process; sizes max_s3_requests (s3wsgi serve:"
        " its threads, --threads, 64 by default)",
        group=SAFETY,
    )
    max_s3_requests: int | None = option(
        None,
        "requests that may wait on S3 at once per process; one more waits for a turn"
        " while turns come back and the app keeps a thread, else answers 503 (default:"
        " 3/4 of server_threads, or of a gevent worker's 1,000 connections, or 3; 0: no"
        " bound)",
        group=SAFETY,
    )
    send_timeout: float = option(
        DEFAULT_SEND_TIMEOUT,
        "s3wsgi serve: seconds a client may take none of an answer's bytes before its"
        " connection is closed, and the thread and S3 turn it holds are freed (elsewhere:"
        " the server's or proxy's own, see deployment)",
        group=SAFETY,
    )
    deadline: float | None = option(
        None,
        f"seconds a request may spend on S3 in all, retries included (default:"
        f" {_POLICY.deadline:g}, or connect_timeout + read_timeout if that is longer)",
        group=SAFETY,
    )
    max_attempts: int = option(
        _POLICY.max_attempts, "attempts per S3 request, the first included", group=SAFETY
    )
    breaker_failures: int = option(
        _POLICY.breaker_failures,
        "client requests in a row that S3 left without an answer (each counts once, whatever"
        " its attempts) that open the circuit breaker",
        group=SAFETY,
    )
    breaker_cooldown: float = option(
        _POLICY.breaker_cooldown,
        "seconds between probes of S3 while the circuit breaker is open, at most 1 (a longer"
        " one counts as 1): service is back within about that of S3's return",
        group=SAFETY,
    )

    cache_max_bytes: int = option(
        0,
        "bytes of small objects cached in memory per process; 0 turns the cache off",
        group=CACHE,
    )
    cache_ttl: float = option(
        DEFAULT_TTL, "seconds a cached object is served without asking S3", group=CACHE
    )
    cache_max_object_bytes: int = option(
        DEFAULT_MAX_OBJECT_BYTES, "larger objects are streamed, never cached", group=CACHE
    )

    metrics: Any = option(
        False,
        "count requests, S3 requests, cache and breaker in Prometheus series (true, or a"
        " prometheus_client registry; needs the metrics extra; s3wsgi serve: --metrics-path)",
        group=OBSERVE,
        command_line=False,
    )
    server_timing: bool = option(
        False,
        "add Server-Timing to every answer: the time spent on S3, and what the cache did",
        group=OBSERVE,
    )

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            object.__setattr__(self, spec.name, _checked(spec, getattr(self, spec.name)))
        _check_combinations(self)

    @classmethod
    def from_settings(cls, settings: Mapping[str, object], **overrides: Any) -> Options:
        """Options from ``name -> value``, where text is converted (as from an
        .ini file) and anything else (a client, a callable) is kept."""
        return cls(**convert_settings(settings), **overrides)

    @property
    def connection(self) -> Connection:
        return Connection(
            endpoint_url=self.endpoint_url,
            region_name=self.region_name,
            addressing_style=self.addressing_style,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_pool_connections=max(self.max_pool_connections, self.s3_request_bound or 0),
            chunk_size=self.chunk_size,
        )

    @property
    def request_deadline(self) -> float:
        """Seconds a request may spend on S3: at least one whole attempt."""
        if self.deadline is not None:
            return self.deadline
        return max(_POLICY.deadline, self.connect_timeout + self.read_timeout)

    @property
    def policy(self) -> Policy:
        return Policy(
            max_attempts=self.max_attempts,
            deadline=self.request_deadline,
            breaker_failures=self.breaker_failures,
            breaker_cooldown=self.breaker_cooldown,
        )

    @property
    def s3_request_bound(self) -> int | None:
        """The requests that may wait on S3 at once, or None for no bound.

        Below the server's threads, so the app always keeps threads of its
        own: three quarters of them, and 3 of waitress's default 4 when the
        thread count is not known; in a gevent or eventlet worker, three
        quarters of its connections (:func:`~s3wsgi.stores.green.server_concurrency`).
        """
        if self.max_s3_requests is not None:
            return self.max_s3_requests or None
        threads = self._server_concurrency
        return max(1, threads - max(1, threads // 4))

    @property
    def _server_concurrency(self) -> int:
        """The requests the server runs at once: its threads, or a green
        worker's connections, or waitress's default 4."""
        return self.server_threads or server_concurrency() or 4

    @property
    def s3_request_waiters(self) -> int:
        """The requests that may wait for a turn at once and still leave the
        app a thread that none of them holds (of waitress's default 4 when
        the thread count is not known)."""
        bound = self.s3_request_bound
        if bound is None:
            return 0
        return max(0, self._server_concurrency - bound - 1)


FIELDS: dict[str, dataclasses.Field[Any]] = {
    spec.name: spec for spec in dataclasses.fields(Options)
}
_HINTS = typing.get_type_hints(Options)

# Other names accepted for an option: the command line's --region.
ALIASES = {"region": "region_name"}

# Settings that are not text-convertible by their type alone.
_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "headers": to_headers,
    "authorize": to_callable,
    "redirects": lambda label, value: to_pairs(label, value, "/old/page.html = /new/page.html"),
    "version_aliases": lambda label, value: to_pairs(label, value, "latest = v2"),
    "metrics": to_bool,
}


def _kind(name: str) -> type | None:
    """The type of an option's text-convertible value (``int`` for
    ``int | None``), or None for the others (headers, callables, objects)."""
    hint = _HINTS[name]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        arguments = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = arguments[0] if len(arguments) == 1 else None
    return hint if hint in (bool, int, float, str) else None


def _checked(spec: dataclasses.Field[Any], value: Any) -> Any:
    """A value of the option's type, else a ValueError naming the option."""
    name = spec.name
    if value is None and spec.default is None:
        return None
    if name == "headers":
        return _header_pairs(value)
    if name in ("redirects", "version_aliases"):
        return _pairs(name, value)
    if name == "authorize":
        if not callable(value):
            raise ValueError("authorize must be callable(environ) -> bool | str | Response")
        return value
    kind = _kind(name)
    if kind is None:
        return value  # store and client: checked with the other options
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{name} must be {_KIND_WORDS[kind]}, not {value!r}")
    choices = spec.metadata["choices"]
    if choices and value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}: not {value!r}")
    return value


_KIND_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


def _as_pairs(name: str, given: object) -> list[Any]:
    """A dict's items, or a list of pairs, as a list."""
    if isinstance(given, Mapping):
        return list(given.items())
    if isinstance(given, str) or not isinstance(given, Iterable):
        raise ValueError(f"{name} must be a dict or (name, value) pairs")
    return list(given)


def _pairs(name: str, given: object) -> tuple[tuple[str, str], ...]:
    if not given:
        return ()
    for pair in (pairs := _as_pairs(name, given)):
        if (
            not isinstance(pair, (tuple, list))
            or len(pair) != 2
            or not all(isinstance(part, str) and part for part in pair)
        ):
            raise ValueError(f"{name}: {pair!r} is not a pair of names")
    return tuple((first, second) for first, second in pairs)


def _header_pairs(headers: object) -> tuple[tuple[str, str], ...]:
    if not headers:
        return ()
    if isinstance(headers, str):  # as in .ini files: one "Name: value" per line
        headers = to_headers("headers", headers)
    checked = []
    for pair in _as_pairs("headers", headers):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"headers: {pair!r} is not a (name, value) pair")
        name, value = pair
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValueError(f"headers: names and values must be strings: {name!r}")
        if any(c in name + value for c in "\r\n\0") or not name or ":" in name:
            raise ValueError(f"headers: malformed header {name!r}")
        checked.append((name, value))
    return tuple(checked)


# What a ready store makes meaningless: it already knows how to reach S3.
STORE_MAKING = (
    "bucket",
    "endpoint_url",
    "region_name",
    "addressing_style",
    "client",
    "connect_timeout",
    "read_timeout",
    "max_pool_connections",
    "chunk_size",
    "check",
)


def _given(options: Options, name: str) -> bool:
    return bool(getattr(options, name) != FIELDS[name].default)


def _check_combinations(options: Options) -> None:
    """Refuse what cannot work, and what would silently do nothing."""
    store = options.store
    if not isinstance(store, str):
        if not callable(getattr(store, "get", None)) or not callable(getattr(store, "head", None)):
            raise ValueError(f"store must be 'auto', 'obstore', 'boto3' or a store: {store!r}")
        for name in STORE_MAKING:
            if _given(options, name):
                raise ValueError(f"{name} does nothing with a ready store: give it to the store")
        # What each feature asks of a store (stores.base.ListingStore).
        for feature, method in (("listing", "list"), ("redirect_over_bytes", "presign")):
            if _given(options, feature) and not callable(getattr(store, method, None)):
                raise ValueError(f"{feature} needs a store with a {method}() method")
    elif store not in FIELDS["store"].metadata["choices"]:
        raise ValueError(f"store must be 'auto', 'obstore', 'boto3' or a store: {store!r}")
    elif not options.bucket:
        raise ValueError("bucket: a bucket name is required")
    if options.client is not None and store == "obstore":
        raise ValueError("client: a boto3 client needs store='boto3' (or 'auto')")
    if not options.prefix.startswith("/"):
        raise ValueError(f"prefix must start with '/': {options.prefix!r}")
    if not options.index_document or "/" in options.index_document:
        raise ValueError(f"index_document must be a file name: {options.index_document!r}")
    if options.fallthrough and options.error_document:
        raise ValueError("error_document does nothing with fallthrough: choose one")
    if options.spa_fallback and options.fallthrough:
        raise ValueError("spa_fallback and fallthrough both claim missing keys: choose one")
    if not 1 <= options.listing_page_size <= 1000:
        raise ValueError("listing_page_size must be between 1 and 1000")
    if options.redirect_over_bytes is not None and options.redirect_over_bytes < 0:
        raise ValueError("redirect_over_bytes must not be negative")
    if not 1 <= options.presign_expires <= 7 * 24 * 3600:
        raise ValueError("presign_expires must be between 1 second and 7 days (S3's limit)")
    if not options.versions:
        for name in ("version_aliases", "default_version"):
            if _given(options, name):
                raise ValueError(f"{name} does nothing without versions")
    for name, value in (
        ("spa_fallback", options.spa_fallback),
        ("redirects_file", options.redirects_file),
    ):
        if value is not None and (
            not value.strip("/") or "//" in value or ".." in value.split("/")
        ):
            raise ValueError(f"{name} must be a key under key_prefix: {value!r}")
    if options.chunk_size < 64 * 1024:
        raise ValueError("chunk_size must be at least 64 KiB (65536)")
    if options.hashed_pattern is not None:
        compile_hashed_pattern(options.hashed_pattern, "hashed_pattern")
    for name in (
        "connect_timeout",
        "read_timeout",
        "breaker_cooldown",
        "cache_ttl",
        "site_files_ttl",
    ):
        if getattr(options, name) < 0:
            raise ValueError(f"{name} must not be negative")
    if options.send_timeout <= 0:
        raise ValueError("send_timeout must be positive")
    for name in ("max_attempts", "breaker_failures", "max_pool_connections"):
        if getattr(options, name) < 1:
            raise ValueError(f"{name} must be at least 1")
    attempt = options.connect_timeout + options.read_timeout
    if options.deadline is not None and options.deadline < attempt:
        raise ValueError(
            f"deadline ({options.deadline:g} s) must be at least connect_timeout +"
            f" read_timeout ({attempt:g} s): one whole attempt"
        )
    threads, bound = options.server_threads, options.max_s3_requests
    if threads is not None and threads < 1:
        raise ValueError("server_threads must be at least 1")
    if bound is not None and bound < 0:
        raise ValueError("max_s3_requests must not be negative (0: no bound)")
    if threads is not None and bound and bound > threads:
        raise ValueError(
            f"max_s3_requests ({bound}) must not exceed server_threads ({threads}):"
            " leave the app threads of its own"
        )
    metrics = options.metrics
    if not isinstance(metrics, bool) and not callable(getattr(metrics, "register", None)):
        raise ValueError(
            f"metrics must be true, false or a prometheus_client registry: {metrics!r}"
        )
    if options.cache_max_bytes < 0 or options.cache_max_object_bytes < 0:
        raise ValueError("cache_max_bytes and cache_max_object_bytes must not be negative")
    if not options.cache_max_bytes:
        for name in ("cache_ttl", "cache_max_object_bytes"):
            if _given(options, name):
                raise ValueError(f"{name} does nothing without cache_max_bytes")


def convert(name: str, value: object, *, label: str | None = None) -> object:
    """One option's value: text is converted, anything else is kept as it is.

    :param label: what the user wrote to set it (e.g. ``S3WSGI_READ_TIMEOUT``
        or ``--read-timeout``), for error messages; the option's name by default.
    """
    label = label or name
    name = ALIASES.get(name, name)
    if name not in FIELDS:
        raise ValueError(f"{label}: unknown option (known: {', '.join(FIELDS)})")
    if not isinstance(value, str):
        return value
    spec = FIELDS[name]
    if not value.strip() and spec.default is None:
        return None
    parse = _PARSERS.get(name)
    if parse is not None:
        return parse(label, value)
    choices = spec.metadata["choices"]
    if choices:
        if value.strip() not in choices:
            raise ValueError(f"{label}: {value.strip()!r} is not one of {', '.join(choices)}")
        return value.strip()
    kind = _kind(name)
    if kind is None:
        raise ValueError(f"{label}: cannot be given as text")
    return {bool: to_bool, int: to_int, float: to_float, str: to_str}[kind](label, value)


def convert_settings(settings: Mapping[str, object]) -> dict[str, Any]:
    """Keyword options from ``name -> value``: text converted, the rest kept."""
    return {ALIASES.get(name, name): convert(name, value) for name, value in settings.items()}


def environ_settings(environ: Mapping[str, object]) -> dict[str, object]:
    """The ``S3WSGI_*`` entries of an environment (or a Flask config) as
    ``name -> value``: ``S3WSGI_KEY_PREFIX`` gives ``key_prefix``."""
    return {
        name[len(ENVIRON_PREFIX) :].lower(): value
        for name, value in environ.items()
        if name.startswith(ENVIRON_PREFIX)
    }


def environ_options(environ: Mapping[str, str], *, given: Iterable[str] = ()) -> dict[str, Any]:
    """The options the ``S3WSGI_*`` variables of ``environ`` set, converted,
    leaving out those in ``given`` (keywords win) and the variables that are
    not options (a server's ``S3WSGI_PORT``; a typo is the command line's
    to refuse). ValueError names the variable of a bad value."""
    taken: dict[str, Any] = {}
    skipped = set(given)
    for name, value in environ_settings(environ).items():
        name = ALIASES.get(name, name)
        if name in FIELDS and name not in skipped and FIELDS[name].metadata["command_line"]:
            taken[name] = convert(name, str(value), label=environ_name(name))
    return taken


def environ_name(name: str) -> str:
    """The variable that sets ``name``: ``key_prefix`` -> ``S3WSGI_KEY_PREFIX``."""
    return ENVIRON_PREFIX + name.upper()


def flag(name: str) -> str:
    """The command line's flag for an option."""
    return FIELDS[name].metadata["flag"] or "--" + name.replace("_", "-")


def shown_default(name: str) -> str:
    """An option's default as the docs and ``--help`` show it."""
    default = FIELDS[name].default
    if default is None or default == ():
        return "none"
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default) if default != "" else '""'


def options_table() -> str:
    """The reStructuredText table of every option, by group, for the docs."""
    rows = []
    for group in (SERVED, ANSWERS, PUBLISHED, HOSTED, S3, SAFETY, CACHE, OBSERVE):
        rows.append((f"**{group}**", "", "", ""))
        for name, spec in FIELDS.items():
            if spec.metadata["group"] != group:
                continue
            where = f"``{flag(name)}``" if spec.metadata["command_line"] else "(Python only)"
            rows.append((f"``{name}``", f"``{shown_default(name)}``", where, spec.metadata["help"]))
    header = ("option", "default", "flag", "meaning")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    rule = " ".join("=" * width for width in widths)
    lines = [rule, " ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(), rule]
    for row in rows:
        lines.append(" ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    lines.append(rule)
    return "\n".join(lines) + "\n"


def command_line_options() -> Iterable[str]:
    """The options ``s3wsgi serve`` offers as flags, in the table's order."""
    return (name for name, spec in FIELDS.items() if spec.metadata["command_line"])

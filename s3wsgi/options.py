"""Every option of s3wsgi, declared once.

:class:`Options` is the one typed, frozen definition: about twenty
top-level fields, some of them groups (:mod:`s3wsgi.option_groups`:
``cache=Cache(ttl=60)``), each field carrying its type, its default, a
line of help and its flat name (``cache_ttl``). Everything else comes from
it: the keyword options of :class:`~s3wsgi.S3Middleware` and
:class:`~s3wsgi.S3App` (a group, or its fields by their flat names), their
validation (contradictory combinations are refused with a clear error,
naming the flat names), the conversion from text (``.ini`` files,
``S3WSGI_*`` variables, framework settings, command-line flags: always the
flat names), the command line's flags and ``--help``, and the options table
in the docs.
"""

from __future__ import annotations

import dataclasses
import pkgutil
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from .option_groups import (
    ANSWERS,
    GROUPS,
    S3,
    S3_STORE,
    SERVED,
    Access,
    Cache,
    Downloads,
    Listing,
    Observe,
    Published,
    Redirects,
    Safety,
    Versions,
    option,
)

# s3wsgi serve's, as send_timeout's default.
from .option_groups import DEFAULT_SEND_TIMEOUT as DEFAULT_SEND_TIMEOUT
from .site import HASHED_PATTERN, compile_hashed_pattern
from .stores.base import Connection
from .stores.green import server_concurrency
from .stores.resilient import Policy

ENVIRON_PREFIX = "S3WSGI_"

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


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


_POLICY = Policy()


@dataclass(frozen=True, init=False)
class Options:
    """The options of :class:`~s3wsgi.S3Middleware` and :class:`~s3wsgi.S3App`.

    Give them as keywords to either; this class checks them. A group's
    fields may be given as a group object (``cache=Cache(ttl=60,
    max_bytes=2**20)``) or one by one by their flat names (``cache_ttl=60,
    cache_max_bytes=2**20``), not both; either way they are read grouped
    (``options.cache.ttl``).
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
    spa_fallback: str | None = option(
        None,
        "a key under key_prefix (e.g. index.html) answered 200 for a missing key when"
        " the request is a page navigation; assets stay 404",
        group=SERVED,
    )
    hidden: str = option(
        ".*",
        "names (comma-separated shell patterns) never served nor listed: a path with such"
        " a segment is 404 (.well-known is served unless named here)",
        group=SERVED,
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

    access: Access = option(Access(), "who may read, and who may store answers", group="Access")
    published: Published = option(
        Published(), "what s3wsgi publish stored beside the objects", group="Published"
    )
    redirects: Redirects = option(Redirects(), "paths that moved", group="Redirects")
    listing: Listing = option(Listing(), "listings of folders", group="Listing")
    versions: Versions = option(Versions(), "versions of a site", group="Versions")
    downloads: Downloads = option(
        Downloads(), "large objects sent by a presigned URL", group="Downloads"
    )

    store: Any = option(
        "auto",
        "how S3 is read: auto (obstore, the fast store, where it can run, else boto3),"
        " obstore, boto3, or a ready store object or boto3 S3 client",
        group=S3_STORE,
        choices=("auto", "obstore", "boto3"),
    )
    check: bool = option(
        False,
        "ask S3 once, when the app starts, whether the bucket can be served; refuse to"
        " start (BucketProblem, one sentence on what is wrong) if not",
        group=S3_STORE,
        command_line=False,
    )
    s3: S3 = option(S3(), "how S3 is reached", group="S3")
    safety: Safety = option(Safety(), "the bound, the retries, the breaker", group="Safety")
    cache: Cache = option(Cache(), "the in-memory cache", group="Cache")
    observe: Observe = option(Observe(), "metrics and Server-Timing", group="Observe")

    def __init__(self, **keywords: Any) -> None:
        for name, value in _fields_from(keywords).items():
            object.__setattr__(self, name, value)
        for spec in dataclasses.fields(self):
            object.__setattr__(self, spec.name, _checked_field(spec.name, getattr(self, spec.name)))
        _check_combinations(self)

    @classmethod
    def from_settings(cls, settings: Mapping[str, object], **overrides: Any) -> Options:
        """Options from ``name -> value``, where text is converted (as from an
        .ini file) and anything else (a client, a callable) is kept."""
        return cls(**convert_settings(settings), **overrides)

    @property
    def connection(self) -> Connection:
        """How the store reaches S3: the ``s3`` group, with a pooled
        connection for each request the bound lets wait on S3."""
        s3 = self.s3
        return Connection(
            endpoint_url=s3.endpoint_url,
            region_name=s3.region_name,
            addressing_style=s3.addressing_style,
            connect_timeout=s3.connect_timeout,
            read_timeout=s3.read_timeout,
            max_pool_connections=max(s3.max_pool_connections, self.s3_request_bound or 0),
            chunk_size=s3.chunk_size,
        )

    @property
    def request_deadline(self) -> float:
        """Seconds a request may spend on S3: at least one whole attempt."""
        if self.safety.deadline is not None:
            return self.safety.deadline
        return max(_POLICY.deadline, self.s3.connect_timeout + self.s3.read_timeout)

    @property
    def policy(self) -> Policy:
        return Policy(
            max_attempts=self.safety.max_attempts,
            deadline=self.request_deadline,
            breaker_failures=self.safety.breaker_failures,
            breaker_cooldown=self.safety.breaker_cooldown,
        )

    @property
    def s3_request_bound(self) -> int | None:
        """The requests that may wait on S3 at once, or None for no bound.

        Below the server's threads, so the app always keeps threads of its
        own: three quarters of them, and 3 of waitress's default 4 when the
        thread count is not known; in a gevent or eventlet worker, three
        quarters of its connections (:func:`~s3wsgi.stores.green.server_concurrency`).
        """
        if self.safety.max_s3_requests is not None:
            return self.safety.max_s3_requests or None
        threads = self._server_concurrency
        return max(1, threads - max(1, threads // 4))

    @property
    def _server_concurrency(self) -> int:
        """The requests the server runs at once: its threads, or a green
        worker's connections, or waitress's default 4."""
        return self.safety.server_threads or server_concurrency() or 4

    @property
    def s3_request_waiters(self) -> int:
        """The requests that may wait for a turn at once and still leave the
        app a thread that none of them holds (of waitress's default 4 when
        the thread count is not known)."""
        bound = self.s3_request_bound
        if bound is None:
            return 0
        return max(0, self._server_concurrency - bound - 1)


@dataclass(frozen=True)
class Flat:
    """One option by its flat name, as text settings, variables and flags
    name it: where its value lives, and how it is given as text.

    :param group: the :class:`Options` field of its group, None for a
        top-level option.
    :param attr: its field there (in the group, or in Options).
    :param merged: it has no field of its own but sets ``attr`` by a rule:
        ``client`` is given as ``store``, ``immutable_hashed`` turns on
        ``hashed_pattern`` with s3wsgi publish's pattern.
    """

    name: str
    group: str | None
    attr: str
    default: Any
    hint: Any
    help: str
    section: str
    flag: str
    choices: tuple[str, ...] | None
    command_line: bool
    merged: bool = False


# Each group's field of Options, by name.
GROUP_OF: dict[str, type[Any]] = {
    spec.name: type(spec.default)
    for spec in dataclasses.fields(Options)
    if type(spec.default) in GROUPS
}


def _flat(
    spec: dataclasses.Field[Any], hint: Any, group: str | None, name: str, section: str
) -> Flat:
    return Flat(
        name=name,
        group=group,
        attr=spec.name,
        default=spec.default,
        hint=hint,
        help=spec.metadata["help"],
        section=section,
        flag=spec.metadata["flag"] or "--" + name.replace("_", "-"),
        choices=spec.metadata["choices"],
        command_line=spec.metadata["command_line"],
    )


# The flat names that set another option's field, each just before or
# after the field it sets.
_MERGED_BEFORE = {
    "hashed_pattern": Flat(
        name="immutable_hashed",
        group="published",
        attr="hashed_pattern",
        default=False,
        hint=bool,
        help="true: hashed_pattern is the one s3wsgi publish uses (a hashed_pattern given"
        " turns immutable answers on by itself)",
        section=Published.HEADING,
        flag="--immutable-hashed",
        choices=None,
        command_line=True,
        merged=True,
    )
}
_MERGED_AFTER = {
    "store": Flat(
        name="client",
        group=None,
        attr="store",
        default=None,
        hint=Any,
        help="a ready boto3 S3 client, the same as store=client: the boto3 store, with the"
        " client's own timeouts",
        section=S3_STORE,
        flag="--client",
        choices=None,
        command_line=False,
        merged=True,
    )
}


def _flats() -> dict[str, Flat]:
    """Every option by its flat name, in the order of the docs' table."""
    flats: dict[str, Flat] = {}
    hints = typing.get_type_hints(Options)
    for spec in dataclasses.fields(Options):
        cls = GROUP_OF.get(spec.name)
        if cls is None:
            listed = [_flat(spec, hints[spec.name], None, spec.name, spec.metadata["group"])]
        else:
            group_hints = typing.get_type_hints(cls)
            listed = [
                _flat(
                    inner,
                    group_hints[inner.name],
                    spec.name,
                    inner.metadata["flat"] or cls.PREFIX + inner.name,
                    cls.HEADING,
                )
                for inner in dataclasses.fields(cls)
            ]
        for each in listed:
            extra = _MERGED_BEFORE.get(each.attr) if each.group else None
            after = _MERGED_AFTER.get(each.attr) if not each.group else None
            flats.update({flat.name: flat for flat in (extra, each, after) if flat is not None})
    return flats


FIELDS: dict[str, Flat] = _flats()

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


def given_names(keywords: Mapping[str, object]) -> set[str]:
    """The flat names that keywords give: their own, and each of a group
    given whole (so that no ``S3WSGI_*`` variable adds to a group given)."""
    names: set[str] = set()
    for name, value in keywords.items():
        cls = GROUP_OF.get(name)
        if cls is not None and isinstance(value, cls):
            names.update(flat.name for flat in FIELDS.values() if flat.group == name)
        else:
            names.add(name)
    return names


def _fields_from(keywords: Mapping[str, Any]) -> dict[str, Any]:
    """The value of each field of :class:`Options` from the keywords: a
    group given whole, or its default with the fields its flat names give."""
    groups: dict[str, Any] = {}
    flats: dict[str, Any] = {}
    for name, value in keywords.items():
        cls = GROUP_OF.get(name)
        if cls is not None and (isinstance(value, cls) or name not in FIELDS):
            if not isinstance(value, cls):
                raise ValueError(f"{name} must be a {cls.__name__}, not {value!r}")
            groups[name] = value
        elif name in FIELDS:
            flats[name] = value
        else:
            raise TypeError(f"Options got an unexpected keyword argument {name!r}")
    for name in flats:
        group = FIELDS[name].group
        if group in groups:
            raise TypeError(
                f"{group}={type(groups[group]).__name__}(...) and {name} given together:"
                f" give the group or its flat names, not both"
            )
    values: dict[str, Any] = {spec.name: spec.default for spec in dataclasses.fields(Options)}
    values.update(groups)
    changes: dict[str, dict[str, Any]] = {}
    for name, value in flats.items():
        flat = FIELDS[name]
        if flat.merged:
            continue
        if flat.group is None:
            values[name] = value
        else:
            changes.setdefault(flat.group, {})[flat.attr] = value
    for group, change in changes.items():
        values[group] = dataclasses.replace(values[group], **change)
    # immutable_hashed: s3wsgi publish's pattern, unless one is given.
    published = values["published"]
    on = _checked(FIELDS["immutable_hashed"], flats.get("immutable_hashed", False))
    if on and published.hashed_pattern is None:
        values["published"] = dataclasses.replace(published, hashed_pattern=HASHED_PATTERN)
    if flats.get("client") is not None:
        values["store"] = _with_client(values["store"], flats["client"])
    return values


def _with_client(store: object, client: object) -> object:
    """``store`` once ``client`` is given: the client, where it can serve."""
    if not isinstance(store, str):
        raise ValueError("client does nothing with a ready store: give it to the store")
    if store == "obstore":
        raise ValueError("client: a boto3 client needs store='boto3' (or 'auto')")
    if store not in ("auto", "boto3"):
        return store  # refused as it is, by its own name
    if not _is_client(client):
        raise ValueError(f"client must be a boto3 S3 client: {client!r}")
    return client


def ready_client(options: Options) -> Any:
    """The boto3 client given as ``store`` (or as ``client``), or None."""
    store = options.store
    return None if isinstance(store, str) or is_ready_store(store) else store


def is_ready_store(store: object) -> bool:
    """Whether ``store`` is a store object (not a name, not a client)."""
    return callable(getattr(store, "get", None)) and callable(getattr(store, "head", None))


def _is_client(client: object) -> bool:
    return callable(getattr(client, "get_object", None)) and callable(
        getattr(client, "head_object", None)
    )


def flat_value(options: Options, name: str) -> Any:
    """The value of the option of this flat name (a merged one's field's)."""
    flat = FIELDS[name]
    holder = options if flat.group is None else getattr(options, flat.group)
    return getattr(holder, flat.attr)


def _checked_field(name: str, given: object) -> object:
    """A field of :class:`Options`, each value of the type of its option."""
    if name not in GROUP_OF:
        return _checked(FIELDS[name], given)
    changes = {
        flat.attr: _checked(flat, getattr(given, flat.attr))
        for flat in FIELDS.values()
        if flat.group == name and not flat.merged
    }
    return dataclasses.replace(cast(Any, given), **changes)


def _kind(flat: Flat) -> type | None:
    """The type of an option's text-convertible value (``int`` for
    ``int | None``), or None for the others (headers, callables, objects)."""
    hint = flat.hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        arguments = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = arguments[0] if len(arguments) == 1 else None
    return hint if hint in (bool, int, float, str) else None


def _checked(flat: Flat, value: Any) -> Any:
    """A value of the option's type, else a ValueError naming the option."""
    name = flat.name
    if value is None and flat.default is None:
        return None
    if name == "headers":
        return _header_pairs(value)
    if name in ("redirects", "version_aliases"):
        return _pairs(name, value)
    if name == "authorize":
        if not callable(value):
            raise ValueError("authorize must be callable(environ) -> bool | str | Response")
        return value
    kind = _kind(flat)
    if kind is None:
        return value  # store and metrics: checked with the other options
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{name} must be {_KIND_WORDS[kind]}, not {value!r}")
    if flat.choices and value not in flat.choices:
        raise ValueError(f"{name} must be one of {', '.join(flat.choices)}: not {value!r}")
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
    return bool(flat_value(options, name) != FIELDS[name].default)


def _check_combinations(options: Options) -> None:
    """Refuse what cannot work, and what would silently do nothing."""
    _check_store(options)
    if not options.prefix.startswith("/"):
        raise ValueError(f"prefix must start with '/': {options.prefix!r}")
    if not options.index_document or "/" in options.index_document:
        raise ValueError(f"index_document must be a file name: {options.index_document!r}")
    if options.fallthrough and options.error_document:
        raise ValueError("error_document does nothing with fallthrough: choose one")
    if options.spa_fallback and options.fallthrough:
        raise ValueError("spa_fallback and fallthrough both claim missing keys: choose one")
    _check_hosted(options)
    _check_s3(options)
    metrics = options.observe.metrics
    if not isinstance(metrics, bool) and not callable(getattr(metrics, "register", None)):
        raise ValueError(
            f"metrics must be true, false or a prometheus_client registry: {metrics!r}"
        )
    cache = options.cache
    if cache.max_bytes < 0 or cache.max_object_bytes < 0:
        raise ValueError("cache_max_bytes and cache_max_object_bytes must not be negative")
    if not cache.max_bytes:
        for name in ("cache_ttl", "cache_max_object_bytes"):
            if _given(options, name):
                raise ValueError(f"{name} does nothing without cache_max_bytes")


def _check_store(options: Options) -> None:
    store = options.store
    if isinstance(store, str):
        if store not in (FIELDS["store"].choices or ()):
            raise ValueError(f"store must be 'auto', 'obstore', 'boto3' or a store: {store!r}")
    elif is_ready_store(store):
        for name in STORE_MAKING:
            if name != "client" and _given(options, name):
                raise ValueError(f"{name} does nothing with a ready store: give it to the store")
        # What each feature asks of a store (stores.base.ListingStore).
        for feature, method in (("listing", "list"), ("redirect_over_bytes", "presign")):
            if _given(options, feature) and not callable(getattr(store, method, None)):
                raise ValueError(f"{feature} needs a store with a {method}() method")
        return
    elif not _is_client(store):
        raise ValueError(
            f"store must be 'auto', 'obstore', 'boto3', a store or a boto3 client: {store!r}"
        )
    if not options.bucket:
        raise ValueError("bucket: a bucket name is required")


def _check_hosted(options: Options) -> None:
    if not 1 <= options.listing.page_size <= 1000:
        raise ValueError("listing_page_size must be between 1 and 1000")
    downloads = options.downloads
    if downloads.over_bytes is not None and downloads.over_bytes < 0:
        raise ValueError("redirect_over_bytes must not be negative")
    if not 1 <= downloads.expires <= 7 * 24 * 3600:
        raise ValueError("presign_expires must be between 1 second and 7 days (S3's limit)")
    if not options.versions.enabled:
        for name in ("version_aliases", "default_version"):
            if _given(options, name):
                raise ValueError(f"{name} does nothing without versions")
    for name in ("spa_fallback", "redirects_file"):
        key = flat_value(options, name)
        if key is not None and (not key.strip("/") or "//" in key or ".." in key.split("/")):
            raise ValueError(f"{name} must be a key under key_prefix: {key!r}")
    if options.published.hashed_pattern is not None:
        compile_hashed_pattern(options.published.hashed_pattern, "hashed_pattern")
    if options.published.files_ttl < 0:
        raise ValueError("site_files_ttl must not be negative")


def _check_s3(options: Options) -> None:
    s3, safety = options.s3, options.safety
    if s3.chunk_size < 64 * 1024:
        raise ValueError("chunk_size must be at least 64 KiB (65536)")
    for name in ("connect_timeout", "read_timeout", "breaker_cooldown", "cache_ttl"):
        if flat_value(options, name) < 0:
            raise ValueError(f"{name} must not be negative")
    if safety.send_timeout <= 0:
        raise ValueError("send_timeout must be positive")
    for name in ("max_attempts", "breaker_failures", "max_pool_connections"):
        if flat_value(options, name) < 1:
            raise ValueError(f"{name} must be at least 1")
    attempt = s3.connect_timeout + s3.read_timeout
    if safety.deadline is not None and safety.deadline < attempt:
        raise ValueError(
            f"deadline ({safety.deadline:g} s) must be at least connect_timeout +"
            f" read_timeout ({attempt:g} s): one whole attempt"
        )
    threads, bound = safety.server_threads, safety.max_s3_requests
    if threads is not None and threads < 1:
        raise ValueError("server_threads must be at least 1")
    if bound is not None and bound < 0:
        raise ValueError("max_s3_requests must not be negative (0: no bound)")
    if threads is not None and bound and bound > threads:
        raise ValueError(
            f"max_s3_requests ({bound}) must not exceed server_threads ({threads}):"
            " leave the app threads of its own"
        )


def convert(name: str, value: object, *, label: str | None = None) -> object:
    """One option's value, by its flat name: text is converted, anything
    else is kept as it is.

    :param label: what the user wrote to set it (e.g. ``S3WSGI_READ_TIMEOUT``
        or ``--read-timeout``), for error messages; the option's name by default.
    """
    label = label or name
    name = ALIASES.get(name, name)
    group = GROUP_OF.get(name)
    if group is not None and isinstance(value, group):
        return value  # a group object, in settings that Python writes
    if name not in FIELDS:
        raise ValueError(f"{label}: unknown option (known: {', '.join(FIELDS)})")
    if not isinstance(value, str):
        return value
    flat = FIELDS[name]
    if not value.strip() and flat.default is None:
        return None
    parse = _PARSERS.get(name)
    if parse is not None:
        return parse(label, value)
    if flat.choices:
        if value.strip() not in flat.choices:
            raise ValueError(f"{label}: {value.strip()!r} is not one of {', '.join(flat.choices)}")
        return value.strip()
    kind = _kind(flat)
    if kind is None:
        raise ValueError(f"{label}: cannot be given as text")
    return {bool: to_bool, int: to_int, float: to_float, str: to_str}[kind](label, value)


def convert_settings(settings: Mapping[str, object]) -> dict[str, Any]:
    """Keyword options from ``name -> value`` (flat names): text converted,
    the rest kept."""
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
        if name in FIELDS and name not in skipped and FIELDS[name].command_line:
            taken[name] = convert(name, str(value), label=environ_name(name))
    return taken


def environ_name(name: str) -> str:
    """The variable that sets ``name``: ``key_prefix`` -> ``S3WSGI_KEY_PREFIX``."""
    return ENVIRON_PREFIX + name.upper()


def flag(name: str) -> str:
    """The command line's flag for an option."""
    return FIELDS[name].flag


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


def keyword(name: str) -> str:
    """How an option is given as a keyword: ``bucket=`` or, in a group,
    ``Cache(ttl=)``; a merged one as the field it sets."""
    flat = FIELDS[name]
    if flat.group is None:
        return f"{flat.attr}="
    return f"{GROUP_OF[flat.group].__name__}({flat.attr}=)"


def options_table() -> str:
    """The reStructuredText table of every option, by group, for the docs:
    its flat name, its keyword, its default, its flag and its meaning."""
    rows = []
    section = None
    for name, flat in FIELDS.items():
        if flat.section != section:
            section = flat.section
            heading = ""
            if flat.group is not None:
                heading = f"``{flat.group}={GROUP_OF[flat.group].__name__}(...)``"
            rows.append((f"**{section}**", heading, "", "", ""))
        where = f"``{flat.flag}``" if flat.command_line else "(Python only)"
        rows.append(
            (
                f"``{name}``",
                f"``{keyword(name)}``",
                f"``{shown_default(name)}``",
                where,
                flat.help,
            )
        )
    header = ("option (flat name)", "keyword", "default", "flag", "meaning")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    rule = " ".join("=" * width for width in widths)
    lines = [rule, " ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(), rule]
    for row in rows:
        lines.append(" ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    lines.append(rule)
    return "\n".join(lines) + "\n"


def command_line_options() -> Iterable[str]:
    """The options ``s3wsgi serve`` offers as flags, in the table's order."""
    return (name for name, flat in FIELDS.items() if flat.command_line)

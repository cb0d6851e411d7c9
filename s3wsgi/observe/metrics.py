"""Prometheus series of each mount (``metrics=True``; the ``metrics`` extra).

This module is the only one that imports ``prometheus_client``, and it is
imported only when a mount has ``metrics`` on. Every series carries the
mount's prefix as its ``mount`` label; docs/observability.rst lists them.

Under a server that forks workers (gunicorn), set ``PROMETHEUS_MULTIPROC_DIR``
as prometheus-client documents: each process then writes its values to that
folder, :func:`metrics_app` reads them all, and the gauges say how the
processes' values combine (the cache's bytes add up; the breaker's state is
the worst of the live processes').
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from .context import Request
from .outcomes import CACHE_RESULTS, OUTCOMES

# Seconds: from a cache hit's tenth of a millisecond to a slow S3's
# timeouts.
SECONDS_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)

# What an answer was, by its status; any other status of 400 or more is an error.
KINDS = {200: "object", 206: "range", 304: "not_modified", 301: "redirect", 204: "options"}
ERROR_KIND = "error"

# The circuit breaker's states as the gauge gives them.
BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}

OPERATIONS = ("get", "head")


class Families:
    """s3wsgi's series in one registry."""

    def __init__(self, registry: Any):
        def counter(name, help, labels=()):
            return Counter(name, help, ["mount", *labels], registry=registry)

        def seconds(name, help, labels=()):
            return Histogram(
                name, help, ["mount", *labels], buckets=SECONDS_BUCKETS, registry=registry
            )

        def gauge(name, help, mode):
            return Gauge(name, help, ["mount"], multiprocess_mode=mode, registry=registry)

        self.requests = counter(
            "s3wsgi_requests", "Answers to claimed requests", ("kind", "status_class")
        )
        self.first_byte = seconds(
            "s3wsgi_time_to_first_byte_seconds",
            "From a claimed request's arrival to its status, headers and first body bytes",
        )
        self.sent = counter("s3wsgi_sent_bytes", "Body bytes handed to the server")
        self.s3_requests = counter(
            "s3wsgi_s3_requests", "S3 requests (attempts), by outcome", ("operation", "outcome")
        )
        self.s3_seconds = seconds(
            "s3wsgi_s3_request_duration_seconds",
            "One S3 request until its answer (a GET's first body chunk included)",
            ("operation",),
        )
        self.cache_lookups = counter(
            "s3wsgi_cache_lookups", "Object cache lookups: hit, miss, revalidation", ("result",)
        )
        self.cache_evictions = counter(
            "s3wsgi_cache_evictions", "Objects dropped to keep the cache in its bound"
        )
        self.cache_bytes = gauge(
            "s3wsgi_cache_size_bytes", "Bytes the object cache holds", mode="livesum"
        )
        self.breaker_state = gauge(
            "s3wsgi_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open", "livemax"
        )
        self.breaker_refused = counter(
            "s3wsgi_breaker_refused", "S3 requests the open circuit breaker answered (503)"
        )
        self.bound_refused = counter(
            "s3wsgi_bound_refused", "Claimed requests refused (503): every S3 turn taken"
        )


_families: weakref.WeakKeyDictionary[Any, Families] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def families(registry: Any = None) -> Families:
    """The series in ``registry`` (prometheus-client's default one if None),
    registered on first use: every mount shares them."""
    registry = REGISTRY if registry is None else registry
    with _lock:
        found = _families.get(registry)
        if found is None:
            found = _families[registry] = Families(registry)
        return found


def for_mount(mount: str, registry: Any = None) -> MountMetrics:
    return MountMetrics(families(registry), mount)


class MountMetrics:
    """One mount's series, their labelled children looked up once."""

    def __init__(self, families: Families, mount: str):
        self.mount = mount
        self._families = families
        self._requests: dict[tuple[str, str], Any] = {}
        self.first_byte = families.first_byte.labels(mount)
        self.sent = families.sent.labels(mount)
        self._s3_requests = {
            (operation, outcome): families.s3_requests.labels(mount, operation, outcome)
            for operation in OPERATIONS
            for outcome in OUTCOMES
        }
        self._s3_seconds = {
            operation: families.s3_seconds.labels(mount, operation) for operation in OPERATIONS
        }
        self.cache_lookups = {
            result: families.cache_lookups.labels(mount, result) for result in CACHE_RESULTS
        }
        self.cache_evictions = families.cache_evictions.labels(mount)
        self.cache_bytes = families.cache_bytes.labels(mount)
        self.breaker_state = families.breaker_state.labels(mount)
        self.breaker_refused = families.breaker_refused.labels(mount)
        self.bound_refused = families.bound_refused.labels(mount)

    def answered(self, request: Request, answer: Any, seconds: float) -> None:
        """Count an answer; its body counts its bytes as the server takes them."""
        status = int(answer.status)
        kind = KINDS.get(status) or (ERROR_KIND if status >= 400 else "other")
        key = (kind, f"{status // 100}xx")
        child = self._requests.get(key)
        if child is None:
            child = self._requests[key] = self._families.requests.labels(self.mount, *key)
        child.inc()
        self.first_byte.observe(seconds)
        environ = request.environ or {}
        if environ.get("REQUEST_METHOD") != "HEAD":
            answer.body = Counted(answer.body, self.sent)

    def s3_request(self, operation: str, outcome: str, seconds: float) -> None:
        self._s3_requests[operation, outcome].inc()
        self._s3_seconds[operation].observe(seconds)

    def breaker(self, state: str) -> None:
        self.breaker_state.set(BREAKER_STATES[state])


class Counted:
    """A body that adds the length of each chunk to a counter as it passes."""

    __slots__ = ("_body", "_counter")

    def __init__(self, body: Any, counter: Any):
        self._body = body
        self._counter = counter

    def __iter__(self):
        add = self._counter.inc
        for chunk in self._body:
            add(len(chunk))
            yield chunk

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()


def metrics_app(registry: Any = None):
    """A WSGI app answering GET with the series in Prometheus' text format.

    :param registry: where the series are (prometheus-client's default
        registry if None). With ``PROMETHEUS_MULTIPROC_DIR`` set, the values
        every process wrote there instead.
    """
    from prometheus_client import make_wsgi_app

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return make_wsgi_app(REGISTRY if registry is None else registry)

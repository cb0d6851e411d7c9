"""Prometheus series of each mount (``metrics=True``; the ``metrics`` extra).

This module is the only one that imports ``prometheus_client``, and it is
imported only when a mount has ``metrics`` on. Every series carries the
mount's prefix as its ``mount`` label; docs/observability.rst lists them.

Counting costs a request no lock: each thread adds to counts of its own
(:class:`Tally`), and they reach prometheus-client's counters and
histograms when they are read: a scrape of the registry first adds what
each thread counted since the last one. A lock per count, as
prometheus-client takes, cost a loaded server's threads a tenth of their
requests (benchmarks/observe.py).

Under a server that forks workers (gunicorn), set ``PROMETHEUS_MULTIPROC_DIR``
as prometheus-client documents: each process then writes its values to that
folder, every second and as it exits, :func:`metrics_app` reads them all,
and the gauges say how the processes' values combine (the cache's bytes add
up; the breaker's state is the worst of the live processes').
"""

from __future__ import annotations

import atexit
import itertools
import math
import os
import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Literal
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from ..stores.context import Request
from ..stores.outcomes import CACHE_RESULTS, OUTCOMES

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from ..http.responses import Response

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

OPERATIONS = ("get", "head", "list")

# How often a process of several writes its counts for the others' scrapes.
FLUSH_SECONDS = 1.0

_slots = itertools.count()


class Tally:
    """Counts each thread adds to on its own, in slots: no lock on the way,
    and no count lost to another thread's. :meth:`totals` sums them.

    A thread's counts outlive it (in ``retired``), so a server that makes a
    thread per request keeps one set of counts, not one per request.
    """

    def __init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        """Start from nothing, as a forked child does: its parent's counts are
        the parent's."""
        self._lock = threading.Lock()
        self._local = threading.local()
        self._threads: list[dict[int, float]] = []
        self._retired: dict[int, float] = {}

    def counts(self) -> dict[int, float]:
        """This thread's counts: ``counts[slot] = counts.get(slot, 0) + n``."""
        counts = getattr(self._local, "counts", None)
        if counts is None:
            counts = {}
            with self._lock:
                self._threads.append(counts)
            self._local.counts = counts
            # Dropped with the thread's locals when the thread ends.
            self._local.holder = holder = _Holder()
            weakref.finalize(holder, self._retire, counts)
        return counts

    def _retire(self, counts: dict[int, float]) -> None:
        with self._lock:
            if any(each is counts for each in self._threads):
                self._threads = [each for each in self._threads if each is not counts]
                _add(self._retired, counts)

    def totals(self) -> dict[int, float]:
        with self._lock:
            totals = dict(self._retired)
            for counts in self._threads:
                _add(totals, counts.copy())  # one step: its thread may be counting
        return totals


class _Holder:
    """What a thread's locals hold so that its end can be seen."""


def _add(totals: dict[int, float], counts: dict[int, float]) -> None:
    for slot, value in counts.items():
        totals[slot] = totals.get(slot, 0) + value


TALLY = Tally()


class _CounterSlot:
    """A counter child fed from one slot."""

    __slots__ = ("slot", "child")

    def __init__(self, child: Counter):
        self.slot = next(_slots)
        self.child = child

    def add(self, amount: float = 1) -> None:
        counts = TALLY.counts()
        slot = self.slot
        counts[slot] = counts.get(slot, 0) + amount

    def push(self, totals: dict[int, float], pushed: dict[int, float]) -> None:
        total = totals.get(self.slot, 0)
        delta = total - pushed.get(self.slot, 0)
        if delta:
            self.child.inc(delta)
            pushed[self.slot] = total


class _HistogramSlots:
    """A histogram child fed from two slots per bucket: its count and its sum."""

    __slots__ = ("base", "bounds", "child")

    def __init__(self, child: Histogram, bounds: tuple[float, ...]):
        self.bounds = (*bounds, math.inf)
        self.base = next(_slots)
        for _ in range(2 * len(self.bounds) - 1):
            next(_slots)
        self.child = child

    def observe(self, value: float) -> None:
        self.add_to(TALLY.counts(), value)

    def add_to(self, counts: dict[int, float], value: float) -> None:
        slot = self.base + 2 * bisect_left(self.bounds, value)
        counts[slot] = counts.get(slot, 0) + 1
        counts[slot + 1] = counts.get(slot + 1, 0) + value

    def push(self, totals: dict[int, float], pushed: dict[int, float]) -> None:
        """Each bucket's new observations, observed as that many of their
        mean, which lies in the bucket too: the counts and the sum come out
        exact."""
        lower = -math.inf
        for index, upper in enumerate(self.bounds):
            slot = self.base + 2 * index
            count = totals.get(slot, 0)
            new = int(count - pushed.get(slot, 0))
            if new:
                added = totals.get(slot + 1, 0) - pushed.get(slot + 1, 0)
                mean = min(max(added / new, math.nextafter(lower, math.inf)), upper)
                for _ in range(new):
                    self.child.observe(mean)
                pushed[slot] = count
                pushed[slot + 1] = totals.get(slot + 1, 0)
            lower = upper


class Families:
    """s3wsgi's series in one registry, and what feeds them from the tally."""

    def __init__(self, registry: CollectorRegistry):
        self.targets: list[_CounterSlot | _HistogramSlots] = []
        self._pushed: dict[int, float] = {}
        self._lock = threading.Lock()
        # First: a scrape of the registry adds the threads' counts before
        # it reads the series.
        registry.register(_Flush(self))

        def counter(name: str, help: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, help, ["mount", *labels], registry=registry)

        def seconds(name: str, help: str, labels: tuple[str, ...] = ()) -> Histogram:
            return Histogram(
                name, help, ["mount", *labels], buckets=SECONDS_BUCKETS, registry=registry
            )

        def gauge(name: str, help: str, mode: Literal["livesum", "livemax"]) -> Gauge:
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

    def counter_slot(self, family: Counter, *labels: str) -> _CounterSlot:
        slot = _CounterSlot(family.labels(*labels))
        with self._lock:
            self.targets.append(slot)
        return slot

    def histogram_slots(self, family: Histogram, *labels: str) -> _HistogramSlots:
        slots = _HistogramSlots(family.labels(*labels), SECONDS_BUCKETS)
        with self._lock:
            self.targets.append(slots)
        return slots

    def flush(self) -> None:
        """Add what the threads counted since the last flush to the series."""
        with self._lock:
            totals = TALLY.totals()
            for target in self.targets:
                target.push(totals, self._pushed)

    def forget(self) -> None:
        """In a forked child: what its parent pushed stays in the series."""
        self._lock = threading.Lock()
        self._pushed = {}


class _Flush:
    """A collector with no series of its own: collecting it flushes."""

    def __init__(self, families: Families):
        self._families = weakref.ref(families)

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> list[Metric]:
        families = self._families()
        if families is not None:
            families.flush()
        return []


_families: weakref.WeakKeyDictionary[CollectorRegistry, Families] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def families(registry: CollectorRegistry | None = None) -> Families:
    """The series in ``registry`` (prometheus-client's default one if None),
    registered on first use: every mount shares them."""
    registry = REGISTRY if registry is None else registry
    with _lock:
        found = _families.get(registry)
        if found is None:
            found = _families[registry] = Families(registry)
        return found


def flush_all() -> None:
    with _lock:
        every = list(_families.values())
    for each in every:
        each.flush()


def for_mount(mount: str, registry: CollectorRegistry | None = None) -> MountMetrics:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _flush_in_the_background()
    return MountMetrics(families(registry), mount)


class MountMetrics:
    """One mount's series, as the observer counts them."""

    def __init__(self, families: Families, mount: str):
        self.mount = mount
        self._families = families
        self._requests: dict[int, int] = {}  # status -> slot
        self._first_byte = families.histogram_slots(families.first_byte, mount)
        self._sent = families.counter_slot(families.sent, mount)
        self._s3_requests = {
            (operation, outcome): families.counter_slot(
                families.s3_requests, mount, operation, outcome
            )
            for operation in OPERATIONS
            for outcome in OUTCOMES
        }
        self._s3_seconds = {
            operation: families.histogram_slots(families.s3_seconds, mount, operation)
            for operation in OPERATIONS
        }
        self._cache_lookups = {
            result: families.counter_slot(families.cache_lookups, mount, result)
            for result in CACHE_RESULTS
        }
        self._cache_evictions = families.counter_slot(families.cache_evictions, mount)
        self._breaker_refused = families.counter_slot(families.breaker_refused, mount)
        self._bound_refused = families.counter_slot(families.bound_refused, mount)
        self.cache_bytes = families.cache_bytes.labels(mount)
        self.breaker_state = families.breaker_state.labels(mount)

    def answered(self, request: Request, answer: Response, seconds: float) -> None:
        """Count an answer and its body's bytes."""
        status = int(answer.status)
        slot = self._requests.get(status)
        if slot is None:
            kind = KINDS.get(status) or (ERROR_KIND if status >= 400 else "other")
            slot = self._families.counter_slot(
                self._families.requests, self.mount, kind, f"{status // 100}xx"
            ).slot
            self._requests[status] = slot
        counts = TALLY.counts()
        counts[slot] = counts.get(slot, 0) + 1
        self._first_byte.add_to(counts, seconds)
        if request.environ is not None and request.environ.get("REQUEST_METHOD") == "HEAD":
            return
        body = answer.body
        if isinstance(body, (list, tuple)):
            # Bytes in memory (a cached object, a short text): one write.
            sent = self._sent.slot
            counts[sent] = counts.get(sent, 0) + sum(map(len, body))
        else:
            # A stream: counted as the server takes each chunk.
            answer.body = Counted(body, self._sent)

    def s3_request(self, operation: str, outcome: str, seconds: float) -> None:
        self._s3_requests[operation, outcome].add()
        self._s3_seconds[operation].observe(seconds)

    def cache_lookup(self, result: str) -> None:
        self._cache_lookups[result].add()

    def cache_evicted(self) -> None:
        self._cache_evictions.add()

    def breaker_refused(self) -> None:
        self._breaker_refused.add()

    def bound_refused(self) -> None:
        self._bound_refused.add()

    def breaker(self, state: str) -> None:
        self.breaker_state.set(BREAKER_STATES[state])


class Counted:
    """A body that counts each chunk's bytes as it passes."""

    __slots__ = ("_body", "_counter")

    def __init__(self, body: Iterable[bytes], counter: _CounterSlot):
        self._body = body
        self._counter = counter

    def __iter__(self) -> Iterator[bytes]:
        add = self._counter.add
        for chunk in self._body:
            add(len(chunk))
            yield chunk

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()


# The process whose background flush runs (one per process, after a fork too).
_flushing_pid: int | None = None


def _flush_in_the_background() -> None:
    """With ``PROMETHEUS_MULTIPROC_DIR``: this process's counts written every
    :data:`FLUSH_SECONDS` and as it exits, for the scrapes other processes
    answer."""
    global _flushing_pid
    with _lock:
        if _flushing_pid == os.getpid():
            return
        _flushing_pid = os.getpid()

    def flush_forever() -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            flush_all()

    threading.Thread(target=flush_forever, name="s3wsgi-metrics", daemon=True).start()
    atexit.register(flush_all)


def _forget_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    TALLY.forget()
    for each in list(_families.values()):
        each.forget()


os.register_at_fork(after_in_child=_forget_in_child)


def metrics_app(registry: CollectorRegistry | None = None) -> WSGIApplication:
    """A WSGI app answering GET with the series in Prometheus' text format.

    :param registry: where the series are (prometheus-client's default
        registry if None). With ``PROMETHEUS_MULTIPROC_DIR`` set, the values
        every process wrote there instead.
    """
    from prometheus_client import make_wsgi_app

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return make_wsgi_app(REGISTRY if registry is None else registry)
    from prometheus_client import multiprocess

    collected = CollectorRegistry()
    # prometheus-client leaves MultiProcessCollector's __init__ unannotated.
    multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
    exposition: WSGIApplication = make_wsgi_app(collected)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        flush_all()  # this process's counts, up to now
        return exposition(environ, start_response)

    return app

"""The hooks a mount's middleware and stores call as they answer.

One :class:`Observer` per mount (:func:`observer_for` makes it from the
mount's options, and the mount hands it to the stores it makes as their
:class:`~s3wsgi.stores.events.StoreEvents`). It always opens the thread's
request that the log lines of S3's faults read
(:mod:`s3wsgi.stores.context`) and keeps when S3 last answered (for the
health check); with ``metrics`` it counts (:mod:`s3wsgi.observe.metrics`),
with ``server_timing`` it adds the ``Server-Timing`` header
(:mod:`s3wsgi.observe.timing`).

Mounts of one bucket share one store (its cache and its circuit breaker
too): the store keeps the first mount's observer, and each call it makes
counts for the mount whose request it is answering; its breaker's state and
its cache's size show under every mount that shares it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar
from wsgiref.types import WSGIEnvironment

from ..stores import context
from ..stores.base import Clock, ObjectRequest
from ..stores.outcomes import ANSWERED, OK, outcome_of
from . import timing

if TYPE_CHECKING:
    from ..http.responses import Response
    from ..options import Options
    from .metrics import MountMetrics

R = TypeVar("R")


class Observer:
    """What one mount reports.

    :param mount: the mount's prefix, as the metrics label it.
    :param metrics: the mount's series (:class:`~s3wsgi.observe.metrics.MountMetrics`),
        or None to count nothing.
    :param server_timing: add ``Server-Timing`` to every answer.
    """

    def __init__(
        self,
        *,
        mount: str = "/",
        metrics: MountMetrics | None = None,
        server_timing: bool = False,
        clock: Clock = time.monotonic,
    ):
        self.mount = mount
        self.clock = clock
        self.metrics = metrics
        self.server_timing = server_timing
        self.watching = metrics is not None or server_timing
        # When (by clock) S3 last answered through this mount's store.
        self.last_answer: float | None = None
        # The observers of every mount whose store is this one's.
        self.sharing: list[Observer] = [self]

    def share(self, other: Observer) -> None:
        """``other``'s mount reads through this one's store."""
        if other.sharing is self.sharing:
            return
        for observer in other.sharing:
            self.sharing.append(observer)
            observer.sharing = self.sharing

    def _current(self, request: context.Request | None) -> Observer:
        """Whom the store's call counts for: the mount whose request is
        running (``request``), if it shares this store; else this observer's."""
        answering = request.observer if request is not None else None
        if isinstance(answering, Observer) and answering.sharing is self.sharing:
            return answering
        return self

    # -- the middleware's --

    def begin(self, environ: WSGIEnvironment | None) -> context.Request:
        """A claimed request starts: its S3 requests count for it from now."""
        request = context.Request(environ, time.perf_counter(), self)
        context.set_request(request)
        return request

    def end(self, request: context.Request, answer: Response | None) -> None:
        """Its answer is ready (None: handed on to the app)."""
        context.set_request(None)
        if answer is None or not self.watching:
            return
        if self.server_timing:
            value = timing.header_value(request.s3_seconds, request.cache)
            answer.headers.append((timing.HEADER, value))
        if self.metrics is not None:
            self.metrics.answered(request, answer, time.perf_counter() - request.started)

    def bound_refused(self) -> None:
        """Every S3 turn was taken, and none came in time: a 503."""
        if self.metrics is not None:
            self.metrics.bound_refused()

    # -- the resilient store's --

    def attempt(self, call: Callable[[ObjectRequest], R], request: ObjectRequest) -> R:
        """``call(request)``: one attempt at an S3 request, timed and counted."""
        operation = getattr(call, "__name__", "get")
        started = time.perf_counter()
        try:
            answer = call(request)
        except Exception as error:
            self._s3_request(operation, outcome_of(error), time.perf_counter() - started)
            raise
        self._s3_request(operation, OK, time.perf_counter() - started)
        return answer

    def breaker_refused(self) -> None:
        """The open circuit breaker answered for S3."""
        metrics = self._current(context.request()).metrics
        if metrics is not None:
            metrics.breaker_refused()

    def breaker_state(self, state: str) -> None:
        """The store's breaker changed state: so it did for every mount."""
        for observer in self.sharing:
            if observer.metrics is not None:
                observer.metrics.breaker(state)

    def _s3_request(self, operation: str, outcome: str, elapsed: float) -> None:
        if outcome in ANSWERED:
            now = self.clock()
            for observer in self.sharing:
                observer.last_answer = now
        request = context.request()
        if request is not None:
            request.s3_seconds += elapsed
        metrics = self._current(request).metrics
        if metrics is not None:
            metrics.s3_request(operation, outcome, elapsed)

    # -- the object cache's --

    def cache_lookup(self, result: str) -> None:
        """A lookup was a hit, a miss, or a revalidation."""
        request = context.request()
        if request is not None:
            request.cache = result
        metrics = self._current(request).metrics
        if metrics is not None:
            metrics.cache_lookup(result)

    def cache_evicted(self) -> None:
        """An object made room for another, which the current request read."""
        metrics = self._current(context.request()).metrics
        if metrics is not None:
            metrics.cache_evicted()

    def cache_size(self, size: int) -> None:
        """What the kept objects occupy now, in bytes (for every mount that
        shares the cache)."""
        for observer in self.sharing:
            if observer.metrics is not None:
                observer.metrics.cache_bytes.set(size)


def observer_for(options: Options, clock: Clock = time.monotonic) -> Observer:
    """The observer of a mount with these options, to hand to the stores it
    makes (:func:`~s3wsgi.stores.factory.make_store`'s ``events``)."""
    label = options.prefix.rstrip("/") or "/"
    metrics = None
    if options.observe.metrics:
        try:
            from . import metrics as prometheus
        except ImportError as error:
            raise ImportError(
                f"metrics need prometheus-client ({error}): install s3wsgi's 'metrics' extra"
            ) from None
        registry = None if options.observe.metrics is True else options.observe.metrics
        metrics = prometheus.for_mount(label, registry)
    return Observer(
        mount=label, metrics=metrics, server_timing=options.observe.server_timing, clock=clock
    )

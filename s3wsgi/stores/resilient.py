"""Retries within a deadline, and a circuit breaker, around a store.

A store makes one attempt per call; this wrapper decides whether to make
another, the same way for both stores:

- An attempt starts only while the request's budget (the ``deadline``
  option: seconds a request may spend on S3, its calls, retries and wait
  for a turn included) holds a whole attempt, connect plus read timeout; so
  no request waits on S3 longer than its deadline.
- A failed attempt is tried again (up to ``max_attempts`` in all, with
  jittered exponential backoff) when S3 gave no answer, or a 5xx one.
- After ``breaker_failures`` consecutive attempts that got no answer at all
  (refused, reset, timed out), the breaker opens: for ``breaker_cooldown``
  seconds every call fails at once with a 503, without calling S3. Then one
  call goes through as a probe (half-open): an answer from S3 (a 404
  included) closes the breaker, another failure opens it again. Each change
  of state is logged once.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, cast

from ..observe.observer import UNOBSERVED
from .base import (
    Budget,
    Listing,
    ListingStore,
    ObjectRequest,
    OutOfTime,
    S3Object,
    Store,
    StoreError,
    UpstreamError,
)

log = logging.getLogger("s3wsgi")

R = TypeVar("R")

# Backoff before attempt n + 1: up to BASE * 2 ** (n - 1) seconds, jittered.
_BACKOFF_BASE = 0.05
_BACKOFF_CAP = 1.0


@dataclass(frozen=True, slots=True)
class Policy:
    """How hard to try. These defaults are the options' defaults."""

    max_attempts: int = 3
    # Seconds a request may spend on S3 in all.
    deadline: float = 30.0
    breaker_failures: int = 5
    breaker_cooldown: float = 10.0


class Breaker:
    """A circuit breaker: closed, open for a cool-down, then half-open with
    one probe in flight.

    :param failures: consecutive failures that open it.
    :param cooldown: seconds it stays open before a probe is let through.
    :param clock: a monotonic clock, in seconds.
    """

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
    observer = UNOBSERVED  # the mount's, given by s3wsgi.observe.observer.watch

    def __init__(self, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic):
        self.failures = failures
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self.state = self.CLOSED
        self._consecutive = 0
        self._opened_at = 0.0
        self._probing = False

    def admit(self) -> float | None:
        """None when a call may go to S3; else the seconds until one may."""
        if self.state == self.CLOSED:
            return None  # the common case, read without the lock
        with self._lock:
            if self.state == self.CLOSED:
                return None
            if self.state == self.OPEN:
                waited = self._clock() - self._opened_at
                if waited < self.cooldown:
                    return self.cooldown - waited
                self._change(self.HALF_OPEN, "letting one request through to S3 as a probe")
            if self._probing:
                return self.cooldown
            self._probing = True
            return None

    def release(self) -> None:
        """An admitted call did not go to S3 after all."""
        with self._lock:
            self._probing = False

    def succeeded(self) -> None:
        """S3 answered (any answer, a 404 included)."""
        if self.state == self.CLOSED and not self._consecutive and not self._probing:
            return  # nothing to reset: the common case, without the lock
        with self._lock:
            self._consecutive = 0
            self._probing = False
            if self.state != self.CLOSED:
                self._change(self.CLOSED, "S3 answered again")

    def failed(self) -> None:
        """S3 gave no answer: refused, reset, or timed out."""
        with self._lock:
            self._consecutive += 1
            self._probing = False
            if self.state == self.HALF_OPEN or (
                self.state == self.CLOSED and self._consecutive >= self.failures
            ):
                self._opened_at = self._clock()
                self._change(
                    self.OPEN,
                    f"{self._consecutive} S3 requests in a row got no answer; answering 503"
                    f" for {self.cooldown:g} s without asking S3",
                )

    def _change(self, state: str, why: str) -> None:
        self.state = state
        self.observer.breaker_state(state)
        level = logging.WARNING if state == self.OPEN else logging.INFO
        log.log(level, "circuit breaker %s: %s", state, why)


class ResilientStore:
    """A :class:`~s3wsgi.stores.base.Store` that retries ``inner`` within the
    request's deadline, behind a circuit breaker.

    :param inner: a store that makes one attempt per call.
    :param policy: attempts, deadline and breaker settings.
    :param attempt_seconds: the longest one attempt can take (connect plus
        read timeout); an attempt starts only if the budget holds this much.
    """

    observer = UNOBSERVED  # the mount's, given by s3wsgi.observe.observer.watch

    def __init__(
        self,
        inner: Store,
        policy: Policy,
        *,
        attempt_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.inner = inner
        self.policy = policy
        self.attempt_seconds = attempt_seconds
        self.breaker = Breaker(policy.breaker_failures, policy.breaker_cooldown, clock)
        self._clock = clock
        self._sleep = sleep

    def fresh(self, key: str) -> bool:
        """Whether ``inner`` answers ``key`` from memory (a cache's)."""
        fresh = getattr(self.inner, "fresh", None)
        return fresh is not None and fresh(key)

    def get(self, request: ObjectRequest) -> S3Object:
        return self._attempts(self.inner.get, request)

    def head(self, request: ObjectRequest) -> S3Object:
        return self._attempts(self.inner.head, request)

    def list(
        self, prefix: str, *, after: str | None, limit: int, budget: Budget | None = None
    ) -> Listing:
        inner = cast(ListingStore, self.inner)  # s3wsgi's stores can list (a ready one may not)

        def list(_: ObjectRequest) -> Listing:  # named so: the metrics' operation
            return inner.list(prefix, after=after, limit=limit, budget=budget)

        return self._attempts(list, ObjectRequest(prefix, budget=budget))

    def presign(self, key: str, expires: int) -> str:
        """Signed here, without asking S3: no attempt, no breaker."""
        inner = cast(ListingStore, self.inner)  # s3wsgi's stores can sign (a ready one may not)
        return inner.presign(key, expires)

    def _attempts(self, call: Callable[[ObjectRequest], R], request: ObjectRequest) -> R:
        breaker, clock, budget = self.breaker, self._clock, request.budget
        attempt = 0
        while True:
            wait = breaker.admit()
            if wait is not None:
                self.observer.breaker_refused()
                raise UpstreamError(503, retry_after=max(1, math.ceil(wait)))
            if budget is not None and budget.seconds < self.attempt_seconds:
                breaker.release()
                raise OutOfTime()
            attempt += 1
            started = clock()
            try:
                answer = self.observer.attempt(  # timed, counted, logged
                    call,
                    request,
                    attempt,
                    max_attempts=self.policy.max_attempts,
                    attempt_seconds=self.attempt_seconds,
                )
            except UpstreamError as error:
                if error.transport:
                    breaker.failed()
                else:
                    breaker.succeeded()  # S3 answered, if with an error
                failure = error
            except StoreError:
                breaker.succeeded()
                raise
            except BaseException:
                breaker.failed()
                raise
            else:
                breaker.succeeded()
                return answer
            finally:
                if budget is not None:
                    budget.spend(clock() - started)
            if not failure.retryable or attempt >= self.policy.max_attempts:
                raise failure
            backoff = random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (attempt - 1)))
            if budget is not None:
                if budget.seconds < backoff + self.attempt_seconds:
                    raise failure
                budget.spend(backoff)
            self._sleep(backoff)

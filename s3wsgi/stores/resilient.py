"""Retries within a deadline, and a circuit breaker, around a store.

A store makes one attempt per call; this wrapper decides whether to make
another, the same way for both stores:

- An attempt starts only while the request's budget (the ``deadline``
  option: seconds a request may spend on S3, its calls, retries and wait
  for a turn included) holds a whole attempt, connect plus read timeout; so
  no request waits on S3 longer than its deadline.
- A failed attempt is tried again (up to ``max_attempts`` in all, with
  jittered exponential backoff) when S3 gave no answer, or a 5xx one. A
  fault of this process (:class:`~s3wsgi.stores.base.LocalError`) or of
  its configuration (:class:`~s3wsgi.stores.base.ConfigurationError`) is
  never tried again: another attempt would fail the same way.
- After ``breaker_failures`` client requests in a row whose S3 requests got
  no answer at all (refused, reset, timed out), however many attempts each
  made, the breaker opens: every call fails at once with a 503, without
  calling S3, but one call goes through as a probe after a probe interval
  (``breaker_cooldown``, at most :data:`MAX_PROBE_INTERVAL`): an answer
  from S3 (a 404 included) closes the breaker, no answer opens it for
  another interval. So service is back within about a second of S3's
  return, and a down S3 gets at most one probe a second from a process.
"""

from __future__ import annotations

import logging
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, cast

from . import context
from .base import (
    CONFIGURATION_CODES,
    NO_CREDENTIALS,
    REGION,
    Budget,
    ConfigurationError,
    Listing,
    ListingStore,
    LocalError,
    NotFound,
    ObjectRequest,
    OutOfTime,
    S3Object,
    Store,
    StoreError,
    UpstreamError,
)
from .base import ENDPOINT as NOT_S3
from .events import NO_EVENTS, StoreEvents
from .faults import Reported, fault, reporting

log = logging.getLogger("s3wsgi")

R = TypeVar("R")
E = TypeVar("E", bound=StoreError)

# Backoff before attempt n + 1: up to BASE * 2 ** (n - 1) seconds, jittered.
_BACKOFF_BASE = 0.05
_BACKOFF_CAP = 1.0
# The longest the open breaker waits between probes: S3's return is seen
# within this (plus one probe's time), however long S3 was away.
MAX_PROBE_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class Policy:
    """How hard to try. These defaults are the options' defaults."""

    max_attempts: int = 3
    # Seconds a request may spend on S3 in all.
    deadline: float = 30.0
    breaker_failures: int = 5
    breaker_cooldown: float = 1.0


class Breaker:
    """A circuit breaker: closed; open for a probe interval; then half-open
    with one probe in flight, which closes it or opens it again.

    It counts client requests, not attempts: :meth:`failed` is told which
    request (its :class:`~s3wsgi.stores.base.Budget`) got no answer, and a
    request counts once however many attempts and calls it makes.

    :param failures: requests in a row without an answer that open it.
    :param cooldown: seconds between probes while it is open; at most
        :data:`MAX_PROBE_INTERVAL`.
    :param clock: a monotonic clock, in seconds.
    """

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"

    def __init__(
        self,
        failures: int,
        cooldown: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        events: StoreEvents = NO_EVENTS,
    ):
        self.failures = failures
        self.interval = min(cooldown, MAX_PROBE_INTERVAL)
        self._clock = clock
        self._lock = threading.Lock()
        self.state = self.CLOSED
        # Requests without an answer since S3 last answered; each is marked
        # with this run's token, so its other calls and attempts count not.
        self._consecutive = 0
        self._run = object()
        self._opened_at = 0.0  # when the current outage was first seen
        self._probe_due = 0.0
        self._probe: Budget | None = None
        self._probes = 0  # failed probes in the current outage
        self.events = events
        events.breaker_state(self.state)

    def admit(self, request: Budget) -> float | None:
        """None when ``request``'s call may go to S3; else the seconds until
        one may."""
        if self.state == self.CLOSED:
            return None  # the common case, read without the lock
        with self._lock:
            if self.state == self.CLOSED:
                return None
            now = self._clock()
            if self.state == self.OPEN:
                if now < self._probe_due:
                    return self._probe_due - now
                self._change(
                    self.HALF_OPEN,
                    "letting one request through to S3 as a probe",
                    logging.DEBUG if self._probes else logging.INFO,
                )
            if self._probe is not None and self._probe is not request:
                return self.interval
            self._probe = request
            return None

    def release(self, request: Budget) -> None:
        """``request``'s admitted call did not go to S3 after all, or S3's
        answer says nothing of whether it is up."""
        with self._lock:
            if self._probe is request:
                self._probe = None

    def succeeded(self) -> None:
        """S3 answered (any answer, a 404 included)."""
        if self.state == self.CLOSED and not self._consecutive:
            return  # nothing to reset: the common case, without the lock
        with self._lock:
            self._consecutive = 0
            self._run = object()
            self._probe = None
            if self.state != self.CLOSED:
                away = self._clock() - self._opened_at
                self._change(
                    self.CLOSED,
                    f"S3 answered again after {away:.1f} s ({self._probes} probes got no answer)",
                )

    def failed(self, request: Budget) -> None:
        """``request``'s S3 request got no answer: refused, reset, or timed out."""
        with self._lock:
            now = self._clock()
            if self.state == self.CLOSED:
                if request.counted is not self._run:
                    request.counted = self._run
                    self._consecutive += 1
                count = self._consecutive
                if count < self.failures:
                    return
                self._opened_at = now
                self._probes = 0
                level = logging.WARNING
                why = (
                    f"after {count} requests in a row without an answer from S3; answering"
                    f" 503 without asking S3, but for one probe every {self.interval:g} s"
                )
            elif self._probe is request:
                self._probes += 1
                # Once a probe interval while S3 stays away: the opening, the
                # first probe and the closing say it all.
                level = logging.DEBUG
                why = f"the probe got no answer; the next in {self.interval:g} s"
            else:
                return  # admitted before it opened: counted already
            self._probe = None
            self._probe_due = now + self.interval
            self._change(self.OPEN, why, level)

    def _change(self, state: str, why: str, level: int = logging.INFO) -> None:
        self.state = state
        self.events.breaker_state(state)
        log.log(level, "circuit breaker %s: %s", state, why)


class ResilientStore:
    """A :class:`~s3wsgi.stores.base.Store` that retries ``inner`` within the
    request's deadline, behind a circuit breaker.

    :param inner: a store that makes one attempt per call.
    :param policy: attempts, deadline and breaker settings.
    :param attempt_seconds: the longest one attempt can take (connect plus
        read timeout); an attempt starts only if the budget holds this much.
    """

    def __init__(
        self,
        inner: Store,
        policy: Policy,
        *,
        attempt_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        events: StoreEvents = NO_EVENTS,
    ):
        self.inner = inner
        self.policy = policy
        self.attempt_seconds = attempt_seconds
        self.events = events
        self.breaker = Breaker(
            policy.breaker_failures, policy.breaker_cooldown, clock, events=events
        )
        # Configuration mistakes logged at ERROR: once each, until S3 answers.
        self.reported = Reported()
        self._clock = clock
        self._sleep = sleep

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
        # The client request the breaker counts, named by its budget; a call
        # made for none (budget None) is a request of its own.
        caller = budget if budget is not None else Budget(math.inf)
        attempt = 0
        while True:
            wait = breaker.admit(caller)
            if wait is not None:
                self.events.breaker_refused()
                raise UpstreamError(503, retry_after=max(1, math.ceil(wait)))
            if budget is not None and budget.seconds < self.attempt_seconds:
                breaker.release(caller)
                raise OutOfTime()
            attempt += 1
            started = clock()
            previous = reporting(self.reported)
            try:
                # A store that logs its fault finds the attempt in the
                # thread's context (attempt_seconds: whether another follows).
                context.set_attempt(
                    context.Attempt(
                        attempt,
                        self.policy.max_attempts,
                        time.perf_counter(),
                        budget,
                        self.attempt_seconds,
                    )
                )
                answer = self.events.attempt(call, request)  # timed and counted

            except StoreError as error:
                failure = self._classified(error, call, request.key)
            except Exception as error:  # a bug, here or in a store
                failure = self._logged(LocalError(error), call, request.key)
            except BaseException:
                breaker.release(caller)
                raise
            else:
                breaker.succeeded()
                self.reported.forget()
                return answer
            finally:
                context.set_attempt(None)
                reporting(previous)
                if budget is not None:
                    budget.spend(clock() - started)
            if isinstance(failure, (LocalError, ConfigurationError)):
                breaker.release(caller)  # says nothing of whether S3 is up
                raise failure
            if isinstance(failure, UpstreamError) and failure.transport:
                breaker.failed(caller)
            else:
                breaker.succeeded()  # S3 answered, if with an error
                self.reported.forget()
            if (
                not isinstance(failure, UpstreamError)
                or not failure.retryable
                or attempt >= self.policy.max_attempts
            ):
                raise failure
            backoff = random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (attempt - 1)))
            if budget is not None:
                if budget.seconds < backoff + self.attempt_seconds:
                    raise failure
                budget.spend(backoff)
            self._sleep(backoff)

    def _classified(self, error: StoreError, call: Callable[..., object], key: str) -> StoreError:
        """``error`` as what it is: the fast store reports a few faults that
        are not S3's as if S3 had answered them, or had not answered; what
        obstore raised (the context of ``error``) tells them apart."""
        cause = error.__context__
        if cause is None or isinstance(error, (LocalError, ConfigurationError)):
            return error
        found = _what_obstore_meant(error, cause)
        if found is None:
            return error
        found.__context__ = cause
        if isinstance(found, ConfigurationError) and _CODE.search(str(cause)):
            return found  # the store's line, which has S3's code, said it
        return self._logged(found, call, key)

    def _logged(self, failure: E, call: Callable[..., object], key: str) -> E:
        cause = failure.cause if isinstance(failure, LocalError) else failure.__context__
        name = getattr(call, "__name__", "get")
        return fault(
            failure,
            operation=_OPERATIONS.get(name, name),
            bucket=getattr(self.inner, "bucket", None),
            key=key,
            cause=cause,
        )


# What a store's call raises, as the context of its StoreError, for a fault
# of this process rather than S3's: Python's own errors (obstore's
# InvalidPathError, a key it cannot express, is a ValueError).
_LOCAL_EXCEPTIONS = (ValueError, TypeError, AttributeError, LookupError, AssertionError)
# Where an instance's or container's credentials are asked for (EC2's IMDS,
# ECS's endpoint) unless the environment names another; never S3.
_CREDENTIALS_HOSTS = ("http://169.254.169.254", "http://169.254.170.2", "http://[fd00:ec2::254]")
_CREDENTIALS_VARIABLES = ("AWS_METADATA_ENDPOINT", "AWS_CONTAINER_CREDENTIALS_FULL_URI")
_REQUESTED = re.compile(r"Error performing [A-Z]+ (\S+)")
# A web page where S3 would send its XML error document.
_HTML = re.compile(r"status code: \d{3}[^<]*<(?:!doctype html|html)", re.IGNORECASE)
_CODE = re.compile(r"<Code>([^<]*)</Code>")
_WRONG_REGION = "incorrectly configured region"
# The fault lines' names of the calls (faults.OPERATIONS).
_OPERATIONS = {"get": "get_object", "head": "head_object", "list": "list_objects_v2"}


def _what_obstore_meant(error: StoreError, cause: BaseException) -> StoreError | None:
    """The fault of this process or of its configuration that ``error``
    stands for, if its ``cause`` shows one; else None."""
    text = str(cause)
    no_answer = isinstance(error, UpstreamError) and error.transport
    if no_answer and isinstance(cause, _LOCAL_EXCEPTIONS):
        return LocalError(cause)  # e.g. a key obstore cannot express
    if type(cause).__name__ == "GenericError" and _asked_for_credentials(text):
        # Asking the instance's or container's credentials failed (refused,
        # or a 403), which obstore says of the object.
        return ConfigurationError(NO_CREDENTIALS)
    if type(cause).__name__ == "GenericError" and _WRONG_REGION in text:
        return ConfigurationError(REGION)  # S3's redirect to the bucket's region
    if isinstance(error, NotFound) and _HTML.search(text):
        return ConfigurationError(NOT_S3)  # a web page, not S3's 404
    if isinstance(error, UpstreamError) and not error.transport:
        code = _CODE.search(text)
        kind = CONFIGURATION_CODES.get(code.group(1)) if code else None
        if kind is not None:
            return ConfigurationError(kind)
    return None


def _asked_for_credentials(text: str) -> bool:
    """Whether obstore's error ``text`` is of a request for credentials."""
    requested = _REQUESTED.search(text)
    if requested is None:
        return False
    hosts = [*_CREDENTIALS_HOSTS, *filter(None, map(os.environ.get, _CREDENTIALS_VARIABLES))]
    return any(requested.group(1).startswith(host.rstrip("/") + "/") for host in hosts)

"""What this thread is answering: the client request, and the S3 attempt in
flight for it.

A WSGI request is answered on one thread, and its S3 requests are made on
that thread, so what they cost and how they went is kept per thread: the
middleware opens a :class:`Request` (through its mount's observer), the
resilient store an :class:`Attempt` around each S3 request, and a store that
logs a fault reads both (the client's request id, the attempt's number and
time).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING
from wsgiref.types import WSGIEnvironment

if TYPE_CHECKING:
    from .base import Budget

_local = threading.local()


class Request:
    """One client request while the middleware answers it."""

    __slots__ = ("environ", "started", "observer", "s3_seconds", "cache")

    def __init__(self, environ: WSGIEnvironment | None, started: float, observer: object):
        self.environ = environ
        self.started = started
        # The mount answering it, as its observer knows it: whom the thread's
        # S3 requests count for.
        self.observer = observer
        self.s3_seconds = 0.0
        self.cache: str | None = None


class Attempt:
    """One attempt at an S3 request: its number, of how many, and its start
    (``time.perf_counter()``); ``budget`` is the request's
    :class:`~s3wsgi.stores.base.Budget` or None; ``attempt_seconds`` what one
    attempt may take."""

    __slots__ = ("number", "max_attempts", "started", "budget", "attempt_seconds")

    def __init__(
        self,
        number: int,
        max_attempts: int,
        started: float,
        budget: Budget | None,
        attempt_seconds: float,
    ):
        self.number = number
        self.max_attempts = max_attempts
        self.started = started
        self.budget = budget
        self.attempt_seconds = attempt_seconds


def request() -> Request | None:
    return getattr(_local, "request", None)


def set_request(value: Request | None) -> None:
    _local.request = value


def attempt() -> Attempt | None:
    return getattr(_local, "attempt", None)


def set_attempt(value: Attempt | None) -> None:
    _local.attempt = value

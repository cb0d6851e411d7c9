"""A health check that S3's own traffic answers.

A mount is healthy while S3 answers it: when S3 answered one of its
requests in the last ``interval`` seconds (any answer: a 404 or a 304 is
S3 up), the check asks S3 nothing. Otherwise it probes: one HeadObject of
the index document (a missing one is an answer too), through the circuit
breaker and in one attempt, at most once per ``interval`` seconds; between
probes the last one's result stands. While the breaker is open the check
fails at once, without asking S3, until the breaker's probe interval (a
second at most) lets its probe through.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Protocol
from wsgiref.types import StartResponse, WSGIEnvironment

from ..stores.base import (
    Budget,
    ConfigurationError,
    LocalError,
    ObjectRequest,
    StoreError,
    UpstreamError,
)

if TYPE_CHECKING:
    from ..options import Options
    from ..stores.base import Clock
    from ..stores.factory import StoreChain
    from .observer import Observer


class Watched(Protocol):
    """What the health check and the endpoints read of a mount
    (:class:`~s3wsgi.middleware.Mount`): observe/ sits below the
    middleware, and names none of it."""

    options: Options
    key_prefix: str
    index_document: str
    observer: Observer
    clock: Clock
    chain: StoreChain


class HoldsMounts(Protocol):
    """A middleware of several mounts (:class:`~s3wsgi.middleware.S3Middleware`)."""

    @property
    def mounts(self) -> Sequence[Watched]: ...


DEFAULT_INTERVAL = 10.0


class MountHealth:
    """Whether S3 answers one :class:`~s3wsgi.middleware.Mount`.

    :param interval: seconds an answer from S3 vouches for it, and the
        least time between two probes.
    :param clock: a monotonic clock, in seconds (the one the observer's
        ``last_answer`` is in).
    """

    def __init__(
        self,
        mount: Watched,
        *,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.mount = mount
        self.interval = interval
        self._clock = clock
        self._resilient = mount.chain.resilient
        self._probe_key = mount.key_prefix + mount.index_document
        self._probed_at: float | None = None
        self._probed: tuple[bool, str] = (False, "not probed yet")
        self._lock = threading.Lock()

    def check(self, environ: WSGIEnvironment | None = None) -> tuple[bool, str]:
        """(healthy, why) now; ``environ`` is the health request's, for the
        log line of a failed probe."""
        breaker = self._resilient.breaker
        if breaker.state != breaker.OPEN:
            last = self.mount.observer.last_answer
            if last is not None and (age := self._clock() - last) < self.interval:
                return True, f"S3 answered {age:.1f} s ago"
        with self._lock:
            now = self._clock()
            recent = self._probed_at is not None and now - self._probed_at < self.interval
            if recent and breaker.state != breaker.OPEN:
                return self._probed
            self._probed = self._probe(environ)
            self._probed_at = self._clock()
            return self._probed

    def _probe(self, environ: WSGIEnvironment | None) -> tuple[bool, str]:
        observer = self.mount.observer
        # One attempt: the least budget the store starts one with.
        request = ObjectRequest(self._probe_key, budget=Budget(self._resilient.attempt_seconds))
        watched = observer.begin(environ)
        try:
            self._resilient.head(request)
        except ConfigurationError:
            return False, "s3wsgi's configuration is wrong (the log says what to set)"
        except LocalError:
            return False, "a probe failed in s3wsgi, not in S3 (see the log)"
        except UpstreamError as error:
            if self._resilient.breaker.state == self._resilient.breaker.OPEN:
                return False, "the circuit breaker is open"
            return False, f"S3 did not answer a probe ({error.status})"
        except StoreError:
            pass  # a missing index document: S3 answered
        except Exception as error:
            return False, f"a probe failed: {type(error).__name__}"
        finally:
            observer.end(watched, None)
        return True, "S3 answered a probe"


class Health:
    """A WSGI app answering 200 while S3 answers every mount, else 503.

    Its body is one line saying why; it is never cached (``no-store``).

    :param mounts: the :class:`~s3wsgi.middleware.Mount` instances (an
        ``S3Middleware`` or ``S3App`` is one).
    :param interval: see :class:`MountHealth`.
    """

    def __init__(self, mounts: Iterable[Watched], *, interval: float = DEFAULT_INTERVAL):
        self.mounts = [MountHealth(mount, interval=interval, clock=mount.clock) for mount in mounts]

    def check(self, environ: WSGIEnvironment | None = None) -> tuple[bool, str]:
        reasons = []
        for health in self.mounts:
            healthy, why = health.check(environ)
            if not healthy:
                return False, f"{health.mount.observer.mount}: {why}"
            reasons.append(why)
        return True, "; ".join(reasons) or "no mount"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b""]
        healthy, why = self.check(environ)
        status = HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE
        body = f"{'ok' if healthy else 'unavailable'}: {why}\n".encode()
        start_response(
            f"{status.value} {status.phrase}",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [] if method == "HEAD" else [body]

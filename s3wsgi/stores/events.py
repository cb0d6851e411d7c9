"""What the stores report as they work, to whoever made them: a small
protocol, handed to each part of a chain when it is made
(:func:`~s3wsgi.stores.factory.make_store`), so that no part is found or
filled in afterwards. :mod:`s3wsgi.observe.observer` implements it for a
mount (metrics, ``Server-Timing``, the health check's last answer);
:data:`NO_EVENTS` reports nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from .base import ObjectRequest

R = TypeVar("R")


class StoreEvents(Protocol):
    """The calls a chain of stores makes about its work."""

    def attempt(self, call: Callable[[ObjectRequest], R], request: ObjectRequest) -> R:
        """Make one attempt at an S3 request, ``call(request)`` (the call's
        ``__name__`` names the operation): time it, count it."""
        ...

    def breaker_refused(self) -> None:
        """The open circuit breaker answered for S3."""
        ...

    def breaker_state(self, state: str) -> None:
        """The circuit breaker is now ``state`` (also said when it is made)."""
        ...

    def cache_lookup(self, result: str) -> None:
        """A cache lookup was a hit, a miss or a revalidation."""
        ...

    def cache_evicted(self) -> None:
        """An object left the cache to make room."""
        ...

    def cache_size(self, size: int) -> None:
        """What the kept objects occupy now, in bytes."""
        ...


class NoEvents:
    """Reports nothing: the events of a chain nobody watches."""

    def attempt(self, call: Callable[[ObjectRequest], R], request: ObjectRequest) -> R:
        return call(request)

    def breaker_refused(self) -> None:
        pass

    def breaker_state(self, state: str) -> None:
        pass

    def cache_lookup(self, result: str) -> None:
        pass

    def cache_evicted(self) -> None:
        pass

    def cache_size(self, size: int) -> None:
        pass


NO_EVENTS: StoreEvents = NoEvents()

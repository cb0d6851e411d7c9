"""Making the chain of stores a mount reads S3 through, from its options."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .base import Clock, Connection, Store
from .cache import DEFAULT_MAX_OBJECT_BYTES, DEFAULT_TTL, CachingStore
from .events import NO_EVENTS, StoreEvents
from .resilient import Policy, ResilientStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("s3wsgi")


@dataclass(frozen=True, slots=True)
class StoreChain:
    """The stores a mount reads through, each by its name.

    :param reader: the store that makes one attempt per call (boto3's,
        obstore's, or a ready one).
    :param resilient: ``reader`` retried within the deadline, behind the
        circuit breaker: what site files (the manifest, versions.json) are
        read through, past the cache, and what the health check asks.
    :param cache: the object cache over ``resilient``, if there is one.
    :param events: what the chain reports to (the first mount's observer).
    """

    reader: Store
    resilient: ResilientStore
    cache: CachingStore | None
    events: StoreEvents

    @property
    def top(self) -> Store:
        """What objects are read through: the cache, else the resilient store."""
        return self.cache if self.cache is not None else self.resilient

    def fresh(self, key: str) -> bool:
        """Whether ``key`` is answered from memory, without S3."""
        return self.cache is not None and self.cache.fresh(key)


def make_store(
    bucket: str | None,
    connection: Connection,
    policy: Policy,
    *,
    store: str | Store = "auto",
    client: S3Client | None = None,
    cache_max_bytes: int = 0,
    cache_ttl: float = DEFAULT_TTL,
    cache_max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
    events: StoreEvents = NO_EVENTS,
    clock: Clock = time.monotonic,
) -> StoreChain:
    """The chain for these options: boto3's or obstore's store (or a ready
    one), retried within the deadline behind a circuit breaker, then cached;
    each part reports to ``events`` from the start.

    ``store="auto"`` is the fast store wherever it can run (obstore
    installed, no ``client``), else the boto3 store, which it says once in
    the log.
    """
    reader = _reading_store(store, bucket, connection, client) if isinstance(store, str) else store
    resilient = ResilientStore(
        reader,
        policy,
        attempt_seconds=connection.connect_timeout + connection.read_timeout,
        events=events,
        clock=clock,
    )
    cache = None
    if cache_max_bytes:
        cache = CachingStore(
            resilient,
            max_bytes=cache_max_bytes,
            ttl=cache_ttl,
            max_object_bytes=cache_max_object_bytes,
            events=events,
            clock=clock,
        )
    return StoreChain(reader, resilient, cache, events)


def _reading_store(
    kind: str, bucket: str | None, connection: Connection, client: S3Client | None
) -> Store:
    assert bucket, "the options require a bucket without a ready store"
    if kind == "auto" and client is None:
        try:
            from .obstore_store import ObstoreStore
        except ImportError as error:
            log.warning("the fast store cannot run here (%s): reading S3 through boto3", error)
        else:
            return ObstoreStore(bucket, connection)
    if kind == "obstore":
        from .obstore_store import ObstoreStore  # the error says what is missing

        return ObstoreStore(bucket, connection)
    # Imported here: boto3's store costs a fast store's process 13 MiB.
    from .boto3_store import BotoStore

    return BotoStore(bucket, connection, client=client)

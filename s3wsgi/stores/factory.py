"""Making the store a middleware reads S3 through, from its options."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .base import Connection, Store
from .cache import DEFAULT_MAX_OBJECT_BYTES, DEFAULT_TTL, CachingStore
from .resilient import Policy, ResilientStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("s3wsgi")


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
) -> Store:
    """The store for these options: boto3's or obstore's (or a ready one),
    retried within the deadline behind a circuit breaker, then cached.

    ``store="auto"`` is the fast store wherever it can run (obstore
    installed, no ``client``), else the boto3 store, which it says once in
    the log.
    """
    if isinstance(store, str):
        store = _reading_store(store, bucket, connection, client)
    resilient = ResilientStore(
        store, policy, attempt_seconds=connection.connect_timeout + connection.read_timeout
    )
    if not cache_max_bytes:
        return resilient
    return CachingStore(
        resilient,
        max_bytes=cache_max_bytes,
        ttl=cache_ttl,
        max_object_bytes=cache_max_object_bytes,
    )


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

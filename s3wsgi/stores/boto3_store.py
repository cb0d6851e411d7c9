"""The boto3 store: one lazily made client per process, S3's errors mapped
to the store's outcomes, and the object's body streamed in chunks."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator

import boto3
import botocore
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    ReadTimeoutError,
)

from .base import (
    NotFound,
    NotModified,
    PreconditionFailed,
    RangeNotSatisfiable,
    S3Object,
    StoreError,
    UpstreamError,
    forwarded_headers,
)

log = logging.getLogger("s3wsgi")

# S3 answers a missing key with 403 when the caller may not ListBucket; a
# HeadObject error has no body, so only its status is known.
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404", "AccessDenied", "403"})
_THROTTLED_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "503", "RequestLimitExceeded", "Throttling"}
)


class Body:
    """The WSGI iterable of an object's bytes, read in fixed-size chunks.

    ``close()`` drops the S3 connection at once when the body was not read to
    its end (the client went away), so a half-read stream is never reused.
    A fault while reading propagates, so the server aborts the response
    rather than end it early as if it were complete.
    """

    __slots__ = ("_stream", "_chunk_size", "_first")

    def __init__(self, stream, chunk_size: int):
        self._stream = stream
        self._chunk_size = chunk_size
        self._first = b""

    def prefetch(self) -> None:
        """Read the first chunk now: a server sends no status line before the
        first body byte, so a fault here must become an error answer, where
        one raised from the iterable would be a 500."""
        self._first = self._stream.read(self._chunk_size)

    def __iter__(self) -> Iterator[bytes]:
        first, self._first = self._first, b""
        if first:
            yield first
        read = self._stream.read
        size = self._chunk_size
        while chunk := read(size):
            yield chunk

    def close(self) -> None:
        self._stream.close()
        # As requests does: hand the (now closed) connection's slot back to
        # urllib3's pool, which reconnects on next use.
        raw = getattr(self._stream, "_raw_stream", None)
        release = getattr(raw, "release_conn", None)
        if release is not None:
            release()


class BotoStore:
    """Reads one bucket through boto3.

    :param bucket: the bucket's name.
    :param client: a ready boto3 S3 client, used as it is; otherwise one is
        made on first use, once per process (again after a fork: a client's
        connections must not be shared between processes).
    :param connect_timeout, read_timeout, max_attempts: with the defaults, a
        request that S3 never answers fails within 3 x (3 s + 15 s) plus
        backoff: under a minute.
    :param max_pool_connections: at least the server's thread count, so no
        thread waits for, or churns, a connection.
    """

    def __init__(
        self,
        bucket: str,
        *,
        client=None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 15.0,
        max_attempts: int = 3,
        max_pool_connections: int = 32,
        addressing_style: str | None = None,
        chunk_size: int = 256 * 1024,
    ):
        self.bucket = bucket
        self.chunk_size = chunk_size
        self._given_client = client
        self._client = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._client_options = {
            "endpoint_url": endpoint_url,
            "region_name": region_name,
            "config": Config(
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"total_max_attempts": max_attempts, "mode": "standard"},
                max_pool_connections=max_pool_connections,
                s3={"addressing_style": addressing_style} if addressing_style else None,
                # botocore rebuilds its default User-Agent from a dozen parts
                # twice per request (a tenth of its CPU); a fixed one is free.
                user_agent=f"s3wsgi Botocore/{botocore.__version__}",
            ),
        }

    @property
    def client(self):
        if self._given_client is not None:
            return self._given_client
        pid = os.getpid()
        if self._pid != pid:
            with self._lock:
                if self._pid != pid:
                    # A session per client: boto3's default session is not
                    # safe to share between threads while it makes clients.
                    core = botocore.session.get_session()
                    # The store forwards S3's raw headers and never reads the
                    # parsed dates, which cost dateutil another tenth.
                    core.get_component("response_parser_factory").set_parser_defaults(
                        timestamp_parser=str
                    )
                    session = boto3.session.Session(botocore_session=core)
                    self._client = session.client("s3", **self._client_options)
                    self._pid = pid
        return self._client

    def head(self, key: str) -> S3Object:
        response = self._call("head_object", key, {})
        return S3Object(200, forwarded_headers(response["ResponseMetadata"]["HTTPHeaders"]))

    def get(self, key: str, **params) -> S3Object:
        """GetObject with Range / IfMatch / IfNoneMatch / IfModifiedSince /
        IfUnmodifiedSince as given."""
        response = self._call("get_object", key, params)
        metadata = response["ResponseMetadata"]
        body = Body(response["Body"], self.chunk_size)
        try:
            body.prefetch()
        except BotoCoreError as error:
            body.close()
            raise self._transport_error(error, "get_object", key) from None
        return S3Object(
            metadata["HTTPStatusCode"], forwarded_headers(metadata["HTTPHeaders"]), body
        )

    def _call(self, operation: str, key: str, params: dict) -> dict:
        try:
            return getattr(self.client, operation)(Bucket=self.bucket, Key=key, **params)
        except ClientError as error:
            raise self._client_error(error, operation, key) from None
        except BotoCoreError as error:
            raise self._transport_error(error, operation, key) from None

    def _transport_error(self, error: BotoCoreError, operation: str, key: str) -> UpstreamError:
        status = 504 if isinstance(error, (ConnectTimeoutError, ReadTimeoutError)) else 502
        log.error("%s %s/%s failed: %s", operation, self.bucket, key, error)
        return UpstreamError(status)

    def _client_error(self, error: ClientError, operation: str, key: str) -> StoreError:
        details = error.response.get("Error", {})
        code = str(details.get("Code", ""))
        if code in _NOT_FOUND_CODES:
            return NotFound()
        if code in ("304", "NotModified"):
            return NotModified(forwarded_headers(_http_headers(error)))
        if code in ("412", "PreconditionFailed"):
            return PreconditionFailed()
        if code in ("416", "InvalidRange"):
            size = str(details.get("ActualObjectSize", ""))
            return RangeNotSatisfiable(int(size) if size.isdigit() else None)
        log.error(
            "%s %s/%s failed: %s (%s), request id %s",
            operation,
            self.bucket,
            key,
            code,
            details.get("Message", ""),
            error.response.get("ResponseMetadata", {}).get("RequestId", "-"),
        )
        return UpstreamError(503 if code in _THROTTLED_CODES else 502)


def _http_headers(error: ClientError) -> dict[str, str]:
    return error.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})

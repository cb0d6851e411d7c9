"""The boto3 store: one lazily made client per process, S3's errors mapped
to the store's outcomes, and the object's body streamed in chunks.

Each call is one attempt: retries, the deadline and the circuit breaker are
:mod:`s3wsgi.stores.resilient`'s, the same for both stores.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import TYPE_CHECKING, Literal, TypeAlias, TypedDict, cast, overload

import boto3
import botocore
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSOError,
    TokenRetrievalError,
)

from ..http.conditions import range_header
from . import base
from .faults import Where, fault
from .shared import Body, PerProcess, parse_s3_time, readable_headers

if TYPE_CHECKING:
    from botocore.loaders import Loader
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import (
        GetObjectOutputTypeDef,
        HeadObjectOutputTypeDef,
        ListObjectsV2RequestTypeDef,
    )

# S3 website hosting's redirect of an object (read, never forwarded).
_WEBSITE_REDIRECT = "x-amz-website-redirect-location"

# botocore found no credentials, or none it can use: s3wsgi's configuration,
# not S3, is at fault (an instance's metadata service refusing, or out of
# reach, ends in NoCredentialsError).
_NO_CREDENTIALS = (
    NoCredentialsError,
    PartialCredentialsError,
    CredentialRetrievalError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)
# A fault of this process, not S3's: Python's own errors.
_LOCAL = (ValueError, TypeError, AttributeError, LookupError, AssertionError)

# How a client names the bucket in its URLs (botocore's s3 configuration).
AddressingStyle: TypeAlias = Literal["auto", "virtual", "path"]


class _Conditions(TypedDict, total=False):
    """GetObject's and HeadObject's parameters besides the bucket and key."""

    Range: str
    IfMatch: str
    IfNoneMatch: str
    IfModifiedSince: datetime
    IfUnmodifiedSince: datetime


def client_config(connection: base.Connection, *, max_attempts: int = 1) -> Config:
    """botocore's configuration, the same for the store (one attempt per
    call: :mod:`s3wsgi.stores.resilient` retries), ``s3wsgi publish`` and
    the bucket check: one place for what S3-compatible servers need."""
    # The options allow only botocore's styles; botocore refuses any other.
    style = cast("AddressingStyle | None", connection.addressing_style)
    return Config(
        connect_timeout=connection.connect_timeout,
        read_timeout=connection.read_timeout,
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
        max_pool_connections=connection.max_pool_connections,
        s3={"addressing_style": style} if style else None,
        # Presigned URLs as S3 wants them everywhere now (SigV4).
        signature_version="s3v4",
        # botocore rebuilds its default User-Agent from a dozen parts twice
        # per request (a tenth of its CPU); a fixed one is free.
        user_agent=f"s3wsgi Botocore/{botocore.__version__}",
        # Some servers send a checksum on a 304 or a part, and botocore's
        # check of it then fails with a TypeError; s3wsgi needs none.
        response_checksum_validation="when_required",
        request_checksum_calculation="when_required",
    )


def transport_problem(error: BaseException) -> str | None:
    """What kept a request from S3, in a few words, for the lines that the
    bucket check and ``s3wsgi publish`` print; None for other failures."""
    if isinstance(error, NoCredentialsError):
        return (
            "no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or AWS_PROFILE)"
        )
    if isinstance(error, ConnectTimeoutError):
        return "connection timed out"
    if isinstance(error, ReadTimeoutError):
        return "no answer in time"
    if isinstance(error, EndpointConnectionError):
        cause = str(getattr(error, "kwargs", {}).get("error", "")).lower()
        if "refused" in cause:
            return "connection refused"
        if "name or service not known" in cause or "name resolution" in cause:
            return "host name not found"
        return "cannot connect"
    return None


class BotoStore:
    """Reads one bucket through boto3.

    :param bucket: the bucket's name.
    :param connection: how S3 is reached.
    :param client: a ready boto3 S3 client, used as it is (its own timeouts
        and retries); otherwise one is made on first use in each process.
    """

    def __init__(
        self,
        bucket: str,
        connection: base.Connection = base.Connection(),
        *,
        client: S3Client | None = None,
    ):
        self.bucket = bucket
        self.chunk_size = connection.chunk_size
        if client is not None:
            self._client = PerProcess(lambda: client)
        else:
            self._client = PerProcess(lambda: _make_client(connection))

    @property
    def client(self) -> S3Client:
        return self._client.get()

    def head(self, request: base.ObjectRequest) -> base.S3Object:
        response = self._call("head_object", request)
        raw = response["ResponseMetadata"]["HTTPHeaders"]
        headers = readable_headers(base.forwarded_headers(raw), request.key)
        return base.S3Object(200, headers, redirect=raw.get(_WEBSITE_REDIRECT))

    def list(
        self, prefix: str, *, after: str | None, limit: int, budget: base.Budget | None = None
    ) -> base.Listing:
        parameters: ListObjectsV2RequestTypeDef = {
            "Bucket": self.bucket,
            "Prefix": prefix,
            "Delimiter": "/",
            "MaxKeys": limit,
        }
        if after:
            parameters["StartAfter"] = after
        client = self.client
        try:
            response = client.list_objects_v2(**parameters)
        except ClientError as error:
            raise self._client_error(error, "list_objects_v2", prefix) from None
        except Exception as error:
            raise self._no_answer(error, "list_objects_v2", prefix) from None
        objects = [
            base.Listed(
                item["Key"], int(item.get("Size", 0)), parse_s3_time(item.get("LastModified"))
            )
            for item in response.get("Contents", ())
        ]
        folders = [item["Prefix"] for item in response.get("CommonPrefixes", ())]
        return base.Listing(folders, objects, bool(response.get("IsTruncated")))

    def presign(self, key: str, expires: int) -> str:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires
        )

    def get(self, request: base.ObjectRequest) -> base.S3Object:
        response = self._call("get_object", request)
        metadata = response["ResponseMetadata"]
        stream = response["Body"]
        size = self.chunk_size
        body = Body(iter(lambda: stream.read(size), b""), lambda: _release(stream))
        length = metadata["HTTPHeaders"].get("content-length", "")
        try:
            total = int(length) if length.isdigit() else None
            body.prefetch(min(total, size) if total is not None else size, length=total)
        except Exception as error:  # botocore's, urllib3's, or a socket's
            body.close()
            raise self._no_answer(error, "get_object", request.key) from None
        raw = metadata["HTTPHeaders"]
        return base.S3Object(
            metadata["HTTPStatusCode"],
            # As the fast store must: a value that is not visible ASCII is
            # left out, not sent as the bytes it was stored with.
            readable_headers(base.forwarded_headers(raw), request.key),
            body,
            raw.get(_WEBSITE_REDIRECT),
        )

    @overload
    def _call(
        self, operation: Literal["head_object"], request: base.ObjectRequest
    ) -> HeadObjectOutputTypeDef: ...

    @overload
    def _call(
        self, operation: Literal["get_object"], request: base.ObjectRequest
    ) -> GetObjectOutputTypeDef: ...

    def _call(
        self, operation: Literal["head_object", "get_object"], request: base.ObjectRequest
    ) -> HeadObjectOutputTypeDef | GetObjectOutputTypeDef:
        client = self.client  # outside the try: a mistake in the options is no S3 fault
        try:
            if operation == "head_object":
                return client.head_object(
                    Bucket=self.bucket, Key=request.key, **_parameters(request)
                )
            return client.get_object(Bucket=self.bucket, Key=request.key, **_parameters(request))
        except ClientError as error:
            raise self._client_error(error, operation, request.key) from None
        except Exception as error:  # anything else: the answer never came whole
            raise self._no_answer(error, operation, request.key) from None

    def _no_answer(self, error: Exception, operation: str, key: str) -> base.UpstreamError:
        """What ``error``, raised before S3's answer came whole, means."""
        failure: base.UpstreamError
        if isinstance(error, _NO_CREDENTIALS):
            failure = base.ConfigurationError(base.NO_CREDENTIALS)
        elif isinstance(error, _LOCAL):
            failure = base.LocalError(error)
        else:
            failure = base.Unreachable(
                timeout=isinstance(error, (ConnectTimeoutError, ReadTimeoutError))
            )
        return fault(failure, operation=operation, bucket=self.bucket, key=key, cause=error)

    def _client_error(self, error: ClientError, operation: str, key: str) -> base.StoreError:
        details = error.response.get("Error", {})
        code = str(details.get("Code", ""))
        metadata = error.response.get("ResponseMetadata", {})
        status = metadata.get("HTTPStatusCode")
        kind = base.CONFIGURATION_CODES.get(code)
        # A HeadObject error has no body to tell S3's from a web page's.
        if kind is None and operation != "head_object" and _not_s3(metadata.get("HTTPHeaders", {})):
            kind = base.ENDPOINT
        where: Where = {"operation": operation, "bucket": self.bucket, "key": key}
        if kind is None:  # S3's own answer: what it says of the object
            if code in base.NOT_FOUND_CODES:
                return fault(base.NotFound(), **where, status=status, code=code)
            if code in ("304", "NotModified"):
                headers = base.forwarded_headers(metadata.get("HTTPHeaders", {}))
                return base.NotModified(readable_headers(headers, key))
            if code in ("412", "PreconditionFailed"):
                return base.PreconditionFailed()
            if code in ("416", "InvalidRange"):
                size = str(details.get("ActualObjectSize", ""))
                return base.RangeNotSatisfiable(int(size) if size.isdigit() else None)
        failure: base.UpstreamError
        if kind is not None:
            failure = base.ConfigurationError(kind)
        elif code in base.THROTTLED_CODES:
            failure = base.UpstreamError(503, retryable=True)
        else:
            failure = base.UpstreamError(502, retryable=isinstance(status, int) and status >= 500)
        message, request_id = details.get("Message"), metadata.get("RequestId")
        return fault(
            failure, **where, status=status, code=code, message=message, s3_request_id=request_id
        )


def _not_s3(headers: dict[str, str]) -> bool:
    """Whether an error answer came from a web server rather than S3: a
    page, and none of the request id S3 (and servers like it) always send."""
    kind = headers.get("content-type", "")
    return kind.startswith("text/html") and "x-amz-request-id" not in headers


def _parameters(request: base.ObjectRequest) -> _Conditions:
    """GetObject's and HeadObject's spelling of the request."""
    parameters: _Conditions = {}
    if request.range is not None:
        parameters["Range"] = range_header(request.range)
    if request.if_match is not None:
        parameters["IfMatch"] = request.if_match
    if request.if_none_match is not None:
        parameters["IfNoneMatch"] = request.if_none_match
    if request.if_modified_since is not None:
        parameters["IfModifiedSince"] = request.if_modified_since
    if request.if_unmodified_since is not None:
        parameters["IfUnmodifiedSince"] = request.if_unmodified_since
    return parameters


# botocore's reader of its service descriptions, one per process: each new
# session would parse S3's model again (about 90 ms of a first request,
# against 15 with the loader shared). It only caches what it read, so
# threads (and a fork's child) may share it; a race reads a file twice.
@functools.cache
def _loader() -> Loader:
    return cast("Loader", botocore.session.get_session().get_component("data_loader"))


def _make_client(connection: base.Connection) -> S3Client:
    # A session per client: boto3's default session is not safe to share
    # between threads while it makes clients.
    core = botocore.session.get_session()
    core.register_component("data_loader", _loader())
    # The store forwards S3's raw headers and never reads the parsed dates,
    # which cost dateutil another tenth of the CPU.
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
    session = boto3.session.Session(botocore_session=core)
    return session.client(
        "s3",
        endpoint_url=connection.endpoint_url,
        region_name=connection.region_name,
        config=client_config(connection),
    )


def _release(stream: StreamingBody) -> None:
    stream.close()
    # As requests does: hand the (now closed) connection's slot back to
    # urllib3's pool, which reconnects on next use.
    raw = getattr(stream, "_raw_stream", None)
    release = getattr(raw, "release_conn", None)
    if release is not None:
        release()

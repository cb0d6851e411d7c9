"""What the publisher asks of S3 besides uploads: a client, the listing of
a prefix, small JSON objects, one object's headers; and S3's failures in
one line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias, cast

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import HeadObjectOutputTypeDef

# How the client names the bucket in its URLs (botocore's s3 config).
AddressingStyle: TypeAlias = Literal["auto", "virtual", "path"]


class PublishError(Exception):
    """Publishing stopped; the message is one line a user can act on."""


@dataclass(frozen=True)
class Listed:
    """An object as ListObjectsV2 reports it."""

    size: int
    etag: str

    @property
    def md5(self) -> str | None:
        """The object's MD5 (hex), when its ETag is one: a single-part upload
        without SSE-KMS. A multipart ETag holds a ``-``."""
        etag = self.etag.strip('"')
        return etag if len(etag) == 32 and "-" not in etag else None


def make_client(
    *,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    addressing_style: AddressingStyle | None = None,
    connect_timeout: float = 3.0,
    read_timeout: float = 60.0,
    max_attempts: int = 3,
    max_pool_connections: int = 10,
) -> S3Client:
    """A boto3 S3 client: boto3's credential chain, the given endpoint, and
    the store's own botocore configuration (checksums only when required,
    which S3-compatible servers need), with ``max_attempts``."""
    import boto3

    from ..stores.base import Connection
    from ..stores.boto3_store import client_config

    connection = Connection(
        endpoint_url=endpoint_url,
        region_name=region_name,
        addressing_style=addressing_style,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=max_pool_connections,
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region_name,
        config=client_config(connection, max_attempts=max_attempts),
    )


def list_prefix(client: S3Client, bucket: str, prefix: str) -> dict[str, Listed]:
    """Every key under ``prefix``: one ListObjectsV2 request per 1000 keys."""
    listed = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            listed[item["Key"]] = Listed(size=item["Size"], etag=item.get("ETag", ""))
    return listed


def read(client: S3Client, bucket: str, key: str) -> bytes | None:
    """An object's bytes; None if there is no such key."""
    from botocore.exceptions import ClientError

    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    with body:
        return body.read()


def head(client: S3Client, bucket: str, key: str) -> HeadObjectOutputTypeDef | None:
    """An object's stored headers and metadata (HeadObject); None if missing."""
    from botocore.exceptions import ClientError

    try:
        return client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise


def bucket_exists(client: S3Client, bucket: str) -> bool:
    """Whether the bucket exists (HeadBucket); S3's other answers raise."""
    from botocore.exceptions import ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchBucket", "404", "NotFound"):
            return False
        raise
    return True


def create_bucket(client: S3Client, bucket: str) -> None:
    """Create the bucket in the client's region; PublishError, in one line,
    if S3 refuses (a name taken by another account, no permission)."""
    from botocore.exceptions import ClientError

    region = client.meta.region_name
    try:
        if region and region != "us-east-1":  # the one region S3 takes no constraint for
            constraint = cast("BucketLocationConstraintType", region)
            client.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": constraint}
            )
        else:
            client.create_bucket(Bucket=bucket)
    except ClientError as error:
        details = error.response.get("Error", {})
        code = details.get("Code", "")
        if code == "BucketAlreadyOwnedByYou":
            return  # made since the plan looked: as wanted
        message = details.get("Message", "")
        raise PublishError(
            f"cannot create bucket {bucket!r} at {client.meta.endpoint_url}"
            f" in {region or 'the default region'}: {code} {message}".rstrip(": ")
        ) from None


def describe(error: BaseException, *, bucket: str, endpoint: str) -> str:
    """One line for a failure of S3 or of the way to it."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    from ..stores.boto3_store import transport_problem

    where = f"at {endpoint}"
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code", "")
        if code == "NoSuchBucket":
            return f"no such bucket {bucket!r} {where} (--create-bucket creates it)"
        if code in ("AccessDenied", "403"):
            return f"access denied to bucket {bucket!r} {where} (check the credentials and policy)"
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"):
            return f"the credentials were refused {where} ({code})"
        message = details.get("Message", "")
        return f"S3 {where} answered {code or 'an error'}: {message}".rstrip(": ")
    problem = transport_problem(error)
    if problem is not None:
        # The same words as the bucket check's (s3wsgi check, check=True).
        return (
            problem
            if isinstance(error, NoCredentialsError)
            else f"cannot reach S3 {where}: {problem}"
        )
    if isinstance(error, BotoCoreError):
        return f"S3 {where}: {str(error).splitlines()[0]}"
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}".rstrip(": ")

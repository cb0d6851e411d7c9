"""Whether a bucket can be served with given options, asked of S3 once at
start (``s3wsgi check``, ``s3wsgi serve``, ``S3Middleware(check=True)``)
rather than learned from the first reader's 502.

The answer is one sentence a user can act on: what is wrong, and which
option or variable sets it right.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, cast

from .options import Options, ready_client

if TYPE_CHECKING:
    from botocore.exceptions import ClientError
    from mypy_boto3_s3 import S3Client


class BucketProblem(RuntimeError):
    """The bucket cannot be served with these options (``check=True``)."""


def check_bucket(options: Options) -> str | None:
    """Why the bucket cannot be served with these options, or None if it can.

    One HeadBucket with the same endpoint, region and credentials the app
    will use, and no retries: a wrong endpoint should fail at once. HeadBucket
    needs ListBucket; where that is refused, reading the index document
    tells a readable bucket from a closed one.
    """
    import boto3
    from botocore.exceptions import BotoCoreError

    from .stores.boto3_store import client_config

    bucket = options.bucket or ""
    endpoint: str | None = options.s3.endpoint_url or "S3"
    given = ready_client(options)
    if given is not None:  # the app's own client: its settings
        client = cast("S3Client", given)
        return _said(bucket, client.meta.endpoint_url, _reach(client, bucket, options))
    # The app's own configuration, but quick: a wrong endpoint fails at once.
    connection = dataclasses.replace(
        options.connection,
        connect_timeout=min(options.s3.connect_timeout, 5.0),
        read_timeout=min(options.s3.read_timeout, 10.0),
    )
    reason: str | None
    try:
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=options.s3.endpoint_url,
            region_name=options.s3.region_name,
            config=client_config(connection),
        )
    except (BotoCoreError, ValueError) as error:  # e.g. an endpoint that is no URL
        reason = _connection_problem(error)
    else:
        endpoint = client.meta.endpoint_url
        try:
            reason = _reach(client, bucket, options)
        finally:
            client.close()
    return _said(bucket, endpoint, reason)


def _said(bucket: str, endpoint: str | None, reason: str | None) -> str | None:
    if reason is None:
        return None
    return f"cannot serve bucket {bucket!r} at {endpoint}: {reason}"


def _reach(client: S3Client, bucket: str, options: Options) -> str | None:
    """Why HeadBucket (or, where it is refused, an object read) failed, or None."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as error:
        return _head_bucket_refusal(error) or _probe_object(client, bucket, options)
    except BotoCoreError as error:
        return _connection_problem(error)
    return None


def _head_bucket_refusal(error: ClientError) -> str | None:
    """What a failed HeadBucket means; None when only an object read can tell."""
    metadata = error.response.get("ResponseMetadata", {})
    status = metadata.get("HTTPStatusCode")
    if status == 404:
        return "no such bucket"
    if status == 403:
        return None
    if status == 301:
        region = metadata.get("HTTPHeaders", {}).get("x-amz-bucket-region")
        where = f"region {region}" if region else "another region"
        return f"the bucket is in {where} (set --region)"
    details = error.response.get("Error", {})
    return f"S3 answered {status}: {details.get('Code', '')} {details.get('Message', '')}".strip()


def _probe_object(client: S3Client, bucket: str, options: Options) -> str | None:
    from botocore.exceptions import BotoCoreError, ClientError

    key_prefix = options.key_prefix.strip("/")
    key = f"{key_prefix}/" if key_prefix else ""
    key += options.index_document
    try:
        client.get_object(Bucket=bucket, Key=key, Range="bytes=0-0")["Body"].close()
        return None
    except ClientError as error:
        details = error.response.get("Error", {})
        code = details.get("Code", "")
        if code in ("NoSuchKey", "InvalidRange"):
            return None
        if code == "AccessDenied":
            return "access denied (check the credentials and the bucket's policy)"
        if code == "NoSuchBucket":
            return "no such bucket"
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"):
            return f"the credentials were refused ({code})"
        return f"S3 answered {code or 'an error'}: {details.get('Message', '')}".rstrip(": ")
    except BotoCoreError as error:
        return _connection_problem(error)


def _connection_problem(error: Exception) -> str:
    from .stores.boto3_store import transport_problem

    problem = transport_problem(error)
    if problem is not None:
        return problem
    return str(error).splitlines()[0] if str(error) else type(error).__name__

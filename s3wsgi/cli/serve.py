"""``s3wsgi serve``: a bucket as a whole site under waitress, its options
from flags and ``S3WSGI_*`` variables, the bucket checked before serving."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from .. import options as schema
from ..observe import serving
from ..options import Options
from . import server
from .errors import Problem, UsageError, in_flags
from .settings import add_option_flags, add_server_flags, option_settings, server_settings

if TYPE_CHECKING:
    from botocore.exceptions import ClientError
    from mypy_boto3_s3 import S3Client

    from ..stores.boto3_store import AddressingStyle
    from .settings import Commands

SERVER_FLAGS = ("host", "port", "threads")


def add_parser(commands: Commands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "serve",
        usage="%(prog)s --bucket BUCKET [options]",
        help="serve a bucket under waitress",
        description="Serve a bucket under waitress. Each flag can also be set by the "
        "S3WSGI_* variable shown beside it; a flag wins over its variable. AWS "
        "credentials come from boto3's usual places (AWS_ACCESS_KEY_ID, AWS_PROFILE, ...).",
    )
    add_option_flags(parser, schema.command_line_options(), defaults={"prefix": "/"})
    add_server_flags(parser, SERVER_FLAGS)
    serving.add_flags(parser)  # --metrics-path, --health-path
    parser.set_defaults(command_parser=parser, run=run)
    return parser


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """``s3wsgi serve``: check the bucket, then serve it until stopped."""
    from ..middleware import S3App

    settings = server_settings(args, environ, SERVER_FLAGS)
    # Any: each value is checked against its field by Options itself.
    given: dict[str, Any] = option_settings(
        args, environ, list(schema.command_line_options()), also_known=SERVER_FLAGS + serving.FLAGS
    )
    given.setdefault("prefix", "/")
    given.setdefault("server_threads", settings["threads"])
    if not given.get("bucket"):
        raise UsageError(
            f"the following arguments are required: --bucket (or {schema.environ_name('bucket')})"
        )
    observed = serving.from_command_line(args, environ)
    if observed.metrics_path is not None:
        given["metrics"] = True
    try:
        options = Options(**given)  # S3 is not called yet
    except ValueError as error:
        raise UsageError(in_flags(str(error))) from None
    serving.check(observed, options)
    problem = check_bucket(options)
    if problem:
        raise Problem(problem)
    app = S3App(options)
    waitress, sockets = server.create_server(serving.site_app(app, observed), **settings)
    endpoints = serving.listen(waitress, sockets, app, observed, settings["host"])
    banner = f"s3wsgi: serving bucket {options.bucket!r} on {server.url(waitress)}"
    banner = "\n".join([banner, *endpoints])
    return server.run(waitress, sockets, banner, send_timeout=options.send_timeout)


def check_bucket(options: Options) -> str | None:
    """Why the bucket cannot be served with these options, or None if it can.

    One HeadBucket with the same endpoint, region and credentials the app
    will use, and no retries: a wrong endpoint should fail at once. HeadBucket
    needs ListBucket; where that is refused, reading the index document
    tells a readable bucket from a closed one.
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    bucket = options.bucket or ""
    endpoint: str | None = options.endpoint_url or "S3"
    # The options allow only botocore's addressing styles.
    style = cast("AddressingStyle", options.addressing_style or "auto")
    reason: str | None
    try:
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=options.endpoint_url,
            region_name=options.region_name,
            config=Config(
                connect_timeout=min(options.connect_timeout, 5.0),
                read_timeout=min(options.read_timeout, 10.0),
                retries={"total_max_attempts": 1},
                s3={"addressing_style": style},
            ),
        )
    except (BotoCoreError, ValueError) as error:  # e.g. an endpoint that is no URL
        reason = _connection_problem(error)
    else:
        endpoint = client.meta.endpoint_url
        try:
            reason = _reach(client, bucket, options)
        finally:
            client.close()
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
    from botocore.exceptions import (
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

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
    return str(error).splitlines()[0] if str(error) else type(error).__name__

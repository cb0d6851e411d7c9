"""The ``s3wsgi`` command: ``serve`` a bucket under waitress, ``publish`` a
built site to one (:mod:`s3wsgi.cli.publish`), or run the offline ``demo``.

Every ``serve`` flag can also come from an ``S3WSGI_*`` variable named after
it (``--endpoint-url`` <-> ``S3WSGI_ENDPOINT_URL``); a flag wins over its
variable. Mistakes end in one line on stderr and a non-zero exit, never a
traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from importlib import resources

from .. import config
from . import publish as publish_command

# How to reach the S3 server and what to serve; every other option of
# S3Middleware (added later, e.g. a cache) gets a flag with a generic help.
_SERVE_HELP = {
    "bucket": "the bucket to serve (required)",
    "prefix": "the URL path the bucket is served at (default: /)",
    "key_prefix": "the folder inside the bucket served at --prefix (default: the whole bucket)",
    "endpoint_url": "an S3-compatible endpoint, e.g. http://127.0.0.1:9000 for MinIO",
    "region": "the bucket's region (default: boto3's, e.g. AWS_DEFAULT_REGION)",
    "index_document": "the key served for a folder URL ending in / (default: index.html)",
    "error_document": "a key served with status 404 when a key is missing",
    "cache_control": "Cache-Control for objects that carry none, e.g. 'max-age=300'",
    "headers": "an extra response header 'Name: value'; repeat the flag for more "
    "(the variable: one per line)",
    "authorize": "package.module:callable, called with the WSGI environ; False answers 403",
    "addressing_style": "S3 addressing: auto, virtual or path (path for most "
    "S3-compatible servers)",
    "connect_timeout": "seconds to wait for a connection to S3 (default: 3)",
    "read_timeout": "seconds to wait for S3 to answer or send more bytes (default: 15)",
    "max_attempts": "attempts per S3 request, retries included (default: 3)",
    "max_pool_connections": "S3 connections kept open (default and minimum: --threads)",
    "chunk_size": "bytes read from S3 at a time while streaming (default: 262144)",
    "store": "how S3 is read: boto3 (default) or obstore (pip install 's3wsgi[fast]')",
    "cache_max_bytes": "bytes of objects cached in memory (default: 0, no cache)",
    "cache_ttl": "seconds a cached object is served without asking S3 (default: 60)",
    "cache_max_object_bytes": "larger objects are never cached (default: 1048576)",
}

# Options that mean nothing for a whole-server app (its own app is a 404),
# and region_name, which is --region.
_NOT_FLAGS = frozenset({"fallthrough", "region_name"})

# Settings of the server rather than of the app.
_SERVER_HELP = {
    "host": "the address to listen on (default: 127.0.0.1)",
    "port": "the port to listen on; 0 picks a free one (default: 8080)",
    "threads": "waitress worker threads, and S3 connections (default: 8)",
}

DEMO_BUCKET = "kestrel-docs"

log = logging.getLogger("s3wsgi")


class UsageError(Exception):
    """A mistake in what the user asked for: one line, exit status 2."""


class Problem(Exception):
    """Something in the world stops us (a bucket, a port): one line, exit 1."""


def _serve_options() -> list[str]:
    names = [name for name in _SERVE_HELP if config.ALIASES.get(name, name) in config.OPTIONS]
    names += [name for name in config.OPTIONS if name not in names and name not in _NOT_FLAGS]
    return names


def _flag(name: str) -> str:
    return "--header" if name == "headers" else "--" + name.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s3wsgi",
        description="Serve the objects of an S3 bucket over HTTP, with real HTTP semantics.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        usage="%(prog)s --bucket BUCKET [options]",
        help="serve a bucket under waitress",
        description="Serve a bucket under waitress. Each flag can also be set by the "
        "S3WSGI_* variable shown beside it; a flag wins over its variable. AWS "
        "credentials come from boto3's usual places (AWS_ACCESS_KEY_ID, AWS_PROFILE, ...).",
    )
    for name in _serve_options():
        help_text = _SERVE_HELP.get(name, f"the S3Middleware option {name}")
        action = "append" if name == "headers" else "store"
        serve.add_argument(
            _flag(name),
            dest=name,
            action=action,
            metavar="VALUE",
            help=f"{help_text} [{config.environ_name(name)}]",
        )
    _add_server_flags(serve, ("host", "port", "threads"))
    serve.set_defaults(command_parser=serve)

    demo = commands.add_parser(
        "demo",
        usage="%(prog)s [--host HOST] [--port PORT]",
        help="serve a sample documentation site from an embedded local S3 (offline)",
        description="Start an embedded S3 server on loopback, upload a sample "
        "documentation site, and serve it under /docs/ beside a small home page. "
        "No AWS account or network is needed. Ctrl-C stops it.",
    )
    _add_server_flags(demo, ("host", "port"))
    demo.set_defaults(command_parser=demo)
    publish_command.add_parser(commands)
    return parser


def _add_server_flags(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    for name in names:
        parser.add_argument(
            "--" + name,
            dest=name,
            metavar="VALUE",
            help=f"{_SERVER_HELP[name]} [{config.environ_name(name)}]",
        )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("s3wsgi")
    except PackageNotFoundError:
        return "unknown"


def _setting(args: argparse.Namespace, name: str, environ: Mapping[str, str]):
    """A flag's text and how the user wrote it, else its variable's, else None."""
    value = getattr(args, name)
    if isinstance(value, list):
        return "\n".join(value), _flag(name)
    if value is not None:
        return value, _flag(name)
    variable = config.environ_name(name)
    if variable in environ:
        return environ[variable], variable
    return None, None


def _server_settings(
    args: argparse.Namespace, environ: Mapping[str, str], names: Sequence[str]
) -> dict:
    defaults = {"host": "127.0.0.1", "port": 8080, "threads": 8}
    settings = {}
    for name in names:
        text, label = _setting(args, name, environ)
        if text is None:
            settings[name] = defaults[name]
        elif name == "host":
            settings[name] = text.strip()
        else:
            try:
                number = config.to_int(label, text)
            except ValueError as error:
                raise UsageError(str(error)) from None
            low, high = (0, 65535) if name == "port" else (1, 1024)
            if not low <= number <= high:
                raise UsageError(f"{label}: {text!r} is not between {low} and {high}")
            settings[name] = number
    return settings


def _app_options(args: argparse.Namespace, environ: Mapping[str, str]) -> dict:
    names = _serve_options()
    known = {config.environ_name(name) for name in [*names, "host", "port", "threads"]}
    for variable in sorted(environ):
        if variable.startswith(config.ENVIRON_PREFIX) and variable not in known:
            raise UsageError(f"{variable}: unknown setting (see s3wsgi serve --help)")
    options = {}
    for name in names:
        text, label = _setting(args, name, environ)
        if text is None:
            continue
        try:
            options[config.ALIASES.get(name, name)] = config.convert(name, text, label=label)
        except ValueError as error:
            raise UsageError(str(error)) from None
    if not options.get("bucket"):
        raise UsageError(
            f"the following arguments are required: --bucket (or {config.environ_name('bucket')})"
        )
    return options


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    environ = os.environ if environ is None else environ
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(levelname)s: %(message)s")
    log.setLevel(logging.INFO)
    try:
        if args.command == "serve":
            return serve(args, environ)
        if args.command == "publish":
            return publish_command.run(args, environ)
        return demo(args, environ)
    except UsageError as error:
        args.command_parser.error(str(error))  # exits with status 2
    except Problem as problem:
        print(f"s3wsgi: {problem}", file=sys.stderr)
        return 1


def serve(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """``s3wsgi serve``: check the bucket, then serve it until stopped."""
    from ..middleware import S3App

    server_settings = _server_settings(args, environ, ("host", "port", "threads"))
    options = _app_options(args, environ)
    threads = server_settings["threads"]
    # Each waitress thread holds one S3 connection while it streams a body.
    options["max_pool_connections"] = max(options.get("max_pool_connections", threads), threads)
    try:
        app = S3App(**options)  # checks the options; S3 is not called yet
    except ValueError as error:
        raise UsageError(str(error)) from None
    problem = check_bucket(options)
    if problem:
        raise Problem(problem)
    server, sockets = _create_server(app, **server_settings)
    banner = f"s3wsgi: serving bucket {options['bucket']!r} on {_url(server)}"
    return _run(server, sockets, banner)


def check_bucket(options: Mapping[str, object]) -> str | None:
    """Why the bucket cannot be served with these options, or None if it can.

    One HeadBucket with the same endpoint, region and credentials the app
    will use, and no retries: a wrong endpoint should fail at once. HeadBucket
    needs ListBucket; where that is refused, reading the index document
    tells a readable bucket from a closed one.
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    bucket = options["bucket"]
    endpoint = options.get("endpoint_url") or "S3"
    try:
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=options.get("endpoint_url"),
            region_name=options.get("region_name"),
            config=Config(
                connect_timeout=min(float(options.get("connect_timeout", 3.0)), 5.0),
                read_timeout=min(float(options.get("read_timeout", 15.0)), 10.0),
                retries={"total_max_attempts": 1},
                s3={"addressing_style": options.get("addressing_style") or "auto"},
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


def _reach(client, bucket: str, options: Mapping[str, object]) -> str | None:
    """Why HeadBucket (or, where it is refused, an object read) failed, or None."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as error:
        return _head_bucket_refusal(error) or _probe_object(client, bucket, options)
    except BotoCoreError as error:
        return _connection_problem(error)
    return None


def _head_bucket_refusal(error) -> str | None:
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


def _probe_object(client, bucket: str, options: Mapping[str, object]) -> str | None:
    from botocore.exceptions import BotoCoreError, ClientError

    key_prefix = str(options.get("key_prefix") or "").strip("/")
    key = f"{key_prefix}/" if key_prefix else ""
    key += str(options.get("index_document") or "index.html")
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


def demo(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """``s3wsgi demo``: an embedded S3 holding the sample site, served under
    /docs/ beside a home page, until Ctrl-C or SIGTERM."""
    settings = _server_settings(args, environ, ("host", "port"))
    _isolate_from_aws()
    import boto3

    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise Problem("the demo needs moto's server: pip install 's3wsgi[demo]'") from None

    from ..middleware import S3Middleware

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto logs every request
    s3_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3_server.start()
    s3_host, s3_port = s3_server.get_host_and_port()
    endpoint = f"http://{s3_host}:{s3_port}"
    client = boto3.session.Session().client("s3", endpoint_url=endpoint, region_name="us-east-1")
    try:
        client.create_bucket(Bucket=DEMO_BUCKET)
        count = upload_demo_site(client, DEMO_BUCKET)
        # no-cache: browsers revalidate every load, so the 304s show.
        app = S3Middleware(
            home_app,
            bucket=DEMO_BUCKET,
            prefix="/docs",
            client=client,
            cache_control="no-cache",
        )
        server, sockets = _create_server(app, threads=4, **settings)
        url = _url(server)
        return _run(
            server,
            sockets,
            f"s3wsgi demo: the sample documentation is at {url}docs/\n"
            f"  {count} files in bucket {DEMO_BUCKET!r} on an embedded S3 at {endpoint}; "
            f"home page {url}. Ctrl-C stops.",
        )
    finally:
        client.close()
        s3_server.stop()


def _isolate_from_aws() -> None:
    """Dummy credentials for the embedded server, and nothing of the user's
    AWS setup or proxies: the demo must never reach a real account."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ.update(
        AWS_ACCESS_KEY_ID="demo",
        AWS_SECRET_ACCESS_KEY="demo",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    no_proxy = os.environ.get("NO_PROXY", "")
    os.environ["NO_PROXY"] = ",".join(filter(None, [no_proxy, "127.0.0.1", "localhost"]))


def upload_demo_site(client, bucket: str) -> int:
    """Publish the bundled sample site (package data) to ``bucket``; the
    count of files. Its files are all pages or unhashed assets, so all get
    no-cache, and reloads in the demo show the 304s."""
    from ..publish import PublishError, publish

    with resources.as_file(resources.files("s3wsgi").joinpath("demo_site")) as site:
        try:
            return publish(site, bucket=bucket, client=client, cache_control="no-cache").files
        except PublishError as error:
            raise Problem(f"cannot upload the sample site: {error}") from None


_HOME_PAGE = b"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Intranet</title></head>
<body>
<h1>Intranet</h1>
<p>This page comes from the host application. The documentation under
<a href="docs/">/docs/</a> is served from an S3 bucket by s3wsgi.</p>
</body>
</html>
"""


def home_app(environ, start_response):
    """The demo's host application: a home page, and 404 for anything else."""
    if environ.get("PATH_INFO", "/") in ("", "/"):
        status, body = "200 OK", _HOME_PAGE
    else:
        status, body = "404 Not Found", b"<!DOCTYPE html><title>Not found</title><p>Not found.\n"
    start_response(
        status,
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]


def _create_server(app, *, host: str, port: int, threads: int) -> tuple[object, dict]:
    """A waitress server, and its socket map: the server's own, so that every
    socket in it can be closed at the end, the clients' included."""
    try:
        from waitress.server import create_server
        from waitress.wasyncore import close_all
    except ImportError:
        raise Problem("serving needs waitress: pip install 's3wsgi[serve]'") from None

    sockets: dict = {}
    try:
        server = create_server(app, map=sockets, host=host, port=port, threads=threads)
        return server, sockets
    except OSError as error:
        reason = error.strerror or str(error)
        close_all(sockets)  # the half-made server's socket, and its trigger's pipe
        raise Problem(f"cannot listen on {host}:{port}: {reason.lower()}") from None


def _url(server) -> str:
    listen = getattr(server, "effective_listen", None) or [
        (server.effective_host, server.effective_port)
    ]
    host, port = listen[0][:2]
    if ":" in str(host):
        host = f"[{host}]"
    return f"http://{host}:{port}/"


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _stop(signum, frame):
    raise KeyboardInterrupt


def _close_clients(sockets: dict) -> None:
    """Close every client's connection as waitress does when a client goes:
    its output buffers (temporary files past 1 MiB) closed, and a worker
    waiting for room in them woken, to end its response and close the S3
    stream at once."""
    from waitress.channel import HTTPChannel

    for channel in list(sockets.values()):
        if isinstance(channel, HTTPChannel):
            channel.handle_close()


def _run(server, sockets: dict, banner: str) -> int:
    """Serve until SIGINT or SIGTERM, then close every connection still
    open, stop the worker threads and close the server; exit status 0."""
    from waitress import wasyncore

    print(banner, flush=True)
    # SIGINT too: a shell starts background jobs with it ignored.
    previous = {signum: signal.signal(signum, _stop) for signum in _STOP_SIGNALS}
    try:
        # waitress's server.run(), but for the stop: that joins the workers
        # first, and one writing to a client that reads no more would hold
        # it for 5 s, then be left running.
        wasyncore.loop(
            timeout=server.adj.asyncore_loop_timeout,
            map=sockets,
            use_poll=server.adj.asyncore_use_poll,
        )
    except KeyboardInterrupt:
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _close_clients(sockets)
        server.task_dispatcher.shutdown()
        # The listening socket and the trigger last: a worker ending a
        # response may still pull the trigger.
        wasyncore.close_all(sockets)
    return 0

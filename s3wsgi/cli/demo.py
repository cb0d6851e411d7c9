"""``s3wsgi demo``: the sample documentation site on an embedded S3
(moto's server, on loopback), served under /docs/ beside a home page.
Offline: no AWS account, no network."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING
from wsgiref.types import StartResponse, WSGIEnvironment

from . import server
from .errors import Problem
from .settings import add_server_flags, server_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from .settings import Commands

DEMO_BUCKET = "kestrel-docs"
THREADS = 4


def add_parser(commands: Commands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "demo",
        usage="%(prog)s [--host HOST] [--port PORT]",
        help="serve a sample documentation site from an embedded local S3 (offline)",
        description="Start an embedded S3 server on loopback, upload a sample "
        "documentation site, and serve it under /docs/ beside a small home page. "
        "No AWS account or network is needed. Ctrl-C stops it.",
    )
    add_server_flags(parser, ("host", "port"))
    parser.set_defaults(command_parser=parser, run=run)
    return parser


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """``s3wsgi demo``: an embedded S3 holding the sample site, served under
    /docs/ beside a home page, until Ctrl-C or SIGTERM."""
    settings = server_settings(args, environ, ("host", "port"))
    _isolate_from_aws()
    import boto3

    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise Problem("the demo needs moto's server: install s3wsgi's 'demo' extra") from None

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
            endpoint_url=endpoint,
            region_name="us-east-1",
            cache_control="no-cache",
            server_threads=THREADS,
        )
        waitress, sockets = server.create_server(
            app, host=settings["host"], port=settings["port"], threads=THREADS
        )
        url = server.url(waitress)
        return server.run(
            waitress,
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


def upload_demo_site(client: S3Client, bucket: str) -> int:
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


def home_app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
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

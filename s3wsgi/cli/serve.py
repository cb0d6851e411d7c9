"""``s3wsgi serve``: a bucket as a whole site under waitress, its options
from flags and ``S3WSGI_*`` variables, the bucket checked before serving."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import options as schema
from ..check import check_bucket
from . import server, serving
from .errors import Problem, UsageError
from .settings import (
    ServerSettings,
    add_option_flags,
    add_server_flags,
    option_settings,
    required_options,
    server_settings,
)

if TYPE_CHECKING:
    from .settings import Commands

SERVER_FLAGS = ("host", "port", "server")
# Threads per process, unless --threads says otherwise: with a quarter kept
# for the app, 48 S3 requests in flight: 2,400 objects/s with S3 20 ms away,
# more than one process's CPU serves, so the CPU is the limit up to 40 ms
# (measured: docs/deployment.rst).
THREADS = 64
MAX_THREADS = 1024


def add_parser(commands: Commands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "serve",
        usage="%(prog)s --bucket BUCKET [options]",
        help="serve a bucket under waitress",
        description="Serve a bucket under waitress. Each flag can also be set by the "
        "S3WSGI_* variable shown beside it; a flag wins over its variable. AWS "
        "credentials come from boto3's usual places (AWS_ACCESS_KEY_ID, AWS_PROFILE, ...).",
    )
    add_option_flags(
        parser,
        schema.command_line_options(),
        defaults={"prefix": "/", "server_threads": str(THREADS)},
    )
    add_server_flags(parser, SERVER_FLAGS)
    serving.add_flags(parser)  # --metrics-path, --health-path
    parser.set_defaults(command_parser=parser, run=run)
    return parser


def configure(
    args: argparse.Namespace, environ: Mapping[str, str]
) -> tuple[schema.Options, ServerSettings, serving.Observed]:
    """The app's options, the server's settings and the endpoints asked
    for, from flags and variables; a usage error for any of them wrong."""
    settings = server_settings(args, environ, SERVER_FLAGS)
    # Any: each value is checked against its field by Options itself.
    given: dict[str, Any] = option_settings(
        args, environ, list(schema.command_line_options()), also_known=SERVER_FLAGS + serving.FLAGS
    )
    given.setdefault("prefix", "/")
    if given.get("server_threads") is None:
        given["server_threads"] = THREADS
    if not 1 <= given["server_threads"] <= MAX_THREADS:
        raise UsageError(f"--threads: {given['server_threads']} is not between 1 and {MAX_THREADS}")
    observed = serving.from_command_line(args, environ)
    if observed.metrics_path is not None and given.get("bucket"):
        given["metrics"] = True
    options = required_options(given)
    serving.check(observed, options)
    if settings["server"] == "granian" and observed.admin_port is not None:
        raise UsageError("--admin-port needs --server waitress")
    return options, settings, observed


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """``s3wsgi serve``: check the bucket, then serve it until stopped."""
    from ..middleware import S3App

    options, settings, observed = configure(args, environ)
    problem = check_bucket(options)
    if problem:
        raise Problem(problem)
    threads = options.safety.server_threads or THREADS
    if settings["server"] == "granian":
        return server.run_granian(
            lambda: serving.site_app(S3App(options), observed),
            host=settings["host"],
            port=settings["port"],
            threads=threads,
            banner=lambda url: "\n".join(
                [f"s3wsgi: serving bucket {options.bucket!r} on {url} (granian)"]
                + serving.shared_lines(url, observed)
            ),
        )
    app = S3App(options)
    waitress, sockets = server.create_server(
        serving.site_app(app, observed),
        host=settings["host"],
        port=settings["port"],
        threads=threads,
    )
    endpoints = serving.listen(waitress, sockets, app, observed, settings["host"])
    banner = f"s3wsgi: serving bucket {options.bucket!r} on {server.url(waitress)}"
    banner = "\n".join([banner, *endpoints])
    return server.run(waitress, sockets, banner, send_timeout=options.safety.send_timeout)


__all__ = ["add_parser", "check_bucket", "run"]

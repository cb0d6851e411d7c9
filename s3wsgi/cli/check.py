"""``s3wsgi check``: ask S3 once whether a bucket can be served with these
settings, and say what is wrong in one sentence: the first thing to run
when a site answers 502 or 404."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import options as schema
from ..check import check_bucket
from . import serving
from .errors import Problem
from .settings import add_option_flags, option_settings, required_options

if TYPE_CHECKING:
    from .settings import Commands

# serve's own settings: accepted (the same variables set both), unused.
SERVER_SETTINGS = ("host", "port", "threads")


def add_parser(commands: Commands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "check",
        usage="%(prog)s --bucket BUCKET [options]",
        help="check that a bucket can be served, and say what is wrong if not",
        description="Ask S3 once, with the endpoint, region and credentials serve would "
        "use, whether the bucket can be served; exit 0 if it can, else 1 with the reason. "
        "Takes serve's flags and S3WSGI_* variables.",
    )
    add_option_flags(parser, schema.command_line_options(), defaults={"prefix": "/"})
    parser.set_defaults(command_parser=parser, run=run)
    return parser


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    # Any: each value is checked against its field by Options itself.
    given: dict[str, Any] = option_settings(
        args,
        environ,
        list(schema.command_line_options()),
        also_known=SERVER_SETTINGS + serving.FLAGS,
    )
    options = required_options(given)
    problem = check_bucket(options)
    if problem:
        raise Problem(problem)
    print(f"s3wsgi: bucket {options.bucket!r} can be served")
    return 0

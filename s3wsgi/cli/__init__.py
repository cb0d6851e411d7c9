"""The ``s3wsgi`` command: ``serve`` a bucket under waitress, ``publish`` a
built site to one, ``check`` that one can be served, or run the offline
``demo``.

Every ``serve`` flag can also come from an ``S3WSGI_*`` variable named after
it (``--endpoint-url`` <-> ``S3WSGI_ENDPOINT_URL``); a flag wins over its
variable. Mistakes end in one line on stderr and a non-zero exit, never a
traceback: 2 for a usage error, 1 when something in the world stops us.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence

from .. import __version__
from . import check, demo, publish, serve
from .errors import Problem, UsageError

log = logging.getLogger("s3wsgi")

COMMANDS = (serve, publish, check, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s3wsgi",
        description="Serve the objects of an S3 bucket over HTTP, with real HTTP semantics.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    environ = os.environ if environ is None else environ
    if args.command is None:
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        parser.print_help(sys.stderr)
        return 2
    if unknown:  # with the command's usage, not the top level's
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(levelname)s: %(message)s")
    log.setLevel(logging.INFO)
    # Each command's add_parser sets its run: set_defaults(run=...).
    run: Callable[[argparse.Namespace, Mapping[str, str]], int] = args.run
    try:
        return run(args, environ)
    except UsageError as error:
        args.command_parser.error(str(error))  # exits with status 2
    except Problem as problem:
        print(f"s3wsgi: {problem}", file=sys.stderr)
        return 1
    return 1  # not reached: error() exits


__all__ = ["Problem", "UsageError", "build_parser", "main"]

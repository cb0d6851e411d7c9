"""``s3wsgi publish DIR``: upload a built site with web headers, variants
and a manifest, sending only what changed.

S3 is reached as ``s3wsgi serve`` reaches it: ``--endpoint-url``,
``--region``, ``--addressing-style`` (and the timeouts), each also from its
``S3WSGI_*`` variable, a flag winning over its variable, and credentials
from boto3's usual places. A mistake in the request exits with status 2, a
failure on the way with status 1 and one line ``s3wsgi: publish failed:
...``; neither prints a traceback.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any, Never, NoReturn
from urllib.parse import urlsplit

from .. import options as schema
from ..publish import DEFAULT_CACHE_CONTROL, PublishError, Rules, apply, plan_or_fail
from ..publish.local import Selection, shown
from ..publish.remote import make_client
from .errors import Problem, UsageError
from .settings import setting

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from tqdm import tqdm

    from .settings import Commands

# The S3 settings, read as ``s3wsgi serve`` reads them (flag, else variable),
# with this command's own help.
_CONNECTION_HELP = {
    "bucket": "the bucket to publish to (required)",
    "key_prefix": "the folder inside the bucket, e.g. docs/ (default: the bucket's root)",
    "endpoint_url": "an S3-compatible endpoint, e.g. http://127.0.0.1:9000 for MinIO",
    "region_name": "the bucket's region (default: boto3's, e.g. AWS_DEFAULT_REGION)",
    "addressing_style": "S3 addressing: auto, virtual or path (path for most "
    "S3-compatible servers)",
    "connect_timeout": "seconds to wait for a connection to S3 (default: 3)",
    "read_timeout": "seconds to wait for S3 to answer (default: 60)",
    "max_attempts": "attempts per S3 request, retries included (default: 3)",
}
# Uploads wait longer for S3 than reads do.
_DEFAULTS = {"connect_timeout": 3.0, "read_timeout": 60.0, "max_attempts": 3}

# Uploads at a time, and S3 connections.
_CONCURRENCY = 10


def add_parser(commands: Commands) -> argparse.ArgumentParser:
    """The ``publish`` subcommand, added to the ``s3wsgi`` command's subparsers."""
    parser = commands.add_parser(
        "publish",
        usage="%(prog)s DIR --bucket BUCKET [options]",
        help="upload a built site: web headers, precompressed variants, only what changed",
        description="Upload the files under DIR to the bucket with the Content-Type the "
        "middleware serves, Cache-Control by kind of file (no-cache for HTML and other "
        "entry points, a year for content-hashed names), Brotli and gzip variants, and a "
        "manifest written last. Only what changed is sent. Each S3 setting can also be set "
        "by the S3WSGI_* variable shown beside it; a flag wins over its variable.",
    )
    parser.add_argument("folder", metavar="DIR", help="the built site, e.g. _build/html")
    for name, help_text in _CONNECTION_HELP.items():
        parser.add_argument(
            schema.flag(name),
            dest=name,
            metavar="VALUE",
            help=f"{help_text} [{schema.environ_name(name)}]",
        )
    parser.add_argument(
        "--cache-control",
        metavar="VALUE",
        help="Cache-Control of files neither entry points nor content-hashed "
        f"(default: {DEFAULT_CACHE_CONTROL!r})",
    )
    parser.add_argument(
        "--hashed-pattern",
        metavar="REGEX",
        help="a regular expression searched in each path: a match marks a content-hashed "
        "name, cached for a year (default: 8+ hex digits between dots or dashes, or "
        "Vite's -XXXXXXXX.)",
    )
    parser.add_argument(
        "--delete",
        action="store_true",
        help="remove keys under the prefix that DIR no longer has and the previous "
        "manifest names, after the new manifest (never keys --exclude or the hidden rule "
        "leave out)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --delete, also remove keys no manifest of ours names (other sites' too)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="a glob on paths relative to DIR not to publish (a folder's match leaves out its "
        "contents), e.g. '*.map' or drafts; repeatable",
    )
    parser.add_argument(
        "--include-hidden",
        action="store_true",
        help="publish files and folders whose name starts with a dot too (.well-known always is)",
    )
    parser.add_argument(
        "--follow-links",
        action="store_true",
        help="publish what symbolic links lead to when it is inside DIR (default: refuse links)",
    )
    parser.add_argument(
        "--create-bucket",
        action="store_true",
        help="create the bucket, in the client's region, if there is none",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would be uploaded and deleted"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object, for CI")
    parser.add_argument(
        "--version",
        dest="site_version",
        metavar="V",
        help="publish under KEY_PREFIX/V/, then add V to KEY_PREFIX/versions.json",
    )
    parser.add_argument(
        "--alias",
        dest="aliases",
        action="append",
        default=[],
        metavar="NAME",
        help="point NAME (e.g. latest) at --version in versions.json; repeatable",
    )
    parser.add_argument(
        "--default", metavar="NAME", help="the version or alias versions.json names as default"
    )
    parser.set_defaults(command_parser=parser, run=run)
    return parser


def _settings(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, Any]:
    """The S3 settings from flags and variables, converted; ValueError names
    the flag or variable at fault."""
    # Each value of its option's type (text converted by the schema).
    settings: dict[str, Any] = dict(_DEFAULTS)
    for name in _CONNECTION_HELP:
        text, label = setting(args, name, environ)
        if text is None:
            continue
        value = schema.convert(name, text, label=label)
        if name == "endpoint_url" and value:
            parts = urlsplit(str(value))
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"{label}: {value!r} is not an http:// or https:// URL")
        if value not in (None, ""):
            settings[name] = value
    if not settings.get("bucket"):
        raise ValueError(
            f"the following arguments are required: --bucket (or {schema.environ_name('bucket')})"
        )
    return settings


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """``s3wsgi publish``: plan, upload, report; the exit status."""
    try:
        settings = _settings(args, environ)
        rules = Rules(
            cache_control=args.cache_control or DEFAULT_CACHE_CONTROL,
            **({"hashed_pattern": args.hashed_pattern} if args.hashed_pattern else {}),
        )
        client = make_client(
            endpoint_url=settings.get("endpoint_url"),
            region_name=settings.get("region_name"),
            addressing_style=settings.get("addressing_style"),
            connect_timeout=settings["connect_timeout"],
            read_timeout=settings["read_timeout"],
            max_attempts=settings["max_attempts"],
            max_pool_connections=_CONCURRENCY,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    restore = _sigterm_interrupts()
    try:
        return _publish(args, client, settings, rules)
    except PublishError as error:
        raise Problem(f"publish failed: {error}") from None
    except KeyboardInterrupt:
        raise Problem(
            "publish failed: interrupted (the previous site is intact; run it again to finish)"
        ) from None
    finally:
        client.close()
        restore()


def _publish(
    args: argparse.Namespace,
    client: S3Client,
    settings: dict[str, Any],
    rules: Rules,
) -> int:
    try:
        plan = plan_or_fail(
            args.folder,
            client=client,
            bucket=settings["bucket"],
            key_prefix=settings.get("key_prefix", ""),
            rules=rules,
            delete=args.delete,
            force=args.force,
            version=args.site_version,
            aliases=args.aliases,
            default=args.default,
            selection=Selection(tuple(args.exclude), args.include_hidden),
            follow_links=args.follow_links,
            create_bucket=args.create_bucket,
            max_concurrency=_CONCURRENCY,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    bar = _progress_bar(plan.upload_bytes) if plan.uploads and not args.dry_run else None
    try:
        result = apply(
            plan,
            client,
            dry_run=args.dry_run,
            max_concurrency=_CONCURRENCY,
            progress=_locked(bar.update) if bar else None,
        )
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps(result.as_json(), ensure_ascii=False))
        return 0
    if args.dry_run:
        for path in result.skipped:  # unchecked names: one line each, whatever they hold
            print(f"skip {shown(path)}")
        for key in result.uploaded:
            print(f"upload {shown(key)}")
        if result.manifest_written:
            print(f"upload {result.manifest_key}")
        for key in result.deleted:
            print(f"delete {shown(key)}")
        if result.versions_written:
            print(f"upload {result.versions_key}")
    print(result.summary())
    return 0


def _progress_bar(total: int) -> tqdm[Never] | None:
    """A byte progress bar on stderr when it is a terminal (and tqdm is
    installed); None otherwise, so logs and CI output stay clean."""
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, leave=False)


def _locked(update: Callable[[int], object]) -> Callable[[int], None]:
    """``update`` called by one upload thread at a time."""
    lock = threading.Lock()

    def locked(count: int) -> None:
        with lock:
            update(count)

    return locked


def _sigterm_interrupts() -> Callable[[], object]:
    """Make SIGTERM stop a publish as Ctrl-C does (cancelled cleanly, one
    line); a function that puts the previous handler back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: FrameType | None) -> NoReturn:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous)

"""Carrying out a plan: uploads in parallel by phase, then the manifest,
then deletions, then ``versions.json``; and :func:`publish`, which plans
and carries out in one call.

Nothing is deleted and no manifest or ``versions.json`` is written until
every upload has succeeded, so a publish that fails or is interrupted
leaves the previous site whole: its manifest still describes objects that
are all there. Running it again sends only what is still missing.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import queue
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from s3transfer.subscribers import BaseSubscriber

from ..site import HASHED_PATTERN, NO_CACHE, manifest, versions
from . import remote
from .local import MULTIPART_THRESHOLD, PART_SIZE, Selection, shown
from .plan import SHA256_METADATA, Plan, make_plan, read_versions
from .rules import DEFAULT_CACHE_CONTROL, Rules

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from s3transfer.futures import TransferFuture
    from s3transfer.manager import TransferManager

    from .plan import Upload, VersionsChange

# DeleteObjects takes at most this many keys per request.
_DELETE_BATCH = 1000
_MIB = 1 << 20


@dataclass
class Result:
    """What a publish did (or, for a dry run, would do)."""

    bucket: str
    prefix: str
    files: int
    uploaded: list[str]
    uploaded_bytes: int
    unchanged: int
    deleted: list[str]
    manifest_key: str
    manifest_written: bool
    versions_key: str | None = None
    versions_written: bool = False
    dry_run: bool = False
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    changed_outside: list[str] = field(default_factory=list)
    bucket_created: bool = False

    def summary(self) -> str:
        """``uploaded N (X MiB) · unchanged M · deleted D · S s`` (``skipped
        N`` before the time when something was left out), after a line for
        each thing the user should know: originals changed outside publish,
        keys ``--delete`` kept; for a dry run, what would be done."""
        uploaded, deleted = (
            ("would upload", "would delete") if self.dry_run else ("uploaded", "deleted")
        )
        lines = []
        if self.bucket_created:
            lines.append(f"{'would create' if self.dry_run else 'created'} bucket {self.bucket}")
        if self.changed_outside:
            lines.append(
                f"changed outside publish, {'would be ' if self.dry_run else ''}sent again "
                f"from DIR with their variants: {', '.join(map(shown, self.changed_outside))}"
            )
        if self.kept:
            keys = "key" if len(self.kept) == 1 else "keys"
            lines.append(
                f"kept {len(self.kept)} {keys} under the prefix that the previous manifest "
                f"does not name, e.g. {shown(self.kept[0])} (--force deletes them too)"
            )
        skipped = f" · skipped {len(self.skipped)}" if self.skipped else ""
        lines.append(
            f"{uploaded} {len(self.uploaded)} ({self.uploaded_bytes / _MIB:.1f} MiB)"
            f" · unchanged {self.unchanged}"
            f" · {deleted} {len(self.deleted)}"
            f"{skipped}"
            f" · {self.seconds:.1f} s"
        )
        return "\n".join(lines)

    def as_json(self) -> dict[str, object]:
        """Counts, bytes, seconds and the keys written and deleted, for CI."""
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "dry_run": self.dry_run,
            "files": self.files,
            "uploaded": len(self.uploaded),
            "uploaded_bytes": self.uploaded_bytes,
            "unchanged": self.unchanged,
            "deleted": len(self.deleted),
            "seconds": round(self.seconds, 3),
            "manifest": self.manifest_key,
            "manifest_written": self.manifest_written,
            "versions": self.versions_key,
            "versions_written": self.versions_written,
            "uploaded_keys": self.uploaded,
            "deleted_keys": self.deleted,
            "skipped": len(self.skipped),
            "skipped_paths": self.skipped,
            "kept": len(self.kept),
            "kept_keys": self.kept,
            "changed_outside_keys": self.changed_outside,
            "bucket_created": self.bucket_created,
        }


def publish(
    folder: str | os.PathLike[str],
    *,
    bucket: str,
    key_prefix: str = "",
    client: S3Client | None = None,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    addressing_style: remote.AddressingStyle | None = None,
    cache_control: str | None = None,
    hashed_pattern: str | None = None,
    delete: bool = False,
    force: bool = False,
    dry_run: bool = False,
    version: str | None = None,
    aliases: Sequence[str] = (),
    default: str | None = None,
    exclude: Sequence[str] = (),
    include_hidden: bool = False,
    follow_links: bool = False,
    create_bucket: bool = False,
    max_concurrency: int = 10,
    progress: Callable[[int], None] | None = None,
) -> Result:
    """Upload the built site in ``folder`` to ``bucket`` under ``key_prefix``.

    :param client: a boto3 S3 client; else one is made from ``endpoint_url``,
        ``region_name``, ``addressing_style`` and boto3's credential chain.
    :param cache_control: for files neither entry points nor hashed
        (default ``public, max-age=300``); see :mod:`s3wsgi.publish.rules`.
    :param hashed_pattern: a regular expression marking content-hashed names.
    :param delete: remove keys under the prefix the folder no longer has
        that the previous manifest names (``force``: every such key), never
        one ``exclude`` or the hidden rule leaves out.
    :param dry_run: decide, report, and write nothing.
    :param exclude: globs on paths relative to ``folder`` (a folder's match
        leaves out its contents) not published; files and folders whose
        name starts with ``.`` (but ``.well-known``) are left out too,
        unless ``include_hidden``.
    :param follow_links: publish what symbolic links lead to when it lies
        inside ``folder``; without it every link is refused.
    :param create_bucket: create the bucket (in the client's region) if
        there is none.
    :param version: publish under ``<key_prefix><version>/`` and add it to
        ``<key_prefix>versions.json``; ``aliases`` point at it, ``default``
        sets the file's default.
    :param progress: called with each count of bytes sent, from the upload threads.

    Raises ValueError for a request that cannot be carried out (a missing or
    empty folder, a bad name or pattern), :class:`PublishError` when S3 or
    the way to it fails; either way the previous site is left whole.

    Usage::

        publish("_build/html", bucket="my-docs", key_prefix="docs/", delete=True)
    """
    started = time.monotonic()
    rules = Rules(
        cache_control=DEFAULT_CACHE_CONTROL if cache_control is None else cache_control,
        hashed_pattern=HASHED_PATTERN if hashed_pattern is None else hashed_pattern,
    )
    own_client = client is None
    if client is None:
        client = remote.make_client(
            endpoint_url=endpoint_url,
            region_name=region_name,
            addressing_style=addressing_style,
            max_pool_connections=max_concurrency,
        )
    try:
        plan = plan_or_fail(
            folder,
            client=client,
            bucket=bucket,
            key_prefix=key_prefix,
            rules=rules,
            delete=delete,
            force=force,
            version=version,
            aliases=aliases,
            default=default,
            # One pattern given as a string is one pattern, not its characters.
            selection=Selection(
                (exclude,) if isinstance(exclude, str) else tuple(exclude), include_hidden
            ),
            follow_links=follow_links,
            create_bucket=create_bucket,
            max_concurrency=max_concurrency,
        )
        return apply(
            plan,
            client,
            dry_run=dry_run,
            max_concurrency=max_concurrency,
            progress=progress,
            started=started,
        )
    finally:
        if own_client:
            client.close()


def plan_or_fail(
    folder: str | os.PathLike[str], *, client: S3Client, bucket: str, **options: Any
) -> Plan:
    """:func:`make_plan`, with S3's failures as one-line PublishErrors."""
    with _one_line_failures(client, bucket):
        return make_plan(folder, client=client, bucket=bucket, **options)


def apply(
    plan: Plan,
    client: S3Client,
    *,
    dry_run: bool = False,
    max_concurrency: int = 10,
    progress: Callable[[int], None] | None = None,
    started: float | None = None,
) -> Result:
    """Carry out ``plan``: uploads, manifest, deletions, ``versions.json``."""
    started = time.monotonic() if started is None else started
    change = plan.versions_change
    result = Result(
        bucket=plan.bucket,
        prefix=plan.prefix,
        files=plan.files,
        uploaded=[upload.key for upload in plan.uploads],
        uploaded_bytes=plan.upload_bytes,
        unchanged=len(plan.unchanged),
        deleted=list(plan.deletes),
        manifest_key=plan.manifest_key,
        manifest_written=plan.manifest_body is not None,
        versions_key=change.key if change else None,
        versions_written=change is not None,
        dry_run=dry_run,
        skipped=list(plan.skipped),
        kept=list(plan.kept),
        changed_outside=list(plan.changed_outside),
        bucket_created=plan.create_bucket,
    )
    if not dry_run:
        with _one_line_failures(client, plan.bucket):
            if plan.create_bucket:
                remote.create_bucket(client, plan.bucket)
            _upload(plan, client, max_concurrency, progress)
            if plan.manifest_body is not None:
                _put_json(client, plan.bucket, plan.manifest_key, plan.manifest_body)
            _delete(client, plan.bucket, plan.deletes)
            if change is not None:
                _switch_versions(client, plan.bucket, change)
    result.seconds = time.monotonic() - started
    return result


def _switch_versions(client: S3Client, bucket: str, change: VersionsChange) -> None:
    """Apply the change to ``versions.json`` as it is now (read again: it
    may have moved since the plan was made), in one write."""
    document = read_versions(client, bucket, change.key)
    try:
        updated = versions.updated(document, change.version, change.aliases, change.default)
    except ValueError as error:  # it changed under us in a way that conflicts
        raise remote.PublishError(f"{change.key}: {error}") from None
    _put_json(client, bucket, change.key, versions.dumps(updated))


@contextmanager
def _one_line_failures(client: S3Client, bucket: str) -> Iterator[None]:
    """S3's failures, and a file's that went away or cannot be read, as
    one-line PublishErrors."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as error:
        endpoint = client.meta.endpoint_url
        raise remote.PublishError(
            remote.describe(error, bucket=bucket, endpoint=endpoint)
        ) from None
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise remote.PublishError(
            f"{error.filename}: {reason}" if error.filename else reason
        ) from None


def _upload(
    plan: Plan,
    client: S3Client,
    max_concurrency: int,
    progress: Callable[[int], None] | None,
) -> None:
    """Every upload of the plan, phase after phase, each phase in parallel
    through boto3's transfer manager (multipart above its threshold)."""
    from boto3.s3.transfer import TransferConfig, create_transfer_manager

    config = TransferConfig(
        max_concurrency=max_concurrency,
        multipart_threshold=MULTIPART_THRESHOLD,
        multipart_chunksize=PART_SIZE,
    )
    sending = _Sending(plan.bucket, 2 * max_concurrency, progress)
    try:
        # On a failure or an interrupt, leaving the block cancels the transfers
        # not yet started and waits for those under way. (Its shutdown(cancel=True)
        # is not used: s3transfer 0.19 passes the message as the exception type.)
        with create_transfer_manager(client, config) as manager:
            for _, phase in groupby(plan.uploads, key=lambda upload: upload.phase):
                sending.phase(manager, phase)
    finally:
        sending.close()  # once no transfer reads them


class _Sending:
    """Uploads with a few more files open than are being sent, so that a
    site of many files never holds them all open at once."""

    def __init__(self, bucket: str, window: int, progress: Callable[[int], None] | None):
        self.bucket, self.window = bucket, window
        self.finished: queue.SimpleQueue[TransferFuture] = queue.SimpleQueue()
        self.subscribers: list[BaseSubscriber] = [_Done(self.finished.put)]
        if progress:
            self.subscribers.append(_Progress(progress))
        self.sources: dict[int, BinaryIO] = {}  # by id() of the transfer

    def phase(self, manager: TransferManager, uploads: Iterable[Upload]) -> None:
        """Send every upload and wait for them; the first failure stops the publish."""
        waiting = iter(uploads)
        for upload in itertools.islice(waiting, self.window):
            self._submit(manager, upload)
        while self.sources:
            future = self.finished.get()
            self.sources.pop(id(future)).close()
            future.result()
            for upload in itertools.islice(waiting, 1):
                self._submit(manager, upload)

    def _submit(self, manager: TransferManager, upload: Upload) -> None:
        source = _source(upload)
        try:
            future = manager.upload(
                source,
                self.bucket,
                upload.key,
                extra_args=upload.extra_args,
                subscribers=self.subscribers,
            )
        except BaseException:
            source.close()
            raise
        self.sources[id(future)] = source

    def close(self) -> None:
        for source in self.sources.values():
            source.close()


def _source(upload: Upload) -> BinaryIO:
    """What an upload sends: its file, opened as it was read when planned
    (never through a link), or the bytes made in memory."""
    if upload.data is None:
        assert upload.file is not None, "an upload reads a file or holds its bytes"
        return cast(BinaryIO, upload.file.open())
    return io.BytesIO(upload.data)


def _put_json(client: S3Client, bucket: str, key: str, body: bytes) -> None:
    client.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType=manifest.CONTENT_TYPE,
        CacheControl=NO_CACHE,
        Metadata={SHA256_METADATA: hashlib.sha256(body).hexdigest()},
    )


def _delete(client: S3Client, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), _DELETE_BATCH):
        batch = keys[start : start + _DELETE_BATCH]
        answer = client.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
        )
        errors = answer.get("Errors") or []
        if errors:
            first = errors[0]
            raise remote.PublishError(
                f"could not delete {len(errors)} keys, e.g. {first.get('Key')!r}: "
                f"{first.get('Code', '')} {first.get('Message', '')}".strip()
            )


class _Done(BaseSubscriber):
    """A transfer subscriber handing each finished transfer to a callable."""

    def __init__(self, callback: Callable[[TransferFuture], None]):
        self.callback = callback

    def on_done(self, future: TransferFuture, **kwargs: Any) -> None:
        self.callback(future)


class _Progress(BaseSubscriber):
    """A transfer subscriber passing each count of bytes sent to a callable
    (negative when a retried request starts over)."""

    def __init__(self, callback: Callable[[int], None]):
        self.callback = callback

    def on_progress(self, future: TransferFuture, bytes_transferred: int, **kwargs: Any) -> None:
        self.callback(bytes_transferred)

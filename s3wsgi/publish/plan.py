"""Deciding what a publish sends and deletes, before anything is written.

An object is left alone when S3 already holds it as it would be uploaded:

1. the previous manifest names the file with the same SHA-256, size,
   Content-Type and Cache-Control, and the listing holds the key at that
   size (and each variant the manifest names, at its size): no request;
2. otherwise, when the listing holds the key at the same size with an ETag
   that is the local MD5 (or a multipart ETag, which tells nothing), one
   HeadObject confirms the stored ``s3wsgi-sha256`` metadata and headers.
   This finishes an interrupted publish without sending again what it sent,
   and re-sends objects some other tool uploaded without our headers.

Everything else is uploaded, in phases, so that a reader never meets a
page whose assets are missing: assets (every file that is not an entry
point), then their variants, then the entry points' variants and the entry
points themselves. The manifest comes after all of them, deletions after
the manifest, and ``versions.json`` last.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..http.paths import MAX_KEY_BYTES
from ..site import MANIFEST_NAME, VERSIONS_NAME, manifest, versions
from . import compress, remote
from .local import LocalFile, Selection, scan
from .rules import Rules, is_compressible

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Phases of the upload, in order.
ASSETS, ASSET_VARIANTS, ENTRY_VARIANTS, ENTRIES = range(4)

# The object metadata every uploaded object carries: the SHA-256 of its bytes.
SHA256_METADATA = "s3wsgi-sha256"


@dataclass(frozen=True)
class Upload:
    """One object to write: from a file (``file``) or from memory (``data``)."""

    key: str
    size: int
    sha256: str
    content_type: str
    cache_control: str
    phase: int
    encoding: str | None = None
    file: LocalFile | None = None
    data: bytes | None = field(default=None, repr=False)

    @property
    def extra_args(self) -> dict[str, str | dict[str, str]]:
        """PutObject's headers and metadata for this object."""
        args: dict[str, str | dict[str, str]] = {
            "ContentType": self.content_type,
            "CacheControl": self.cache_control,
            "Metadata": {SHA256_METADATA: self.sha256},
        }
        if self.encoding:
            args["ContentEncoding"] = self.encoding
        return args


@dataclass(frozen=True)
class VersionsChange:
    """What ``versions.json`` gets once the version is in place."""

    key: str
    version: str
    aliases: tuple[str, ...]
    default: str | None


@dataclass
class Plan:
    """What a publish will do; nothing of it has been written yet."""

    bucket: str
    prefix: str
    files: int
    uploads: list[Upload]
    unchanged: list[str]
    deletes: list[str]
    manifest_key: str
    manifest_body: bytes | None  # None: the stored manifest is already this one
    versions_change: VersionsChange | None = None  # None: versions.json stays as it is
    skipped: list[str] = field(default_factory=list)  # left out: hidden or excluded
    kept: list[str] = field(default_factory=list)  # --delete spared: no manifest of ours names them
    changed_outside: list[str] = field(default_factory=list)  # originals not as published
    create_bucket: bool = False

    @property
    def upload_bytes(self) -> int:
        return sum(upload.size for upload in self.uploads)


def normalized_prefix(key_prefix: str) -> str:
    """``docs``, ``/docs/`` -> ``docs/``; nothing -> the bucket's root."""
    stripped = key_prefix.strip("/")
    return stripped + "/" if stripped else ""


def make_plan(
    folder: str | os.PathLike[str],
    *,
    client: S3Client,
    bucket: str,
    key_prefix: str = "",
    rules: Rules | None = None,
    delete: bool = False,
    force: bool = False,
    version: str | None = None,
    aliases: Sequence[str] = (),
    default: str | None = None,
    selection: Selection | None = None,
    follow_links: bool = False,
    create_bucket: bool = False,
    max_concurrency: int = 10,
) -> Plan:
    """Compare ``folder`` with what S3 holds and decide what to send.

    Reads S3 (ListObjectsV2, the previous manifest, HeadObject where an ETag
    alone cannot tell) and writes nothing. ValueError for a request that
    cannot be carried out as asked (a bad folder, file or version name).
    """
    compress.require_brotli()
    rules = rules or Rules()
    selection = selection or Selection()
    key_prefix = normalized_prefix(key_prefix)
    if (aliases or default) and not version:
        raise ValueError("--alias and --default need --version")
    if force and not delete:
        raise ValueError("--force needs --delete")
    if version:
        versions.check_name("--version", version)
        for name in [*aliases, *([default] if default else [])]:
            versions.check_name("--alias" if name in aliases else "--default", name)
    prefix = key_prefix + (version + "/" if version else "")
    folder_found = scan(folder, key_prefix=prefix, selection=selection, follow_links=follow_links)
    site = folder_found.files
    if any(file.path == MANIFEST_NAME for file in site):
        raise ValueError(f"{MANIFEST_NAME}: the folder holds a file named as the manifest")

    missing_bucket = create_bucket and not remote.bucket_exists(client, bucket)
    versions_change = None
    if version:
        versions_change = _versions_change(
            client,
            bucket,
            key_prefix + VERSIONS_NAME,
            version,
            tuple(aliases),
            default,
            missing_bucket,
        )
    listed = {} if missing_bucket else remote.list_prefix(client, bucket, prefix)
    manifest_key = prefix + MANIFEST_NAME
    previous = None
    if manifest_key in listed:
        previous = manifest.loads(remote.read(client, bucket, manifest_key) or b"")

    decided = _Decisions(client, bucket, prefix, rules, listed, previous or {}, site)
    decided.run(max_concurrency)
    entries = decided.entries
    manifest_body = None
    if previous != entries or manifest_key not in listed:
        manifest_body = manifest.dumps(entries)

    deletes: list[str] = []
    kept: list[str] = []
    if delete:
        wanted = decided.wanted | {manifest_key}
        ours = _listed_by(previous or {}, prefix)
        versioned = _kept_versions(client, bucket, prefix, listed) if not version else ()
        for key in sorted(listed):
            if key in wanted or any(key.startswith(k) for k in versioned):
                continue
            if _left_out(selection, key[len(prefix) :]):
                continue  # as rsync --exclude: what is left out is left alone
            (deletes if force or key in ours else kept).append(key)
    return Plan(
        bucket=bucket,
        prefix=prefix,
        files=len(site),
        uploads=sorted(decided.uploads, key=lambda upload: (upload.phase, upload.key)),
        unchanged=sorted(decided.unchanged),
        deletes=deletes,
        manifest_key=manifest_key,
        manifest_body=manifest_body,
        versions_change=versions_change,
        skipped=folder_found.skipped,
        kept=kept,
        changed_outside=sorted(decided.changed_outside),
        create_bucket=missing_bucket,
    )


def _listed_by(previous: dict[str, manifest.Entry], prefix: str) -> set[str]:
    """The keys the previous manifest names: its files and their variants."""
    keys = set()
    for path, entry in previous.items():
        keys.add(prefix + path)
        keys.update(
            prefix + path + compress.SUFFIXES[enc]
            for enc in entry.encodings
            if enc in compress.SUFFIXES
        )
    return keys


def _left_out(selection: Selection, path: str) -> bool:
    """Whether ``selection`` leaves out a key's path, or the file it is a variant of."""
    if selection.skips(path):
        return True
    for suffix in compress.SUFFIXES.values():
        if path.endswith(suffix) and selection.skips(path[: -len(suffix)]):
            return True
    return False


def _versions_change(
    client: S3Client,
    bucket: str,
    key: str,
    version: str,
    aliases: tuple[str, ...],
    default: str | None,
    missing_bucket: bool = False,
) -> VersionsChange | None:
    """The change to ``versions.json``, checked against the stored file now
    so that a bad alias or default stops the publish before it starts."""
    document = versions.empty() if missing_bucket else read_versions(client, bucket, key)
    if versions.updated(document, version, aliases, default) == document:
        return None
    return VersionsChange(key, version, aliases, default)


def read_versions(client: S3Client, bucket: str, key: str) -> versions.Document:
    body = remote.read(client, bucket, key)
    if body is None:
        return versions.empty()
    try:
        return versions.loads(body)
    except ValueError as error:
        raise remote.PublishError(f"{key}: {error}") from None


def _kept_versions(
    client: S3Client, bucket: str, prefix: str, listed: dict[str, remote.Listed]
) -> tuple[str, ...]:
    """What ``--delete`` of an unversioned publish never removes: a
    ``versions.json`` under its prefix, and the folders of the versions it
    names, which are published on their own."""
    key = prefix + VERSIONS_NAME
    if key not in listed:
        return ()
    document = read_versions(client, bucket, key)
    return (key, *(f"{prefix}{name}/" for name in document["versions"]))


@dataclass
class _Object:
    """An object as it should be stored, before it is known whether it is."""

    upload: Upload
    md5: str


class _Decisions:
    """Each file's and variant's fate: unchanged, or to upload."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str,
        rules: Rules,
        listed: dict[str, remote.Listed],
        previous: dict[str, manifest.Entry],
        site: list[LocalFile],
    ):
        self.client, self.bucket, self.prefix = client, bucket, prefix
        self.rules, self.listed, self.previous, self.site = rules, listed, previous, site
        self.local_keys = {prefix + file.path for file in site}
        self.entries: dict[str, manifest.Entry] = {}
        self.uploads: list[Upload] = []
        self.unchanged: list[str] = []
        self.wanted: set[str] = set()
        self.changed_outside: list[str] = []
        self.forced: set[str] = set()

    def run(self, max_concurrency: int) -> None:
        to_compress: list[tuple[LocalFile, str, manifest.Entry]] = []
        to_check: list[_Object] = []
        changed = set()
        suspects = [file for file in self.site if self._etag_differs(file)]
        if suspects:
            with ThreadPoolExecutor(max_workers=max_concurrency) as pool:
                found = zip(suspects, pool.map(self._ours, suspects))
                changed = {file.path for file, ours in found if not ours}
        for file in self.site:
            key = self.prefix + file.path
            self.wanted.add(key)
            if file.path in changed or self._size_differs(file, key):
                # Changed behind publish's back (a hand upload): the original
                # and its variants are sent again from the folder.
                self.changed_outside.append(key)
                self.forced.add(key)
            entry, original_unchanged, variants_unchanged = self._by_manifest(file, key)
            if original_unchanged:
                self.unchanged.append(key)
            elif key in self.forced:
                self.uploads.append(self._original(file, key, entry).upload)
            else:
                to_check.append(self._original(file, key, entry))
            if variants_unchanged:
                variant_keys = [key + compress.SUFFIXES[enc] for enc in entry.encodings]
                self.unchanged += variant_keys
                self.wanted.update(variant_keys)
                self.entries[file.path] = entry
            elif is_compressible(entry.content_type) and compress.worth_compressing(file.size):
                to_compress.append((file, key, entry))
            else:
                # No variants: none listed, even where the previous manifest
                # listed some that are no longer all in place.
                self.entries[file.path] = replace(entry, encodings={})
        # Brotli and zlib release the GIL: one thread per core compresses.
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            for path, entry, variants in pool.map(lambda item: self._variants(*item), to_compress):
                self.entries[path] = entry
                self.wanted.update(item.upload.key for item in variants)
                if self.prefix + path in self.forced:
                    self.uploads += [item.upload for item in variants]
                else:
                    to_check += variants
        with ThreadPoolExecutor(max_workers=max_concurrency) as pool:
            for stored, item in zip(pool.map(self._stored, to_check), to_check):
                if stored:
                    self.unchanged.append(item.upload.key)
                else:
                    self.uploads.append(item.upload)

    def _etag_differs(self, file: LocalFile) -> bool:
        """Whether the listing shows the original, unchanged here since the
        previous manifest, with an ETag other than publish's upload of it
        would have: changed by hand, or stored encrypted with SSE-KMS
        (whose ETags are no MD5s), which :meth:`_ours` tells apart."""
        previous = self.previous.get(file.path)
        listed = self.listed.get(self.prefix + file.path)
        return (
            previous is not None
            and listed is not None
            and (previous.sha256, previous.size) == (file.sha256, file.size)
            and listed.size == file.size
            and file.etag is not None
            and listed.etag.strip('"') != file.etag
        )

    def _ours(self, file: LocalFile) -> bool:
        """Whether S3 holds the file's bytes as publish stored them, by the
        digest publish stored in its metadata (one HeadObject)."""
        stored = remote.head(self.client, self.bucket, self.prefix + file.path)
        return stored is not None and (
            stored.get("Metadata", {}).get(SHA256_METADATA) == file.sha256
            and stored.get("ContentLength") == file.size
        )

    def _size_differs(self, file: LocalFile, key: str) -> bool:
        """Whether the listing shows the original at a size other than the
        previous manifest recorded (and it is unchanged here)."""
        previous = self.previous.get(file.path)
        listed = self.listed.get(key)
        return (
            previous is not None
            and listed is not None
            and previous.sha256 == file.sha256
            and listed.size != previous.size
        )

    def _by_manifest(self, file: LocalFile, key: str) -> tuple[manifest.Entry, bool, bool]:
        """The file's manifest entry, as far as known now, and whether the
        previous manifest and the listing show the original and its
        variants in place."""
        content_type = self.rules.content_type(file.path)
        cache_control = self.rules.cache_control_for(file.path)
        entry = manifest.Entry(file.sha256, file.size, content_type, cache_control)
        previous = self.previous.get(file.path)
        listed = self.listed.get(key)
        if (
            key in self.forced
            or previous is None
            or listed is None
            or listed.size != file.size
            or (previous.sha256, previous.size) != (file.sha256, file.size)
            or (previous.content_type, previous.cache_control) != (content_type, cache_control)
        ):
            return entry, False, False
        variants_in_place = all(
            enc in compress.SUFFIXES
            and self._listed_size(key + compress.SUFFIXES[enc]) == size
            and key + compress.SUFFIXES[enc] not in self.local_keys
            for enc, size in previous.encodings.items()
        )
        return previous, True, variants_in_place

    def _listed_size(self, key: str) -> int | None:
        listed = self.listed.get(key)
        return None if listed is None else listed.size

    def _original(self, file: LocalFile, key: str, entry: manifest.Entry) -> _Object:
        phase = ENTRIES if self.rules.is_entry(file.path) else ASSETS
        upload = Upload(
            key=key,
            size=file.size,
            sha256=file.sha256,
            content_type=entry.content_type,
            cache_control=entry.cache_control,
            phase=phase,
            file=file,
        )
        return _Object(upload, file.md5)

    def _variants(
        self, file: LocalFile, key: str, entry: manifest.Entry
    ) -> tuple[str, manifest.Entry, list[_Object]]:
        """Compress the file: its manifest entry with the variants kept, and them."""
        data = file.read()
        phase = ENTRY_VARIANTS if self.rules.is_entry(file.path) else ASSET_VARIANTS
        made: list[_Object] = []
        encodings: dict[str, int] = {}
        for encoding, compressed in compress.variants(data).items():
            variant_key = key + compress.SUFFIXES[encoding]
            if variant_key in self.local_keys:
                continue  # the folder's own file of that name wins
            if len(variant_key.encode()) > MAX_KEY_BYTES:
                continue  # a key S3 would refuse: the file is served as stored
            encodings[encoding] = len(compressed)
            upload = Upload(
                key=variant_key,
                size=len(compressed),
                sha256=hashlib.sha256(compressed).hexdigest(),
                content_type=entry.content_type,
                cache_control=entry.cache_control,
                phase=phase,
                encoding=encoding,
                data=compressed,
            )
            made.append(_Object(upload, hashlib.md5(compressed, usedforsecurity=False).hexdigest()))
        entry = manifest.Entry(
            file.sha256, file.size, entry.content_type, entry.cache_control, encodings
        )
        return file.path, entry, made

    def _stored(self, item: _Object) -> bool:
        """Whether S3 holds the object exactly as it would be uploaded."""
        upload = item.upload
        listed = self.listed.get(upload.key)
        if listed is None or listed.size != upload.size:
            return False
        if listed.md5 is not None and listed.md5 != item.md5:
            return False
        stored = remote.head(self.client, self.bucket, upload.key)
        return stored is not None and (
            stored.get("Metadata", {}).get(SHA256_METADATA) == upload.sha256
            and stored.get("ContentType") == upload.content_type
            and stored.get("CacheControl") == upload.cache_control
            and stored.get("ContentEncoding") == upload.encoding
            and stored.get("ContentLength") == upload.size
        )

"""The built site on disk: the files under a folder that may be published,
each with the digests of the bytes read from it.

The folder's writers are not trusted with what lies outside it. Only
regular files are published, and every file and folder is opened one name
at a time from the folder down, never following a symbolic link
(``O_NOFOLLOW``), so a link that leaves the folder, or a file swapped for
one while a publish runs, is refused rather than read. Sizes and digests
come from the bytes read, never from ``stat`` (which says 0 for
``/proc`` files).
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import io
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..http.paths import BadPath, key_for

_READ_SIZE = 1 << 20

# How publish uploads a file: in one PutObject below the threshold, in parts
# of PART_SIZE at and above it (so S3's ETag of it can be known in advance).
MULTIPART_THRESHOLD = PART_SIZE = 8 << 20
# S3's limit on parts; a file needing more gets larger parts from boto3.
_MAX_PARTS = 10_000

# The one hidden folder a site means to publish (RFC 8615 well-known URIs).
_WELL_KNOWN = ".well-known"

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a file swapped for a named pipe is refused, not waited on.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

_NOT_REGULAR = {
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


class BadFolder(ValueError):
    """The folder cannot be published as it is (missing, empty, a bad name)."""


@dataclass(frozen=True)
class Selection:
    """Which paths under the folder are left out: hidden ones (a name
    starting with ``.``, except ``.well-known``) unless ``include_hidden``,
    and those matching an ``exclude`` glob, a folder's contents with it.
    Applied alike to files on disk and to keys already in the bucket, which
    ``--delete`` then leaves alone (as rsync's ``--exclude`` does)."""

    exclude: tuple[str, ...] = ()
    include_hidden: bool = False
    _patterns: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # "drafts/" and "/drafts" name the folder as "drafts" does.
        patterns = tuple(pattern.strip("/") for pattern in self.exclude)
        object.__setattr__(self, "_patterns", tuple(p for p in patterns if p))

    def skips(self, path: str) -> bool:
        """Whether ``path`` (relative, ``/``-separated) or a folder holding it is left out."""
        parts = path.split("/")
        for depth, name in enumerate(parts, 1):
            if not self.include_hidden and name.startswith(".") and name != _WELL_KNOWN:
                return True
            if self._patterns:
                head = "/".join(parts[:depth])
                if any(fnmatch.fnmatchcase(head, pattern) for pattern in self._patterns):
                    return True
        return False


@dataclass(frozen=True)
class LocalFile:
    """A file to publish. ``path`` is relative to the folder, ``/``-separated;
    ``real`` is where its bytes are (the same but for a followed link)."""

    path: str
    root: str
    real: str
    identity: tuple[int, int]
    size: int
    sha256: str
    md5: str
    etag: str | None  # S3's ETag once publish has uploaded it; None: unknown

    def open(self) -> io.BufferedReader:
        """The file, opened as it was scanned: OSError if it is no longer
        the regular file of that size that was read then."""
        try:
            fd = open_inside(self.root, self.real)
        except OSError as error:
            if error.errno == errno.ELOOP:  # O_NOFOLLOW met a link
                raise OSError(
                    error.errno, "became a symbolic link: not followed", self.path
                ) from None
            raise OSError(error.errno, error.strerror, self.path) from None
        try:
            found = os.fstat(fd)
            if (found.st_dev, found.st_ino) != self.identity or not stat.S_ISREG(found.st_mode):
                raise OSError(0, "was replaced while publishing", self.path)
            if found.st_size != self.size:
                raise OSError(0, "changed while publishing", self.path)
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    def read(self) -> bytes:
        """The file's bytes, checked against the digest the scan made."""
        with self.open() as file:
            data = file.read()
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise OSError(0, "changed while publishing", self.path)
        return data


@dataclass
class Folder:
    """What :func:`scan` found: the files to publish, and the paths left
    out (a folder once, with a trailing ``/``)."""

    files: list[LocalFile]
    skipped: list[str]


def open_inside(root: str, real: str, *, folder: bool = False) -> int:
    """A descriptor of the file (or ``folder``) ``root/real``, opened one
    name at a time without following a link anywhere below ``root``."""
    *folders, name = real.split("/")
    fd = os.open(root, _DIRECTORY_FLAGS)
    try:
        for inner in folders:
            below = os.open(inner, _DIRECTORY_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = below
        return os.open(name, _DIRECTORY_FLAGS if folder else _FILE_FLAGS, dir_fd=fd)
    finally:
        os.close(fd)


def scan(
    folder: str | os.PathLike[str],
    *,
    key_prefix: str = "",
    selection: Selection | None = None,
    follow_links: bool = False,
) -> Folder:
    """The files under ``folder`` that ``selection`` keeps, sorted by path,
    each read once. BadFolder, naming every path at fault and why, if
    there is none or one cannot be published: a link (unless
    ``follow_links``, and then one leaving the folder), anything that is
    not a regular file or a folder, a name no URL of the middleware can
    name under ``key_prefix``."""
    given = os.fspath(folder)
    if not os.path.isdir(given):
        raise BadFolder(f"{given}: no such folder")
    walk = _Walk(os.path.realpath(given), key_prefix, selection or Selection(), follow_links)
    walk.folder("", None, ())
    if walk.refused:
        refused = [f"{shown(path)} ({reason})" for path, reason in sorted(walk.refused)[:10]]
        more = len(walk.refused) - len(refused)
        raise BadFolder(
            f"{given}: nothing was published: {len(walk.refused)} "
            f"{'path' if len(walk.refused) == 1 else 'paths'} cannot be: "
            + "; ".join(refused)
            + (f"; and {more} more" if more else "")
        )
    if not walk.files:
        raise BadFolder(f"{given}: no files to publish")
    return Folder(sorted(walk.files, key=lambda file: file.path), sorted(walk.skipped))


def shown(path: str) -> str:
    """A path or a key as a line on the terminal can show it: quoted if it
    holds anything unprintable (a newline, an escape sequence a bucket
    writer put in a key, a byte that is not UTF-8)."""
    return path if path.isprintable() else repr(path)


class _Walk:
    def __init__(self, root: str, key_prefix: str, selection: Selection, follow: bool):
        self.root, self.key_prefix, self.selection, self.follow = (
            root,
            key_prefix,
            selection,
            follow,
        )
        self.files: list[LocalFile] = []
        self.skipped: list[str] = []
        self.refused: list[tuple[str, str]] = []

    def folder(self, path: str, real: str | None, holders: tuple[tuple[int, int], ...]) -> None:
        """Everything in the folder at ``path`` (found at ``real``; None for
        the root), ``holders`` the folders it lies in, to tell a link loop."""
        try:
            if real is None:
                fd = os.open(self.root, _DIRECTORY_FLAGS)
            else:
                fd = open_inside(self.root, real, folder=True)
        except OSError as error:
            # ELOOP: it became a link since it was listed.
            self.refused.append((path, f"cannot be opened: {(error.strerror or '').lower()}"))
            return
        try:
            found = os.fstat(fd)
            holders = (*holders, (found.st_dev, found.st_ino))
            with os.scandir(fd) as entries:
                listed = sorted(
                    (entry.name, entry.stat(follow_symlinks=False)) for entry in entries
                )
        finally:
            os.close(fd)
        inside = real + "/" if real else ""
        for name, status in listed:
            self.entry(path + "/" + name if path else name, inside + name, status, holders)

    def entry(
        self, path: str, real: str, status: os.stat_result, holders: tuple[tuple[int, int], ...]
    ) -> None:
        if self.selection.skips(path):
            self.skipped.append(path + "/" if stat.S_ISDIR(status.st_mode) else path)
            return
        problem = self._name_problem(path)
        if problem:
            self.refused.append((path, problem))
            return
        if stat.S_ISLNK(status.st_mode):
            target = self._link_target(path, real)
            if target is None:
                return
            real, status = target
        if stat.S_ISDIR(status.st_mode):
            if (status.st_dev, status.st_ino) in holders:
                self.refused.append((path, "a link to a folder holding it: a loop"))
            else:
                self.folder(path, real, holders)
        elif stat.S_ISREG(status.st_mode):
            self._read(path, real)
        else:
            kind = _NOT_REGULAR.get(stat.S_IFMT(status.st_mode), "not a regular file")
            self.refused.append((path, f"{kind}, not a regular file"))

    def _name_problem(self, path: str) -> str | None:
        """Why no request path of the middleware could name this key, if so."""
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            return "the name is not valid UTF-8"
        try:
            key_for(path, key_prefix=self.key_prefix, index_document="")
        except BadPath as error:
            return f"no URL can name it: {error}"
        return None

    def _link_target(self, path: str, real: str) -> tuple[str, os.stat_result] | None:
        """Where a link leads, if it may be followed: its real path under
        the root and what is there; None, refused, otherwise."""
        link = os.path.join(self.root, real)
        try:
            pointed = shown(os.readlink(link))
        except OSError as error:
            self.refused.append((path, f"a symbolic link that cannot be read: {error.strerror}"))
            return None
        if not self.follow:
            self.refused.append(
                (path, f"a symbolic link to {pointed}; --follow-links follows links inside DIR")
            )
            return None
        target = os.path.realpath(link)
        if os.path.commonpath([self.root, target]) != self.root:
            self.refused.append((path, f"a symbolic link to {pointed}, outside DIR"))
            return None
        try:
            status = os.stat(target, follow_symlinks=False)
        except OSError:
            self.refused.append((path, f"a symbolic link to {pointed}, which does not exist"))
            return None
        if stat.S_ISLNK(status.st_mode):  # realpath gave up: links leading to each other
            self.refused.append((path, f"a symbolic link to {pointed}: a loop of links"))
            return None
        real = os.path.relpath(target, self.root).replace(os.sep, "/")
        if real != "." and self.selection.skips(real):
            # What is left out is not published under another name either.
            self.refused.append((path, f"a symbolic link to {pointed}, which is left out"))
            return None
        return real, status

    def _read(self, path: str, real: str) -> None:
        """Read the file: its digests, and its identity to check it is the
        same file when it is read again."""
        try:
            fd = open_inside(self.root, real)
        except OSError as error:
            # ELOOP: it became a link since it was listed.
            self.refused.append((path, f"cannot be opened: {(error.strerror or '').lower()}"))
            return
        with os.fdopen(fd, "rb") as file:
            found = os.fstat(fd)
            if not stat.S_ISREG(found.st_mode):
                self.refused.append((path, "was replaced by something not a regular file"))
                return
            size, sha256, md5, etag = _digests(iter(lambda: file.read(_READ_SIZE), b""))
        self.files.append(
            LocalFile(path, self.root, real, (found.st_dev, found.st_ino), size, sha256, md5, etag)
        )


def _digests(chunks: Iterable[bytes]) -> tuple[int, str, str, str | None]:
    """Size, SHA-256, MD5 and the ETag S3 gives the bytes once publish has
    uploaded them (the MD5, or for a multipart upload the MD5 of its
    parts' MD5s and their count), in one pass."""
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    parts: list[bytes] = []
    part, in_part, size = hashlib.md5(usedforsecurity=False), 0, 0
    for chunk in chunks:
        sha256.update(chunk)
        md5.update(chunk)
        size += len(chunk)
        while chunk:
            taken = chunk[: PART_SIZE - in_part]
            part.update(taken)
            in_part += len(taken)
            chunk = chunk[len(taken) :]
            if in_part == PART_SIZE:
                parts.append(part.digest())
                part, in_part = hashlib.md5(usedforsecurity=False), 0
    if in_part:
        parts.append(part.digest())
    etag: str | None = md5.hexdigest()
    if size >= MULTIPART_THRESHOLD:
        joined = hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest()
        etag = f"{joined}-{len(parts)}" if len(parts) <= _MAX_PARTS else None
    return size, sha256.hexdigest(), md5.hexdigest(), etag

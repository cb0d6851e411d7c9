"""The built site on disk: every file under a folder, with its digests."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

_READ_SIZE = 1 << 20


class BadFolder(ValueError):
    """The folder cannot be published as it is (missing, empty, a bad name)."""


@dataclass(frozen=True)
class LocalFile:
    """A file to publish. ``path`` is relative to the folder, ``/``-separated."""

    path: str
    filename: str
    size: int
    sha256: str
    md5: str


def digests(filename: str) -> tuple[int, str, str]:
    """Size, SHA-256 and MD5 (hex) of a file, read once."""
    sha256, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with open(filename, "rb") as file:
        while chunk := file.read(_READ_SIZE):
            sha256.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return size, sha256.hexdigest(), md5.hexdigest()


def scan(folder: str | os.PathLike[str]) -> list[LocalFile]:
    """Every file under ``folder`` (symbolic links to files followed), sorted
    by path. BadFolder if there is none, or a name cannot be a key."""
    root = os.fspath(folder)
    if not os.path.isdir(root):
        raise BadFolder(f"{root}: no such folder")
    files = []
    for current, _, names in os.walk(root):
        for name in names:
            filename = os.path.join(current, name)
            if not os.path.isfile(filename):
                continue  # a broken link, a socket, a pipe
            path = os.path.relpath(filename, root).replace(os.sep, "/")
            try:
                path.encode("utf-8")
            except UnicodeEncodeError:
                raise BadFolder(f"{filename!r}: the name is not valid UTF-8") from None
            files.append(LocalFile(path, filename, *digests(filename)))
    if not files:
        raise BadFolder(f"{root}: no files to publish")
    return sorted(files, key=lambda file: file.path)

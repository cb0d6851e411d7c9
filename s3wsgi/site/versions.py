"""``versions.json``: which published versions exist and what each alias
points at, switched in one object write.

Key: ``<key_prefix>versions.json``, ``Content-Type: application/json``,
``Cache-Control: no-cache``. Body::

    {"versions": ["v1", "v2"], "aliases": {"latest": "v2", "stable": "v1"}, "default": "latest"}

- ``versions``: every version published under ``<key_prefix><version>/``,
  oldest first, in the order they were first published;
- ``aliases``: a name (``latest``, ``stable``) -> the version it stands for;
- ``default``: the version or alias a reader gets when the URL names none.

A server resolves ``/docs/<alias>/`` from this file. Each version's files
and manifest are complete before this file names it, so moving an alias is
one write and no reader ever sees half a release.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TypedDict

CONTENT_TYPE = "application/json"

# A version or alias is one URL path segment that needs no escaping.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


class Document(TypedDict):
    """The file's content, as read and as written."""

    versions: list[str]
    aliases: dict[str, str]
    default: str | None


def check_name(what: str, name: str) -> None:
    """Raise ValueError unless ``name`` can be a version or alias."""
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{what}: {name!r} must start with a letter or digit and hold only "
            "letters, digits and . _ + -"
        )


def empty() -> Document:
    return {"versions": [], "aliases": {}, "default": None}


def loads(body: bytes) -> Document:
    """The document, checked; ValueError if it is not a versions file."""
    try:
        document = json.loads(body)
        versions = [str(name) for name in document["versions"]]
        aliases = {str(name): str(target) for name, target in document.get("aliases", {}).items()}
        default = document.get("default")
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ValueError("it is not a versions file") from None
    return {"versions": versions, "aliases": aliases, "default": default}


def checked(body: bytes) -> tuple[Document, list[str]]:
    """The document as a server may use it, and what it left out of it.

    Bucket data, so checked as strictly as ``s3wsgi publish`` writes it:
    a version or alias not named by :func:`check_name`'s rule, an alias of
    no such version, an alias that is also a version, or a default that
    names neither is left out, with a line saying why. ValueError for a
    body that is not a JSON object with a list of versions.
    """
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("it is not JSON") from None
    if not isinstance(document, dict):
        raise ValueError("it is not a JSON object")
    found_versions, found_aliases = document.get("versions"), document.get("aliases", {})
    if not isinstance(found_versions, list) or not isinstance(found_aliases, dict):
        raise ValueError('"versions" is not a list or "aliases" is not an object')
    dropped: list[str] = []
    versions: dict[str, None] = {}  # in the file's order; a dict, to look names up at once
    for name in found_versions:
        if not _is_name(name):
            dropped.append(f"version {_shown(name)}: not a version's name")
        elif name in versions:
            dropped.append(f"version {_shown(name)}: named twice")
        else:
            versions[name] = None
    aliases: dict[str, str] = {}
    for name, target in found_aliases.items():
        if not _is_name(name):
            dropped.append(f"alias {_shown(name)}: not an alias's name")
        elif name in versions:
            dropped.append(f"alias {_shown(name)}: also a version")
        elif not isinstance(target, str) or target not in versions:
            dropped.append(f"alias {_shown(name)}: {_shown(target)} is no version")
        else:
            aliases[name] = target
    default = document.get("default")
    if default is not None and not (
        isinstance(default, str) and (default in versions or default in aliases)
    ):
        dropped.append(f"default {_shown(default)}: no version or alias has that name")
        default = None
    return {"versions": list(versions), "aliases": aliases, "default": default}, dropped


def _shown(value: object) -> str:
    """A value for a log line: repr's escapes (no control character gets
    through), and no longer than a line."""
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _is_name(name: object) -> bool:
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def dumps(document: Document) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def updated(
    document: Document, version: str, aliases: Sequence[str] = (), default: str | None = None
) -> Document:
    """``document`` with ``version`` added (last, if it is new), each alias
    pointed at it, and ``default`` set. ValueError for a name that would be
    both a version and an alias, or a default that is neither.

    A version published again keeps its place: it was born then. Without
    ``default``, a new file's default is the first alias given, else the
    version.
    """
    versions = list(document["versions"])
    names = dict(document["aliases"])
    if version in names:
        raise ValueError(f"{version!r} is an alias in versions.json, not a version")
    if version not in versions:
        versions.append(version)
    for alias in aliases:
        if alias in versions:
            raise ValueError(f"--alias {alias}: {alias!r} is a version in versions.json")
        names[alias] = version
    chosen = default or document.get("default") or (aliases[0] if aliases else version)
    if chosen not in versions and chosen not in names:
        raise ValueError(f"--default {chosen}: no version or alias has that name")
    return {"versions": versions, "aliases": names, "default": chosen}

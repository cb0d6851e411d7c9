"""How the command line fails: one line, and an exit status."""

from __future__ import annotations

import re

from ..options import FIELDS, flag


class UsageError(Exception):
    """A mistake in what the user asked for: one line, exit status 2."""


class Problem(Exception):
    """Something in the world stops us (a bucket, a port): one line, exit 1."""


_OPTION_NAMES = re.compile(
    r"\b(" + "|".join(sorted((n for n in FIELDS if "_" in n), key=len, reverse=True)) + r")\b"
)


def in_flags(message: str) -> str:
    """An options error as the command line's user wrote it: each option
    named by its flag (``chunk_size`` is ``--chunk-size``)."""
    message = _OPTION_NAMES.sub(lambda match: flag(match.group(1)), message)
    first = message.split(" ", 1)[0].rstrip(":")
    if first in FIELDS:
        message = flag(first) + message[len(first) :]
    return message

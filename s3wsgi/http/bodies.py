"""Wrappers of a response body (a WSGI iterable with ``close()``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol


def close(body: Iterable[bytes] | None) -> None:
    """Close a body that will not be sent (no answer to HEAD has one), so its
    S3 stream is released now."""
    closer = getattr(body, "close", None)
    if closer is not None:
        closer()


class Holder(Protocol):
    """What holds a body's place while it is sent (the bound's turn)."""

    def to_client(self) -> None:
        """A chunk is handed to the server: until the next is asked for,
        the client's pace, not S3's, holds the body."""

    def from_client(self) -> None:
        """The server asks for the next chunk."""

    def done(self) -> None:
        """The body is closed."""


class Watched:
    """``body``, telling ``holder`` when each chunk is with the server and
    its client, and once when the body is closed (PEP 3333: the server
    closes it when the answer is over, also when the client went away)."""

    __slots__ = ("_body", "_holder")

    def __init__(self, body: Iterable[bytes], holder: Holder):
        self._body = body
        self._holder: Holder | None = holder

    def __iter__(self) -> Iterator[bytes]:
        holder = self._holder
        if holder is None:
            return
        for chunk in self._body:
            holder.to_client()
            yield chunk
            holder.from_client()

    def close(self) -> None:
        holder, self._holder = self._holder, None
        try:
            close(self._body)
        finally:
            if holder is not None:
                holder.done()


class Part:
    """The bytes ``first`` to ``first + length - 1`` of a whole object's
    body: a range served from an answer that ignored it."""

    __slots__ = ("_body", "_first", "_length")

    def __init__(self, body: Iterable[bytes], first: int, length: int):
        self._body = body
        self._first = first
        self._length = length

    def __iter__(self) -> Iterator[bytes]:
        skip, left = self._first, self._length
        for chunk in self._body:
            if skip >= len(chunk):
                skip -= len(chunk)
                continue
            piece = chunk[skip : skip + left]
            skip = 0
            left -= len(piece)
            yield piece
            if not left:
                return
        if left:
            raise OSError(f"the object ended {left} bytes early")

    def close(self) -> None:
        close(self._body)

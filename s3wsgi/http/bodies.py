"""Wrappers of a response body (a WSGI iterable with ``close()``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator


def close(body: Iterable[bytes] | None) -> None:
    """Close a body that will not be sent (no answer to HEAD has one), so its
    S3 stream is released now."""
    closer = getattr(body, "close", None)
    if closer is not None:
        closer()


class Watched:
    """``body``, with ``done()`` called once when it is closed (PEP 3333:
    the server closes it when the answer is over, also when the client went
    away)."""

    __slots__ = ("_body", "_done")

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]):
        self._body = body
        self._done: Callable[[], None] | None = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        done, self._done = self._done, None
        try:
            close(self._body)
        finally:
            if done is not None:
                done()


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

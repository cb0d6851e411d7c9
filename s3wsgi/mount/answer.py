"""Answering what a request resolved to (:mod:`.asked`): objects
through :class:`~.objects.ObjectAnswers`, the rest built here."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import assert_never

from ..http import responses
from ..http.encodings import choose
from ..http.responses import Response
from ..options import Options
from ..site import IMMUTABLE, VARIANT_SUFFIXES, is_entry_point
from ..stores.base import Budget, NotFound, OutOfTime
from .asked import (
    NAVIGATION_VARY,
    Environ,
    Fallback,
    HandOn,
    Listing,
    Miss,
    ObjectTarget,
    Redirect,
    Target,
    VersionsDocument,
)
from .listing import render as render_listing
from .objects import ObjectAnswers

log = logging.getLogger("s3wsgi")


class Answers:
    """The answers of one mount.

    :param objects: what answers a key.
    :param extra: headers added to every answer.
    :param listed: whether a listing shows an entry of this name.
    """

    def __init__(
        self, objects: ObjectAnswers, extra: list[tuple[str, str]], listed: Callable[[str], bool]
    ):
        self.objects = objects
        self.extra = extra
        self.listed = listed

    def answer(self, environ: Environ, target: Target, budget: Budget) -> Response | None:
        """The answer to ``target``, None to hand the request on; raises
        NotFound for an object or page that proves missing (the resolver
        then has the next target), and WebsiteRedirect as S3 gives it."""
        if isinstance(target, ObjectTarget):
            return self._object(environ, target, budget)
        if isinstance(target, Fallback):
            try:
                page = self.objects.answer(environ, target.key, budget)
            except NotFound:
                log.warning("spa_fallback %r is missing", target.key)
                raise
            page.headers.append(("Vary", NAVIGATION_VARY))
            return page
        if isinstance(target, Redirect):
            moved = responses.redirect(
                target.location, self.extra, target.status, cache_control=target.cache_control
            )
            if target.vary is not None:
                moved.headers.append(("Vary", target.vary))
            return moved
        if isinstance(target, Listing):
            return render_listing(
                environ,
                target.listed,
                target.folder,
                target.shown,
                self.listed,
                self.extra,
                target.after,
            )
        if isinstance(target, VersionsDocument):
            return self._versions_document(target)
        if isinstance(target, Miss):
            return self._miss(environ, target, budget)
        if isinstance(target, HandOn):
            return None
        assert_never(target)

    def _object(self, environ: Environ, target: ObjectTarget, budget: Budget) -> Response:
        """The object's answer: its variant for the request's
        Accept-Encoding, if it has variants, with ``Vary: Accept-Encoding``
        on every answer for it (RFC 9110 §12.5.5), 304s and 206s included."""
        key = target.key
        if not target.encodings:
            return self.objects.answer(environ, key, budget)
        coding = choose(environ.get("HTTP_ACCEPT_ENCODING"), target.encodings)
        answer = None
        if coding is not None:
            try:
                variant = key + VARIANT_SUFFIXES[coding]
                answer = self.objects.answer(environ, variant, budget, name=key)
            except NotFound:
                log.warning("%s: its %s variant is missing; sending it as stored", key, coding)
        if answer is None:
            answer = self.objects.answer(environ, key, budget)
        answer.headers.append(("Vary", "Accept-Encoding"))
        return answer

    def _versions_document(self, target: VersionsDocument) -> Response:
        body = json.dumps(target.document, ensure_ascii=False).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-cache"),
            *responses.STANDARD_HEADERS,
            *self.extra,
        ]
        return Response(HTTPStatus.OK, headers, [body])

    def _miss(self, environ: Environ, miss: Miss, budget: Budget) -> Response:
        """The error document with the miss's status, else a plain one."""
        answer = None
        if miss.page is not None:
            try:
                answer = self.objects.error_document(miss.page, environ["REQUEST_METHOD"], budget)
            except NotFound:
                log.warning("error_document %r is missing", miss.page)
            except OutOfTime:
                log.info("%s: no time left to read the error document", miss.page)
        if answer is None:
            answer = responses.text_response(miss.status, self.extra)
        if miss.vary is not None:
            answer.headers.append(("Vary", miss.vary))
        return answer


def cache_control(options: Options) -> Callable[[str], str | None]:
    """Cache-Control for an object that carries none, by the name it is
    served as: immutable for a content-hashed name (RFC 8246), else the
    ``cache_control`` option."""
    # Immutable by name only when the operator asks: a name that merely
    # looks hashed (a UUID, a date) may be replaced, and a year-long
    # immutable answer would hide the new bytes from every browser.
    # Files s3wsgi publish hashed carry their own Cache-Control.
    pattern = options.published.hashed_pattern
    hashed = re.compile(pattern) if pattern is not None else None

    def for_key(key: str) -> str | None:
        if hashed is not None and hashed.search(key) and not is_entry_point(key):
            return IMMUTABLE
        return options.cache_control

    return for_key

"""The answer for one key: asked of S3 in one request where S3 can be
trusted with the client's validators and range, and checked afterwards
whatever the server did with them.

Nothing an S3 server says about its answer is passed on unchecked
(docs/compatibility.rst):

- validators it ignored are evaluated here against the ETag and
  Last-Modified its 200 carries (RFC 9110 §13.2.2), at no extra cost;
- a ranged answer must be the range asked for: a whole object is cut to
  the range here, a wrong part is asked for again by its explicit bounds,
  and anything else is a logged 502 -- never a partial body under a 200;
- a 304 carries the validators and caching headers of the 200 it stands
  for (RFC 9110 §15.4.5), from a bounded memo of the 200s sent, else one
  HeadObject.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from http import HTTPStatus
from wsgiref.types import WSGIEnvironment

from ..http import conditions as cond
from ..http import responses
from ..http.bodies import Part
from ..http.responses import Response
from ..stores import base
from .hosted import WebsiteRedirect

log = logging.getLogger("s3wsgi")

_CONTENT_RANGE = re.compile(r"\s*bytes\s+(\d+)-(\d+)/(\d+)\s*\Z", re.I)

# What a 304 repeats of its 200 (RFC 9110 §15.4.5) and S3 may leave out.
_MEMO_HEADERS = ("etag", "last-modified", "cache-control", "expires")
MEMO_ENTRIES = 4096
# An S3 object's status (200 or 206) as the answer's: a lookup, not an enum call.
_STATUSES = {int(status): status for status in HTTPStatus}


class HeaderMemo:
    """The caching headers of the last 200 sent per key, by ETag: bounded
    (least recently used out first), so a 304 costs no second request."""

    def __init__(self, entries: int = MEMO_ENTRIES):
        self.entries = entries
        self._memo: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, key: str, headers: dict[str, str]) -> None:
        if "etag" not in headers:
            return
        kept = {name: headers[name] for name in _MEMO_HEADERS if name in headers}
        with self._lock:
            self._memo[key] = kept
            self._memo.move_to_end(key)
            if len(self._memo) > self.entries:
                self._memo.popitem(last=False)

    def recall(self, key: str, etag: str) -> dict[str, str] | None:
        with self._lock:
            kept = self._memo.get(key)
        return kept if kept is not None and kept["etag"] == etag else None


class ObjectAnswers:
    """Answers GET and HEAD for a key from ``store``.

    :param cache_control: the Cache-Control for an object that carries none,
        by the name it is served as (or None for none).
    :param extra: headers added to every answer.
    """

    def __init__(
        self,
        store: base.Store,
        *,
        cache_control: Callable[[str], str | None],
        extra: list[tuple[str, str]],
    ):
        self.store = store
        self.cache_control = cache_control
        self.extra = extra
        self.memo = HeaderMemo()

    def answer(
        self,
        environ: WSGIEnvironment,
        key: str,
        budget: base.Budget | None,
        *,
        name: str | None = None,
    ) -> Response:
        """The answer to a GET or HEAD of ``key``; raises NotFound or
        UpstreamError.

        :param name: the key the answer stands for, when ``key`` is a variant
            of it: its type and Cache-Control are guessed from this name.
        """
        name = name or key
        method = environ["REQUEST_METHOD"]
        conditions = cond.parse_conditions(environ, with_range=method == "GET")
        plan = None if method == "HEAD" else cond.plan_get(conditions)
        if plan is None:
            return self._decide_locally(key, method, conditions, budget, name)
        request = base.ObjectRequest(
            key,
            range=plan.range,
            if_match=plan.if_match,
            if_none_match=plan.if_none_match,
            if_modified_since=plan.if_modified_since,
            if_unmodified_since=plan.if_unmodified_since,
            budget=budget,
        )
        store = self.store
        try:
            try:
                obj = store.get(request)
            except base.PreconditionFailed:
                if not plan.if_range_guard:
                    raise
                # If-Range no longer matches: the whole object, no range.
                obj = store.get(replace(request, range=None, if_match=None))
        except base.PreconditionFailed:
            return self._text(HTTPStatus.PRECONDITION_FAILED)
        except base.NotModified as answer:
            tags = conditions.if_none_match
            # S3 said 304 to exactly one If-None-Match tag: that is the ETag.
            sent = tags[0].tag if isinstance(tags, list) else None
            etag = answer.headers.get("etag") or sent
            return self._not_modified(key, etag, answer.headers, budget, name)
        except base.RangeNotSatisfiable as answer:
            size = answer.size
            if size is None:
                size = store.head(base.ObjectRequest(key, budget=budget)).size
            return responses.range_not_satisfiable(size or 0, self.extra)
        return self._checked(obj, key, conditions, budget, name)

    def head(self, key: str, budget: base.Budget | None) -> base.S3Object:
        return self.store.head(base.ObjectRequest(key, budget=budget))

    def error_document(self, key: str, method: str, budget: base.Budget | None) -> Response:
        """``key``'s object with status 404; raises NotFound."""
        request = base.ObjectRequest(key, budget=budget)
        obj = self.store.head(request) if method == "HEAD" else self.store.get(request)
        headers = responses.object_headers(obj.headers, key, cache_control=None, extra=self.extra)
        return Response(HTTPStatus.NOT_FOUND, headers, obj.body or ())

    def _decide_locally(
        self,
        key: str,
        method: str,
        conditions: cond.Conditions,
        budget: base.Budget | None,
        name: str,
    ) -> Response:
        """HeadObject, then RFC 9110 §13.2.2 here; GET fetches only what is sent."""
        head = self.head(key, budget)
        self.memo.remember(key, head.headers)
        decision = cond.evaluate(conditions, head.etag, head.last_modified)
        if decision == 412:
            return self._text(HTTPStatus.PRECONDITION_FAILED)
        if decision == 304:
            return self._not_modified_from(head.headers, name)
        if method == "HEAD":
            return self._response(head, name)
        etag, size = head.etag, head.size
        whole = base.ObjectRequest(key, budget=budget)
        if not cond.range_applies(conditions, etag, head.last_modified) or size is None:
            return self._ranged(self.store.get(whole), key, None, budget, name)
        assert conditions.range is not None
        if cond.byte_span(conditions.range, size) is None:
            return responses.range_not_satisfiable(size, self.extra)
        try:
            # if_match: the part must come from the object just evaluated.
            part = replace(whole, range=conditions.range, if_match=etag)
            return self._ranged(self.store.get(part), key, conditions.range, budget, name)
        except base.PreconditionFailed:
            # Changed meanwhile: the whole object is always right.
            return self._ranged(self.store.get(whole), key, None, budget, name)

    def _checked(
        self,
        obj: base.S3Object,
        key: str,
        conditions: cond.Conditions,
        budget: base.Budget | None,
        name: str,
    ) -> Response:
        """S3's 200 or 206, its validators evaluated again: a server that
        ignored them still gives the client RFC 9110's answer."""
        etag, last_modified = obj.etag, obj.last_modified
        if obj.status == 200:
            self.memo.remember(key, obj.headers)
        decision = cond.evaluate(conditions, etag, last_modified)
        if decision is not None:
            obj.close()
            log.info("%s: the S3 server ignored a validator; answering %d here", key, decision)
            if decision == 412:
                return self._text(HTTPStatus.PRECONDITION_FAILED)
            return self._not_modified_from(obj.headers, name)
        applies = cond.range_applies(conditions, etag, last_modified)
        return self._ranged(obj, key, conditions.range if applies else None, budget, name)

    def _ranged(
        self,
        obj: base.S3Object,
        key: str,
        wanted: cond.ByteRange | None,
        budget: base.Budget | None,
        name: str,
    ) -> Response:
        """The answer for ``wanted`` (None: the whole object) from S3's answer
        ``obj``, whatever part of the object that holds."""
        size = obj.size
        sent = _sent_span(obj)
        if wanted is None:
            if sent is None and obj.status == 200:
                return self._response(obj, name)
            # A part where the whole object was asked for, or its If-Range
            # no longer matches: the whole object, asked for again.
            obj.close()
            whole = self.store.get(base.ObjectRequest(key, budget=budget))
            if _sent_span(whole) is None and whole.status == 200:
                return self._response(whole, name)
            whole.close()
            return self._bad_answer(key, "a part of the object to a request for all of it")
        if size is None:
            obj.close()
            return self._bad_answer(key, "an answer without the object's size")
        span = cond.byte_span(wanted, size)
        if span is None:
            obj.close()
            return responses.range_not_satisfiable(size, self.extra)
        first, last = span
        if sent == (first, last, size) and _length(obj) == last - first + 1:
            return self._response(obj, name, status=HTTPStatus.PARTIAL_CONTENT)
        if sent is None and obj.status == 200 and _length(obj) == size:
            # The server sent the whole object: the range is cut from it.
            headers = dict(obj.headers)
            headers["content-length"] = str(last - first + 1)
            headers["content-range"] = f"bytes {first}-{last}/{size}"
            part = base.S3Object(206, headers, Part(obj.body or (), first, last - first + 1))
            return self._response(part, name, status=HTTPStatus.PARTIAL_CONTENT)
        obj.close()
        if wanted == (first, last):
            return self._bad_answer(key, f"bytes {sent} to the range {first}-{last}")
        # Ask for the part by its explicit bounds, which servers that
        # misread suffix and open ranges still read right.
        log.info("%s: the S3 server sent bytes %s for %s; asking again", key, sent, wanted)
        request = base.ObjectRequest(key, range=(first, last), if_match=obj.etag, budget=budget)
        try:
            return self._ranged(self.store.get(request), key, (first, last), budget, name)
        except base.PreconditionFailed:
            # Changed meanwhile: the whole object is always right.
            return self._ranged(
                self.store.get(replace(request, range=None, if_match=None)), key, None, budget, name
            )

    def _bad_answer(self, key: str, what: str) -> Response:
        log.error("%s: the S3 server sent %s; answering 502", key, what)
        return responses.error_response(HTTPStatus.BAD_GATEWAY, self.extra)

    def _not_modified(
        self,
        key: str,
        etag: str | None,
        s3_headers: dict[str, str],
        budget: base.Budget | None,
        name: str,
    ) -> Response:
        """A 304 with the headers of the 200 it stands for."""
        known = self.memo.recall(key, etag) if etag else None
        if known is None:
            try:
                head = self.head(key, budget)
            except (base.NotFound, base.UpstreamError):
                head = None  # then what S3's 304 said is all there is
            if head is not None and (etag is None or head.etag == etag):
                self.memo.remember(key, head.headers)
                known = head.headers
        headers = dict(known or s3_headers)
        if etag and "etag" not in headers:
            headers["etag"] = etag
        return self._not_modified_from(headers, name)

    def _not_modified_from(self, headers: dict[str, str], name: str) -> Response:
        return responses.not_modified(
            headers, cache_control=self.cache_control(name), extra=self.extra
        )

    def _response(
        self, obj: base.S3Object, name: str, *, status: HTTPStatus | None = None
    ) -> Response:
        if obj.redirect is not None:
            obj.close()
            raise WebsiteRedirect(obj.redirect)
        headers = responses.object_headers(
            obj.headers, name, cache_control=self.cache_control(name), extra=self.extra
        )
        return Response(status or _STATUSES[obj.status], headers, obj.body or ())

    def _text(self, status: HTTPStatus) -> Response:
        return responses.text_response(status, self.extra)


def _sent_span(obj: base.S3Object) -> tuple[int, int, int] | None:
    """The first and last byte and the size a Content-Range says were sent,
    or None for no (or an unreadable) Content-Range."""
    match = _CONTENT_RANGE.match(obj.headers.get("content-range", ""))
    if match is None:
        return None
    first, last, size = (int(number) for number in match.groups())
    return first, last, size


def _length(obj: base.S3Object) -> int | None:
    text = obj.headers.get("content-length", "")
    return int(text) if text.isdigit() else None

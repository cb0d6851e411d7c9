"""Conditional and range requests (RFC 9110 §13 and §14).

S3 evaluates validators and ranges itself, so in the common case we forward
them and one GetObject answers the request. What S3 cannot be trusted with
(``*``, lists of entity tags, weak tags in If-Match, dated If-Range, ...) is
decided here against the object's metadata instead.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import mktime_tz, parsedate_tz
from typing import Any

# If-Match: * / If-None-Match: * -- "any current representation".
ANY = "*"

# One range of bytes=: (first, last) with last possibly None (to the end),
# or (None, suffix_length).
ByteRange = tuple[int | None, int | None]

_ENTITY_TAG = re.compile(r'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|\Z)')
_BYTE_RANGE = re.compile(r"\s*bytes\s*=\s*(\d{0,19})\s*-\s*(\d{0,19})\s*\Z", re.I)


@dataclass(frozen=True)
class EntityTag:
    tag: str  # with its quotes, as in an ETag header
    weak: bool = False


@dataclass
class Conditions:
    """The validators and the range of one request, parsed; None where absent."""

    if_match: str | list[EntityTag] | None = None
    if_none_match: str | list[EntityTag] | None = None
    if_modified_since: datetime | None = None
    if_unmodified_since: datetime | None = None
    range: ByteRange | None = None
    if_range: EntityTag | datetime | None = None


def parse_entity_tags(value: str | None) -> str | list[EntityTag] | None:
    """``*``, a list of entity tags, or None for a missing or malformed field."""
    if value is None:
        return None
    value = value.strip()
    if value == ANY:
        return ANY
    tags = []
    position = 0
    while position < len(value):
        match = _ENTITY_TAG.match(value, position)
        if not match:
            return None
        tags.append(EntityTag(match.group(2), bool(match.group(1))))
        position = match.end()
    return tags or None


# Longer than any HTTP date (29 characters, the obsolete forms 24 to 30):
# only texts up to this long are remembered.
_DATE_TEXT_MAX = 64


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP date (RFC 9110 §5.6.7, and the obsolete forms) in UTC, or None
    for a missing or invalid one, which RFC 9110 §13.1.3 says to ignore: a
    date out of Python's range (year 10000, or 99999999999) included."""
    if not value:
        return None
    if len(value) <= _DATE_TEXT_MAX:
        return _parse_remembered(value)
    return _parse_http_date(value)


# An object's Last-Modified is read on every answer for it: each text is
# parsed once (a datetime is immutable, so sharing one is safe).
@functools.lru_cache(maxsize=1024)
def _parse_remembered(value: str) -> datetime | None:
    return _parse_http_date(value)


def _parse_http_date(value: str) -> datetime | None:
    try:
        fields = parsedate_tz(value)
        if fields is None:
            return None
        if fields[9] is None:
            fields = (*fields[:9], 0)  # no zone given: HTTP dates are GMT
        return datetime.fromtimestamp(mktime_tz(fields), timezone.utc)
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def parse_range(value: str | None) -> ByteRange | None:
    """One ``bytes=`` range, or None: absent, malformed, or several ranges.

    Several ranges are answered with the whole object (docs/http.rst), which
    RFC 9110 §14.2 allows: a server may ignore Range.
    """
    if not value:
        return None
    match = _BYTE_RANGE.match(value)
    if not match:
        return None
    first, last = match.groups()
    if not first:
        return (None, int(last)) if last else None
    if last and int(last) < int(first):
        return None
    return int(first), int(last) if last else None


def parse_if_range(value: str | None) -> EntityTag | datetime | None:
    """An entity tag or a date; a malformed value becomes a weak tag, which
    never matches, so the whole object is sent (the safe reading)."""
    if not value:
        return None
    tags = parse_entity_tags(value)
    if isinstance(tags, list) and len(tags) == 1:
        return tags[0]
    return parse_http_date(value) or EntityTag(value, weak=True)


def parse_conditions(environ: Mapping[str, Any], *, with_range: bool) -> Conditions:
    """Read the request's validators; Range only where it applies (GET)."""
    get = environ.get
    conditions = Conditions(
        if_match=parse_entity_tags(get("HTTP_IF_MATCH")),
        if_none_match=parse_entity_tags(get("HTTP_IF_NONE_MATCH")),
        if_modified_since=parse_http_date(get("HTTP_IF_MODIFIED_SINCE")),
        if_unmodified_since=parse_http_date(get("HTTP_IF_UNMODIFIED_SINCE")),
    )
    if with_range:
        conditions.range = parse_range(get("HTTP_RANGE"))
        if conditions.range is not None:
            conditions.if_range = parse_if_range(get("HTTP_IF_RANGE"))
    return conditions


def range_header(byte_range: ByteRange) -> str:
    first, last = byte_range
    if first is None:
        return f"bytes=-{last}"
    return f"bytes={first}-{'' if last is None else last}"


@dataclass(frozen=True)
class GetPlan:
    """What one GetObject is asked so that S3's answer is the client's: the
    range and validators to pass on, with S3's meaning."""

    range: ByteRange | None = None
    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: datetime | None = None
    if_unmodified_since: datetime | None = None
    # if_match stands for If-Range: S3's 412 then means "send the whole
    # object", so ask again without the range and without if_match.
    if_range_guard: bool = False


def plan_get(conditions: Conditions) -> GetPlan | None:
    """The GetObject for these conditions, or None when S3 cannot be trusted
    to evaluate them exactly and the caller must decide locally.

    RFC 9110 §13.2.2: If-Unmodified-Since counts only without If-Match, and
    If-Modified-Since only without If-None-Match -- S3-compatible servers
    differ here, so the ignored one is never sent.
    """
    asked: dict[str, Any] = {}
    if_match = conditions.if_match
    if isinstance(if_match, str):
        pass  # ANY: true for any object that exists, nothing to ask
    elif if_match is not None:
        if len(if_match) != 1 or if_match[0].weak:
            return None  # a list, or a weak tag that never matches strongly
        asked["if_match"] = if_match[0].tag
    elif conditions.if_unmodified_since is not None:
        asked["if_unmodified_since"] = conditions.if_unmodified_since

    if_none_match = conditions.if_none_match
    if if_none_match is not None:
        if isinstance(if_none_match, str) or len(if_none_match) != 1:
            return None  # ANY, or a list
        # Weak comparison: W/"x" matches "x"; S3 knows only strong tags.
        asked["if_none_match"] = if_none_match[0].tag
    elif conditions.if_modified_since is not None:
        asked["if_modified_since"] = conditions.if_modified_since

    byte_range = conditions.range
    if byte_range is None:
        return GetPlan(**asked)
    if byte_range == (None, 0):
        return None  # satisfiable by nothing: a 416 needs the size
    if_range = conditions.if_range
    if if_range is None:
        return GetPlan(range=byte_range, **asked)
    if isinstance(if_range, EntityTag):
        if if_range.weak:
            return GetPlan(**asked)  # never matches strongly: whole object
        if if_match is None and conditions.if_unmodified_since is None:
            return GetPlan(range=byte_range, if_match=if_range.tag, if_range_guard=True, **asked)
    return None


def is_later(moment: datetime | None, date: datetime | None, *, or_equal: bool = False) -> bool:
    """Whether both are known and ``moment`` is later than ``date`` (or equal)."""
    if moment is None or date is None:
        return False
    return moment >= date if or_equal else moment > date


def _tag_in(etag: str, tags: list[EntityTag], *, strong: bool) -> bool:
    if strong:
        return any(not t.weak and t.tag == etag for t in tags)
    return any(t.tag == etag for t in tags)


def evaluate(
    conditions: Conditions, etag: str | None, last_modified: datetime | None
) -> int | None:
    """RFC 9110 §13.2.2, in its order: 412, 304, or None to go on."""
    etag = etag or ""
    weak = etag.startswith("W/")
    etag = etag.removeprefix("W/")
    if_match = conditions.if_match
    if if_match is not None:
        if isinstance(if_match, list) and (weak or not _tag_in(etag, if_match, strong=True)):
            return 412
    elif is_later(last_modified, conditions.if_unmodified_since):
        return 412
    if_none_match = conditions.if_none_match
    if if_none_match is not None:
        if isinstance(if_none_match, str) or _tag_in(etag, if_none_match, strong=False):
            return 304
    elif is_later(conditions.if_modified_since, last_modified, or_equal=True):
        return 304
    return None


def range_applies(conditions: Conditions, etag: str | None, last_modified: datetime | None) -> bool:
    """Whether Range is honoured: If-Range absent, or it still matches."""
    if conditions.range is None:
        return False
    if_range = conditions.if_range
    if if_range is None:
        return True
    if isinstance(if_range, EntityTag):
        return not if_range.weak and if_range.tag == etag
    return last_modified is not None and last_modified == if_range


def byte_span(byte_range: ByteRange, size: int) -> tuple[int, int] | None:
    """The first and last byte a range selects of ``size`` bytes, or None when
    it is unsatisfiable (RFC 9110 §14.1.1: a first-pos at or past the end, or
    a zero suffix). A suffix longer than the object selects all of it."""
    first, last = byte_range
    if first is None:
        if not last or not size:
            return None
        return max(size - last, 0), size - 1
    if first >= size:
        return None
    return first, size - 1 if last is None else min(last, size - 1)

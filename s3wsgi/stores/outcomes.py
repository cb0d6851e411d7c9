"""How an S3 request ended, and what the object cache did: the words the
metrics label them with and the log lines name."""

from __future__ import annotations

from .base import (
    NotFound,
    NotModified,
    PreconditionFailed,
    RangeNotSatisfiable,
    UpstreamError,
)

OK = "ok"
NOT_FOUND = "not_found"
NOT_MODIFIED = "not_modified"
PRECONDITION = "precondition"
RANGE = "range"
ERROR = "error"
TIMEOUT = "timeout"
THROTTLED = "throttled"
OUTCOMES = (OK, NOT_FOUND, NOT_MODIFIED, PRECONDITION, RANGE, ERROR, TIMEOUT, THROTTLED)
# S3 answered, so it is up: what the health check counts.
ANSWERED = frozenset({OK, NOT_FOUND, NOT_MODIFIED, PRECONDITION, RANGE})

HIT = "hit"
MISS = "miss"
REVALIDATION = "revalidation"
CACHE_RESULTS = (HIT, MISS, REVALIDATION)


def outcome_of(error: BaseException) -> str:
    """The outcome of an S3 request that raised ``error``."""
    if isinstance(error, NotFound):
        return NOT_FOUND
    if isinstance(error, NotModified):
        return NOT_MODIFIED
    if isinstance(error, PreconditionFailed):
        return PRECONDITION
    if isinstance(error, RangeNotSatisfiable):
        return RANGE
    if isinstance(error, UpstreamError):
        if error.status == 504:
            return TIMEOUT
        if error.status == 503 and not error.transport:
            return THROTTLED
    return ERROR

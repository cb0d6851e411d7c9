"""One structured line per S3 fault, the same from both stores.

A store that gets no object from S3 logs it with :func:`fault`: S3's status,
code, message and request id, or the exception that stopped the request.
The line adds what the thread is answering (:mod:`s3wsgi.stores.context`):
the attempt's number and time, and the request id the app or a proxy gave
the client's request (``X-Request-ID``). It is written on the ``s3wsgi``
logger as ``name=value`` pairs, with the same values as attributes of the
record, for a structured formatter.

Levels: a missing key is the client's business (DEBUG); a fault another
attempt follows is a WARNING; one after which no attempt follows is an ERROR.
A mistake in s3wsgi's configuration (no credentials, no such bucket, an
endpoint that is not S3) is an ERROR with ``advice`` on what to set, once
per kind and store (:class:`Reported`) until S3 answers it again; then
DEBUG, not one line per request.

Bucket and client text (keys, S3's messages) never writes a control
character into a line: each is escaped as Python does (``\\x1b``).

Nothing in a line is a credential or a signed URL's query string: exception
texts are scrubbed (:func:`scrubbed`), and a request id is kept to a short
token.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import traceback
from collections.abc import Mapping
from typing import TypedDict, TypeVar
from wsgiref.types import WSGIEnvironment

from . import context
from .base import ADVICE, CONFIGURATION_CODES, ConfigurationError, LocalError
from .outcomes import NOT_FOUND, outcome_of

log = logging.getLogger("s3wsgi")

# The stores' names of S3's operations, as S3's documentation gives them.
OPERATIONS = {
    "get_object": "GetObject",
    "head_object": "HeadObject",
    "list_objects_v2": "ListObjectsV2",
}

# A URL's query (a presigned URL's signature lives there), and the names of
# what signs or authorizes a request, with their values.
_QUERY = re.compile(r"(https?://[^\s?\"'<>]*)\?[^\s\"'<>]*")
_SECRET = re.compile(
    r"(?i)\b(authorization|x-amz-security-token|x-amz-signature|x-amz-credential"
    r"|aws_secret_access_key|aws_session_token|signature|credential)(\s*[=:]\s*)"
    r"(\"[^\"]*\"|'[^']*'|[^\s,;&\"']+)"
)
_LONGEST_TEXT = 300
# A request id a proxy or the app sets: a token, not free text.
_REQUEST_ID = re.compile(r"[^A-Za-z0-9._:/+=@-]")
_LONGEST_REQUEST_ID = 128

# C0 and C1 controls, DEL, and the line separators and bidirectional
# overrides a terminal or a log viewer acts on.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

Failure = TypeVar("Failure", bound=Exception)


class Reported:
    """The kinds of configuration mistake a store has logged at ERROR since
    S3 last answered it; the resilient store keeps one, and makes it the
    thread's (:func:`reporting`) while it calls its store."""

    def __init__(self) -> None:
        self._kinds: set[str] = set()
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def first(self, kind: str) -> bool:
        """Whether a mistake of ``kind`` is news (and now told)."""
        if self._pid != os.getpid():
            # A forked worker tells its own; the lock may have been held at
            # the fork.
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._kinds = set()
        with self._lock:
            if kind in self._kinds:
                return False
            self._kinds.add(kind)
            return True

    def forget(self) -> None:
        """S3 answered: a mistake seen again is news again."""
        if self._kinds:  # the common case, without the lock
            with self._lock:
                self._kinds.clear()


_local = threading.local()


class Where(TypedDict):
    """The S3 request a fault is of, as :func:`fault` takes it."""

    operation: str
    bucket: str | None
    key: str


def reporting(reported: Reported | None) -> Reported | None:
    """Make ``reported`` what this thread's faults count against; returns
    the one before, to put back."""
    previous: Reported | None = getattr(_local, "reported", None)
    _local.reported = reported
    return previous


def fault(
    failure: Failure,
    *,
    operation: str,
    bucket: str | None,
    key: str,
    status: int | None = None,
    code: str | None = None,
    message: str | None = None,
    s3_request_id: str | None = None,
    cause: BaseException | None = None,
) -> Failure:
    """Log the S3 request that ends in ``failure`` (what the store raises),
    and return ``failure``.

    :param status: S3's status, if it answered; ``code``, ``message`` and
        ``s3_request_id`` from its error document.
    :param cause: what stopped a request that got no answer.
    """
    outcome = outcome_of(failure)
    attempt = context.attempt()
    elapsed = time.perf_counter() - attempt.started if attempt is not None else None
    final = _final(failure, attempt, elapsed)
    # A store may map S3's code itself, or leave it to the resilient store.
    kind = failure.kind if isinstance(failure, ConfigurationError) else None
    kind = kind or CONFIGURATION_CODES.get(code or "")
    advice = ADVICE[kind] if kind is not None else None
    if outcome == NOT_FOUND:
        severity = logging.DEBUG
    elif kind is not None:
        # Without a resilient store's account (a store called directly), each.
        reported: Reported | None = getattr(_local, "reported", None)
        severity = logging.ERROR if reported is None or reported.first(kind) else logging.DEBUG
    else:
        severity = logging.ERROR if final else logging.WARNING
    if not log.isEnabledFor(severity):
        return failure
    if cause is not None and message is None:
        message = str(cause).split("\n\nDebug", 1)[0]  # obstore's debug dump follows
    client = context.request()
    fields = {
        "s3_operation": OPERATIONS.get(operation, operation),
        "s3_bucket": bucket,
        "s3_key": key,
        "s3_outcome": outcome,
        "s3_status": status,
        "s3_code": code or None,
        "s3_exception": type(cause).__name__ if cause is not None else None,
        "attempt": attempt.number if attempt is not None else None,
        "max_attempts": attempt.max_attempts if attempt is not None else None,
        "retry": None if outcome == NOT_FOUND else not final,
        "elapsed_ms": round(elapsed * 1000, 1) if elapsed is not None else None,
        "request_id": request_id(client.environ if client is not None else None),
        "s3_request_id": s3_request_id or None,
        "s3_message": scrubbed(message) if message else None,
        "advice": advice,
        "raised_at": _raised_at(failure.cause) if isinstance(failure, LocalError) else None,
    }
    for name, value in fields.items():  # bucket and client text among them
        if isinstance(value, str):
            fields[name] = escaped(value)
    log.log(severity, "%s", _line(fields), extra=fields)
    return failure


def _raised_at(error: BaseException) -> str | None:
    """Where a bug raised ``error``, for whoever fixes it: a traceback
    itself would carry the text of a key raw."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return None
    frame = frames[-1]
    return f"{frame.filename}:{frame.lineno} in {frame.name}"


def _final(failure: Exception, attempt: context.Attempt | None, elapsed: float | None) -> bool:
    """Whether no attempt follows this one: the resilient store's rule, but
    for its random backoff."""
    if attempt is None or elapsed is None:
        return True
    if not getattr(failure, "retryable", False) or attempt.number >= attempt.max_attempts:
        return True
    budget = attempt.budget
    return budget is not None and budget.seconds - elapsed < attempt.attempt_seconds


def scrubbed(text: str) -> str:
    """``text`` on one line, without URL queries or signing values, and short."""
    text = " ".join(text.split())
    text = _QUERY.sub(r"\1?[removed]", text)
    text = _SECRET.sub(r"\1\2[removed]", text)
    if len(text) > _LONGEST_TEXT:
        text = text[: _LONGEST_TEXT - 3] + "..."
    return text


def escaped(text: str) -> str:
    """``text`` with each control character as Python writes it in a
    string (``\\x1b``, ``\\u202e``), and backslashes doubled, so a line shows
    what a key holds and a terminal acts on none of it."""
    if not _CONTROL.search(text) and "\\" not in text:
        return text
    return _CONTROL.sub(_escape, text.replace("\\", "\\\\"))


def _escape(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]


def request_id(environ: WSGIEnvironment | None) -> str | None:
    """The X-Request-ID the app or a proxy gave the request, as a safe token."""
    if environ is None:
        return None
    given = environ.get("HTTP_X_REQUEST_ID")
    if not given:
        return None
    return _REQUEST_ID.sub("", given)[:_LONGEST_REQUEST_ID] or None


def _line(fields: Mapping[str, object]) -> str:
    """``S3 GetObject bucket=... key=... ...``: the fields that have a value."""
    shown = []
    for name, value in fields.items():
        if name in ("s3_operation", "max_attempts") or value is None:
            continue
        if name == "attempt":
            value = f"{value}/{fields['max_attempts']}"
        elif name == "retry":
            value = "yes" if value else "no"
        if name != "s3_request_id":  # beside the client's request_id
            name = name.removeprefix("s3_")
        shown.append(f"{name}={_value(str(value))}")
    return f"S3 {fields['s3_operation']} " + " ".join(shown)


def _value(text: str) -> str:
    """A logfmt value: quoted when it holds a space, a quote or an equals
    sign. Its control characters and backslashes are escaped already."""
    if text and not re.search(r"[\s\"=]", text):
        return text
    quoted = text.replace('"', '\\"')
    return f'"{quoted}"'

"""Guarding a mount: what a request passes before it is resolved, and the
bounds it is served within.

Authorization, the method, the path (read and checked before S3 is asked
anything), hidden names, then the request's deadline and its turn in the
bound on S3 requests; and no fault of a store's escapes as anything but a
logged 5xx.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus

from ..bulkhead import Bulkhead
from ..http import responses
from ..http.bodies import Watched
from ..http.paths import BadPath, key_for, wsgi_to_text
from ..http.responses import Response
from ..observe.observer import Observer
from ..options import Options
from ..stores.base import Budget, OutOfTime, UpstreamError
from .asked import Asked, Environ, location
from .hidden import Hidden

log = logging.getLogger("s3wsgi")

# Seconds a client should wait when the bound on S3 requests is full.
BUSY_RETRY_AFTER = 1

# What serves a request once guarded: resolved and answered, within the budget.
Serve = Callable[[Asked, Budget], Response | None]


class Guard:
    """The guard of one mount.

    :param options: the mount's options.
    :param prefix: the mount's path prefix, without its trailing slash.
    :param key_prefix: the site's key prefix, with its trailing slash (or
        empty).
    :param extra: headers added to every answer.
    :param observer: what a refusal for want of a turn is reported to.
    :param from_memory: whether a key's answer needs no S3 request (no turn).
    """

    def __init__(
        self,
        options: Options,
        *,
        prefix: str,
        key_prefix: str,
        extra: list[tuple[str, str]],
        observer: Observer,
        from_memory: Callable[[str], bool],
    ):
        self.options = options
        self.prefix = prefix
        self.key_prefix = key_prefix
        self.extra = extra
        self.observer = observer
        self.from_memory = from_memory
        redirects_file = options.redirects.file
        self.hidden = Hidden(options.hidden, (redirects_file.strip("/"),) if redirects_file else ())
        self.listing_hidden = [p.strip() for p in options.listing.hidden.split(",") if p.strip()]
        self.bulkhead = Bulkhead(options.s3_request_bound, waiters=options.s3_request_waiters)
        self.attempt_seconds = options.s3.connect_timeout + options.s3.read_timeout
        self.deadline = options.request_deadline  # worked out by the (frozen) options

    def respond(self, environ: Environ, wsgi_path: str, serve: Serve) -> Response | None:
        """The answer to a claimed request (``wsgi_path`` is its path under
        the mount), served by ``serve`` if it passes; None to hand it on."""
        refused = self._refusal(environ)
        if refused is not None:
            return refused
        if environ.get("PATH_INFO", "") == self.prefix:
            return responses.redirect(location(environ, self.prefix, ""), self.extra)
        try:
            path = wsgi_to_text(wsgi_path)
            # The whole path is checked here, before S3 is asked anything.
            key = key_for(
                path, key_prefix=self.key_prefix, index_document=self.options.index_document
            )
        except BadPath as error:
            log.info("refused %r: %s", environ.get("PATH_INFO"), error)
            return responses.text_response(HTTPStatus.BAD_REQUEST, self.extra)
        if self.hidden.holds(path):
            # Never asked of S3: a hidden name is answered as a missing one.
            log.info("%r: a hidden name; answering 404", environ.get("PATH_INFO"))
            if self.options.fallthrough:
                return None
            return responses.text_response(HTTPStatus.NOT_FOUND, self.extra)
        asked = Asked(environ, wsgi_path, path, self.key_prefix, key)
        return self._within_turn(asked, serve)

    def _refusal(self, environ: Environ) -> Response | None:
        """The answer for a reader ``authorize`` keeps out or a method not
        served; None for a request that may go on."""
        authorize = self.options.access.authorize
        if authorize is not None:
            try:
                refused = _refusal(authorize(environ), self.extra, self.options.access.vary)
            except Exception:
                # The app's own code failed: its fault, not S3's, and no
                # reader is let in by an error (RFC 9110 §15.6.1).
                log.exception("%r: authorize raised; answering 500", environ.get("PATH_INFO"))
                return responses.text_response(HTTPStatus.INTERNAL_SERVER_ERROR, self.extra)
            if refused is not None:
                return refused
        method = environ["REQUEST_METHOD"]
        if method not in ("GET", "HEAD"):
            if method == "OPTIONS":
                return responses.options_response(self.extra)
            return responses.method_not_allowed(self.extra)
        return None

    def _within_turn(self, asked: Asked, serve: Serve) -> Response | None:
        """Served within the request's deadline and, unless its answer is
        in memory, a turn in the bound on S3 requests, held until S3 has
        nothing left to send."""
        budget = Budget(self.deadline)
        if self.from_memory(asked.key):
            return self._served(asked, serve, budget)  # from memory: no S3 turn
        # A turn is worth waiting for only while one whole attempt still fits.
        waited = self.bulkhead.enter(max_wait=budget.seconds - self.attempt_seconds)
        if waited is None:
            log.warning("%s: every S3 turn is taken; answering 503", asked.path)
            self.observer.bound_refused()
            return responses.error_response(503, self.extra, retry_after=BUSY_RETRY_AFTER)
        budget.spend(waited)
        answer = None
        answered = None  # S3's answer time, told to the bound as its turn ends or is kept
        started = time.monotonic()
        try:
            answer = self._served(asked, serve, budget)
            if answer is None or answer.status < 500:  # S3's pace, not its timeouts
                answered = time.monotonic() - started
        finally:
            if answer is None or _in_memory(answer.body):
                # S3 has nothing left to send: sending it to the client is
                # the server's work, and no S3 trouble can hold the thread.
                self.bulkhead.leave(answered)
            else:
                answer.body = Watched(answer.body, self.bulkhead.sending(answered))
        return answer

    def _served(self, asked: Asked, serve: Serve, budget: Budget) -> Response | None:
        """No exception of a store's escapes: a fault is a logged 5xx."""
        try:
            return serve(asked, budget)
        except OutOfTime:
            log.error("%s: the request's deadline leaves no time for S3; answering 504", asked.path)
            return responses.error_response(HTTPStatus.GATEWAY_TIMEOUT, self.extra)
        except UpstreamError as error:
            return responses.error_response(error.status, self.extra, retry_after=error.retry_after)
        except Exception:
            log.exception("%s: answering from S3 failed", asked.path)
            return responses.error_response(HTTPStatus.BAD_GATEWAY, self.extra)

    def listed(self, name: str) -> bool:
        """Whether a listing shows an entry of this name."""
        return not self.hidden.name(name) and not any(
            fnmatch.fnmatchcase(name, pattern) for pattern in self.listing_hidden
        )


# A path on this site: one slash (two would name another host, RFC 3986
# §4.2; a backslash is read as a slash by browsers), then visible ASCII only,
# so never a CR or LF that would split the header.
_SAME_SITE_PATH = re.compile(r"/(?![/\\])[\x21-\x7e]*")


def _refusal(verdict: object, extra: list[tuple[str, str]], vary: str) -> Response | None:
    """What ``authorize``'s verdict answers: None lets the reader in; False
    is 403, a path on this site a 302 to it (the login page, say), and a
    :class:`~s3wsgi.http.responses.Response` is the app's own answer.

    A refusal depends on who asked: private and never stored (RFC 9111
    §5.2.2.3, §5.2.2.7), whatever ``cache_scope`` says, with a Vary on what
    the hook reads."""
    if isinstance(verdict, Response):
        answer = verdict
    elif isinstance(verdict, str):
        if not _SAME_SITE_PATH.fullmatch(verdict):
            raise ValueError(f"authorize returned {verdict!r}: not a path on this site")
        answer = responses.redirect(verdict, extra, HTTPStatus.FOUND)
    elif verdict:
        return None
    else:
        answer = responses.text_response(HTTPStatus.FORBIDDEN, extra)
    answer.headers.append(("Cache-Control", "no-store"))
    responses.make_private(answer, vary)
    return answer


def _in_memory(body: Iterable[bytes]) -> bool:
    """Whether a body is all in memory (a list of bytes, a cached object, a
    small object read whole), so S3 plays no further part in it."""
    return isinstance(body, (list, tuple)) or getattr(body, "in_memory", False)

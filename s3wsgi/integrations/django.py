"""Django: a middleware class for ``settings.MIDDLEWARE``.

.. code-block:: python

    MIDDLEWARE = [
        ...,
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "s3wsgi.django.S3WSGIMiddleware",
        ...,
    ]
    S3WSGI = {
        "bucket": "my-docs",
        "prefix": "/docs",
        "authorize": "s3wsgi.django.login_required",  # receives the request
    }

The answers are :class:`~s3wsgi.S3Middleware`'s; only the configuration is
Django's. Placed after ``AuthenticationMiddleware``, ``authorize`` can use
``request.user``.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from http import HTTPStatus
from wsgiref.types import WSGIEnvironment

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIRequest
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotModified,
    StreamingHttpResponse,
)
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.module_loading import import_string

from ..http.bodies import close
from ..http.paths import text_to_wsgi
from ..http.responses import Response
from ..middleware import Mount
from ..options import Options

log = logging.getLogger("s3wsgi")

THIS = "s3wsgi.django.S3WSGIMiddleware"

# Listed before this middleware (so run on its answers), these would make
# them wrong: GZip compresses ranges (a 206's Content-Range then counts
# bytes the body does not have) and weakens the ETag If-Range compares.
_WRONG_ABOVE = {
    "django.middleware.gzip.GZipMiddleware": (
        "it would compress S3's ranges and binaries on the fly; list it after " + THIS
    ),
}
# Listed after it, these never see its answers.
_SKIPPED_BELOW = {
    "django.middleware.clickjacking.XFrameOptionsMiddleware": (
        "S3 pages get no X-Frame-Options; list it before " + THIS + ' or set S3WSGI["headers"]'
        ' = "X-Frame-Options: DENY"'
    ),
    "django.middleware.security.SecurityMiddleware": (
        "S3 pages get none of its headers; list it before " + THIS
    ),
}


class _Call:
    """What ``authorize`` answered for one request: the Django request it
    was handed, and the app's own response or exception, if any."""

    __slots__ = ("request", "response", "error")

    def __init__(self, request: HttpRequest):
        self.request = request
        self.response: HttpResponseBase | None = None
        self.error: Exception | None = None


# The request being answered, for ``authorize``: the core calls it with the
# environ, the settings' callable wants the request.
_current: contextvars.ContextVar[_Call] = contextvars.ContextVar("s3wsgi_django_call")


class S3WSGIMiddleware:
    """Answer requests under ``S3WSGI["prefix"]`` from S3, pass the rest on.

    Configured by the ``S3WSGI`` setting: a dict of the options of
    :class:`~s3wsgi.S3Middleware` (text is converted as for .ini files), where
    ``authorize`` is a callable, or the dotted path of one, that receives the
    Django request and returns True (let in), False (403), a path on this
    site (302 there) or a Django response of the app's own (sent as it is,
    made private: :func:`login_required` sends signed-out readers to
    ``LOGIN_URL``). An exception it raises is Django's to handle, as a
    view's would be (``handler500``, ``got_request_exception``, ``ADMINS``).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response
        options = dict(getattr(settings, "S3WSGI", None) or {})
        if "bucket" not in options:
            raise ImproperlyConfigured('S3WSGI = {"bucket": ...} is required by S3WSGIMiddleware')
        check_order(list(getattr(settings, "MIDDLEWARE", None) or ()))
        authorize = options.pop("authorize", None)
        if isinstance(authorize, str):
            authorize = import_string(authorize)
        self.authorize = authorize
        try:
            self.middleware = Mount(
                Options.from_settings(
                    options, authorize=None if authorize is None else self._authorize
                )
            )
        except (TypeError, ValueError) as error:
            raise ImproperlyConfigured(f"S3WSGI: {error}") from None

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        # Django decodes PATH_INFO to text; the core matches and maps WSGI's
        # latin-1 strings, so hand it the UTF-8 bytes in that form.
        path_info = text_to_wsgi(request.path_info)
        rest = self.middleware.match(path_info)
        if rest is None:
            return self.get_response(request)
        environ = dict(
            request.META,
            PATH_INFO=path_info,
            SCRIPT_NAME=text_to_wsgi(request.META.get("SCRIPT_NAME", "")),
        )
        call = _Call(request)
        token = _current.set(call)
        try:
            answer = self.middleware.respond(environ, rest)
        finally:
            _current.reset(token)
        if call.error is not None:
            raise call.error  # to Django's handler500, its signal and its log
        if call.response is not None:
            return self._private(call.response)
        if answer is None:  # fallthrough: the key is missing
            return self.get_response(request)
        response = django_response(
            answer, head=request.method == "HEAD", streaming=_streaming(request)
        )
        # The core has logged what deserved it (S3's faults among them);
        # Django's django.request log would repeat every 4xx and 5xx, and
        # with ADMINS set mail one error per request through an S3 outage.
        response._has_been_logged = True  # type: ignore[attr-defined, unused-ignore]
        return response

    def _authorize(self, environ: WSGIEnvironment) -> bool | str | Response:
        call = _current.get()
        try:
            verdict = self.authorize(call.request)
        except Exception as error:
            call.error = error
            return Response(HTTPStatus.INTERNAL_SERVER_ERROR, [])
        if isinstance(verdict, HttpResponseBase):
            call.response = verdict
            return Response(_status(verdict.status_code), [])
        if isinstance(verdict, str):
            return verdict
        return bool(verdict)

    def _private(self, response: HttpResponseBase) -> HttpResponseBase:
        """The app's own refusal, private and never stored, as the core's."""
        patch_cache_control(response, private=True, no_store=True)
        vary = self.middleware.options.access.vary
        patch_vary_headers(response, [name.strip() for name in vary.split(",") if name.strip()])
        return response


def login_required(request: HttpRequest) -> bool | HttpResponseBase:
    """``S3WSGI["authorize"] = "s3wsgi.django.login_required"``: signed-in
    users read; others are sent to ``settings.LOGIN_URL`` with the page
    they asked for in ``?next=``, as Django's own ``login_required`` does."""
    # Imported here: the auth views need the apps loaded, this module not.
    from django.contrib.auth import REDIRECT_FIELD_NAME
    from django.contrib.auth.views import redirect_to_login

    if request.user.is_authenticated:
        return True
    return redirect_to_login(request.get_full_path(), settings.LOGIN_URL, REDIRECT_FIELD_NAME)


def check_order(middleware: list[str]) -> None:
    """Refuse an order that makes answers wrong; warn of one that leaves
    them without a middleware's headers."""
    names = (THIS, "s3wsgi.integrations.django.S3WSGIMiddleware")
    place = next((i for i, name in enumerate(middleware) if name in names), None)
    if place is None:
        return
    for name in middleware[:place]:
        if name in _WRONG_ABOVE:
            raise ImproperlyConfigured(f"MIDDLEWARE: {name} before {THIS}: {_WRONG_ABOVE[name]}")
    for name in middleware[place + 1 :]:
        if name in _SKIPPED_BELOW:
            log.warning("MIDDLEWARE: %s after %s: %s", name, THIS, _SKIPPED_BELOW[name])


def _status(code: int) -> HTTPStatus:
    try:
        return HTTPStatus(code)
    except ValueError:
        return HTTPStatus.FORBIDDEN  # only counted: the app's response is sent


def _streaming(request: HttpRequest) -> str:
    return "async" if isinstance(request, ASGIRequest) else "sync"


def django_response(answer: Response, *, head: bool, streaming: str = "sync") -> HttpResponseBase:
    """The core's answer as a Django response.

    A body S3 still sends streams through a ``StreamingHttpResponse``, which
    Django closes when the server closes the response (also when the client
    went away), releasing the S3 connection. Under ASGI (``streaming=
    "async"``) it reads S3 chunk by chunk in a thread, so Django neither holds
    the whole object in memory nor blocks its event loop. An empty body
    (HEAD, 304) or one in memory (an error, a redirect) is a plain
    ``HttpResponse``, which middleware such as GZip leaves alone.
    """
    body = answer.body
    if head:
        close(body)
        body = ()
    response: HttpResponseBase
    if answer.status == HTTPStatus.NOT_MODIFIED:
        close(body)
        response = HttpResponseNotModified()
    elif isinstance(body, (list, tuple)):
        response = HttpResponse(b"".join(body), status=answer.status.value)
    elif streaming == "async":
        response = StreamingHttpResponse(AsyncBody(body), status=answer.status.value)
    else:
        response = StreamingHttpResponse(body, status=answer.status.value)
    if not any(name.lower() == "content-type" for name, _ in answer.headers):
        del response.headers["Content-Type"]  # Django's default text/html
    # Django keeps one value per name: a repeated header (a Vary from the
    # headers option beside the answer's own) is joined, as RFC 9110 §5.3
    # allows, not overwritten.
    joined: dict[str, tuple[str, list[str]]] = {}
    for name, value in answer.headers:
        joined.setdefault(name.lower(), (name, []))[1].append(value)
    for name, values in joined.values():
        response.headers[name] = ", ".join(values)
    return response


class AsyncBody:
    """A body iterated in a thread, one chunk per ``next``, for Django's
    ASGI handler; ``close`` waits for a read under way, so that the body
    is never read and closed at once."""

    def __init__(self, body: Iterable[bytes]):
        self.body = body
        self.iterator: Iterator[bytes] = iter(body)
        self.lock = threading.Lock()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        chunk = await sync_to_async(self._next, thread_sensitive=False)()
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    def _next(self) -> bytes | None:
        with self.lock:
            return next(self.iterator, None)

    def close(self) -> None:
        with self.lock:
            close(self.body)

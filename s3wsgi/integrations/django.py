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
        "authorize": "myproject.access.staff_only",  # receives the request
    }

The answers are :class:`~s3wsgi.S3Middleware`'s; only the configuration is
Django's. Placed after ``AuthenticationMiddleware``, ``authorize`` can use
``request.user``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from wsgiref.types import WSGIEnvironment

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from django.utils.module_loading import import_string

from ..http.bodies import close
from ..http.paths import text_to_wsgi
from ..http.responses import Response
from ..middleware import Mount
from ..options import Options

# The Django request being answered, for ``authorize``: the core calls it
# with the environ, the settings' callable wants the request.
_current_request: contextvars.ContextVar[HttpRequest] = contextvars.ContextVar(
    "s3wsgi_django_request"
)


class S3WSGIMiddleware:
    """Answer requests under ``S3WSGI["prefix"]`` from S3, pass the rest on.

    Configured by the ``S3WSGI`` setting: a dict of the options of
    :class:`~s3wsgi.S3Middleware` (text is converted as for .ini files), where
    ``authorize`` is a callable, or the dotted path of one, that receives the
    Django request and returns whether it may read the bucket.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response
        options = dict(getattr(settings, "S3WSGI", None) or {})
        if "bucket" not in options:
            raise ImproperlyConfigured('S3WSGI = {"bucket": ...} is required by S3WSGIMiddleware')
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
        token = _current_request.set(request)
        try:
            answer = self.middleware.respond(environ, rest)
        finally:
            _current_request.reset(token)
        if answer is None:  # fallthrough: the key is missing
            return self.get_response(request)
        return django_response(answer, head=request.method == "HEAD")

    def _authorize(self, environ: WSGIEnvironment) -> bool:
        return bool(self.authorize(_current_request.get()))


def django_response(answer: Response, *, head: bool) -> StreamingHttpResponse:
    """The core's answer as a Django response, streaming the same body.

    Django closes the body when the server closes the response (the body's
    ``close`` is registered by ``StreamingHttpResponse``), which releases the
    S3 connection also when the client went away.
    """
    body = answer.body
    if head:
        close(body)
        body = ()
    response = StreamingHttpResponse(body, status=answer.status.value)
    names = {name.lower() for name, _ in answer.headers}
    if "content-type" not in names:
        del response.headers["Content-Type"]  # Django's default text/html
    for name, value in answer.headers:
        response.headers[name] = value
    return response

"""Pyramid: ``config.include("s3wsgi.pyramid")``, configured by ``s3wsgi.*`` settings.

.. code-block:: ini

    [app:main]
    use = egg:myapp
    pyramid.includes = s3wsgi.pyramid
    s3wsgi.bucket = my-docs
    s3wsgi.prefix = /docs
    s3wsgi.authorize = myapp.security:may_read_docs

Every keyword option of :class:`~s3wsgi.S3Middleware` may be set as
``s3wsgi.<option>``; text is converted as for .ini files (:mod:`s3wsgi.options`),
except ``s3wsgi.authorize``: a dotted name of a callable that receives the
Pyramid request (so ``request.is_authenticated`` and ``request.identity``
work) and returns whether it may read the bucket. A tween answers the
claimed paths with the middleware's answers and hands every other request
on, untouched.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, TypeAlias
from wsgiref.types import StartResponse, WSGIEnvironment

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response as PyramidResponse

from ..http.responses import Response
from ..middleware import Mount
from ..options import Options

if TYPE_CHECKING:
    from pyramid.registry import Registry

    # A request's handler (Pyramid has no type information: to mypy, Any).
    Handler: TypeAlias = Callable[[Request], PyramidResponse]

SETTINGS_PREFIX = "s3wsgi."
REGISTRY_KEY = "s3wsgi.middleware"

# The Pyramid request being answered, for ``authorize``: the core calls it
# with the environ, the setting's callable wants the request.
_current_request: contextvars.ContextVar[Request] = contextvars.ContextVar("s3wsgi_pyramid_request")


def includeme(config: Configurator) -> None:
    """Build the middleware from the ``s3wsgi.*`` settings and add the tween."""
    settings = config.get_settings()
    options = {
        name[len(SETTINGS_PREFIX) :]: value
        for name, value in settings.items()
        if name.startswith(SETTINGS_PREFIX)
    }
    if "bucket" not in options:
        raise ValueError("s3wsgi.bucket is required by config.include('s3wsgi.pyramid')")
    authorize = options.pop("authorize", None)
    if isinstance(authorize, str):
        authorize = config.maybe_dotted(authorize.strip()) if authorize.strip() else None
    middleware = Mount(
        Options.from_settings(
            options, authorize=None if authorize is None else _authorize_with(authorize)
        )
    )
    config.registry[REGISTRY_KEY] = middleware
    config.add_tween("s3wsgi.integrations.pyramid.tween_factory")


def tween_factory(handler: Handler, registry: Registry) -> Handler:
    """The tween: claimed paths get the middleware's answer, others ``handler``'s."""
    middleware: Mount = registry[REGISTRY_KEY]

    def s3wsgi_tween(request: Request) -> PyramidResponse:
        # The environ's PATH_INFO is WSGI's latin-1 string, as the core
        # wants it; request.path_info is decoded text.
        rest = middleware.match(request.environ.get("PATH_INFO", ""))
        if rest is None:
            return handler(request)
        token = _current_request.set(request)
        try:
            answer = middleware.respond(request.environ, rest)
        finally:
            _current_request.reset(token)
        if answer is None:  # fallthrough: the key is missing
            return handler(request)
        return S3Response(
            status=f"{answer.status.value} {answer.status.phrase}",
            headerlist=list(answer.headers),
            app_iter=answer.body,
        )

    return s3wsgi_tween


class S3Response(PyramidResponse):  # type: ignore[misc]  # Pyramid's Response is Any
    """A Pyramid response that sends its headers as they are.

    WebOb's ``Response.__call__`` turns a relative Location into an absolute
    URL built from the request's Host header; the middleware's redirects are
    paths on this host and stay so.
    """

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # The core's answer, from this response as Pyramid may have changed it.
        answer = Response(HTTPStatus(self.status_code), self.headerlist, self.app_iter)
        return answer(environ, start_response)


def _authorize_with(authorize: Callable[[Request], object]) -> Callable[[WSGIEnvironment], bool]:
    def authorize_environ(environ: WSGIEnvironment) -> bool:
        return bool(authorize(_current_request.get()))

    return authorize_environ

"""Pyramid: ``config.include("s3wsgi.pyramid")``, configured by ``s3wsgi.*`` settings.

.. code-block:: ini

    [app:main]
    use = egg:myapp
    pyramid.includes = s3wsgi.pyramid
    s3wsgi.bucket = my-docs
    s3wsgi.prefix = /docs
    s3wsgi.authorize = myapp.security:may_read_docs
    s3wsgi.forbidden_view = true

Every keyword option of :class:`~s3wsgi.S3Middleware` may be set as
``s3wsgi.<option>``; text is converted as for .ini files (:mod:`s3wsgi.options`),
except ``s3wsgi.authorize``: a dotted name of a callable that receives the
Pyramid request (so ``request.is_authenticated``, ``request.identity`` and
``request.has_permission`` work) and returns True (let in), False (403, or
the app's forbidden view with ``s3wsgi.forbidden_view = true``), a path on
this site (302 there) or a Pyramid response of its own; an exception it
raises (``HTTPForbidden``, say) is answered by the app's exception view for
it. Those answers are sent as they are, made private. A tween, under
Pyramid's exception view tween, answers the claimed paths with the
middleware's answers and hands every other request on, untouched.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, TypeAlias
from wsgiref.types import StartResponse, WSGIEnvironment

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPForbidden
from pyramid.interfaces import IRootFactory
from pyramid.request import Request
from pyramid.response import Response as PyramidResponse
from pyramid.settings import asbool
from pyramid.traversal import DefaultRootFactory
from pyramid.tweens import EXCVIEW

from ..http.responses import Response
from ..middleware import Mount
from ..options import Options

if TYPE_CHECKING:
    from pyramid.registry import Registry

    # A request's handler (Pyramid has no type information: to mypy, Any).
    Handler: TypeAlias = Callable[[Request], PyramidResponse]

SETTINGS_PREFIX = "s3wsgi."
REGISTRY_KEY = "s3wsgi.middleware"


class _Call:
    """What ``authorize`` answered for one request: the Pyramid request it
    was handed, and the app's own response, if it gave one."""

    __slots__ = ("request", "response")

    def __init__(self, request: Request):
        self.request = request
        self.response: PyramidResponse | None = None


# The request being answered, for ``authorize``: the core calls it with the
# environ, the setting's callable wants the request.
_current: contextvars.ContextVar[_Call] = contextvars.ContextVar("s3wsgi_pyramid_call")


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
    forbidden_view = asbool(options.pop("forbidden_view", False))
    authorize = options.pop("authorize", None)
    if isinstance(authorize, str):
        authorize = config.maybe_dotted(authorize.strip()) if authorize.strip() else None
    hook = None if authorize is None else _authorize_with(authorize, forbidden_view)
    middleware = Mount(Options.from_settings(options, authorize=hook))
    config.registry[REGISTRY_KEY] = middleware
    # Under the exception view tween, wherever the app's own tweens are
    # added: an exception raised below it (by the app's views, past a
    # fallthrough) reaches the app's exception views.
    config.add_tween("s3wsgi.integrations.pyramid.tween_factory", under=EXCVIEW)


def tween_factory(handler: Handler, registry: Registry) -> Handler:
    """The tween: claimed paths get the middleware's answer, others ``handler``'s."""
    middleware: Mount = registry[REGISTRY_KEY]

    def s3wsgi_tween(request: Request) -> PyramidResponse:
        # The environ's PATH_INFO is WSGI's latin-1 string, as the core
        # wants it; request.path_info is decoded text.
        rest = middleware.match(request.environ.get("PATH_INFO", ""))
        if rest is None:
            return handler(request)
        call = _Call(request)
        token = _current.set(call)
        try:
            answer = middleware.respond(request.environ, rest)
        finally:
            _current.reset(token)
        if call.response is not None:
            return _private(call.response, middleware.options.access.vary)
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


def _authorize_with(
    authorize: Callable[[Request], object], forbidden_view: bool
) -> Callable[[WSGIEnvironment], bool | str | Response]:
    def authorize_environ(environ: WSGIEnvironment) -> bool | str | Response:
        call = _current.get()
        request = call.request
        if not hasattr(request, "context"):
            # The tween runs before traversal: the root stands for the
            # context, so that request.has_permission() can be asked.
            root_factory = request.registry.queryUtility(IRootFactory, default=DefaultRootFactory)
            request.context = root_factory(request)
        try:
            verdict = authorize(request)
            if verdict is False and forbidden_view:
                raise HTTPForbidden()
        except Exception:
            # The app's exception view for it (its forbidden view for
            # HTTPForbidden), or, with none, the core's logged 500.
            verdict = request.invoke_exception_view(sys.exc_info(), reraise=True)
        if isinstance(verdict, PyramidResponse):
            call.response = verdict
            return Response(_status(verdict.status_code), [])
        if isinstance(verdict, str):
            return verdict
        return bool(verdict)

    return authorize_environ


def _status(code: int) -> HTTPStatus:
    try:
        return HTTPStatus(code)
    except ValueError:
        return HTTPStatus.FORBIDDEN  # only counted: the app's response is sent


def _private(response: PyramidResponse, vary: str) -> PyramidResponse:
    """The app's own refusal, private and never stored, as the core's."""
    response.cache_control.private = True
    response.cache_control.no_store = True
    names = list(response.vary or ())
    for name in vary.split(","):
        if name.strip() and name.strip().lower() not in {n.lower() for n in names}:
            names.append(name.strip())
    response.vary = names
    return response

"""Flask: an extension that mounts a bucket under a prefix of the app.

.. code-block:: python

    from flask import Flask, session
    from s3wsgi.flask import S3Docs, login_required

    app = Flask(__name__)
    app.config["S3WSGI_BUCKET"] = "my-docs"
    S3Docs(app, require=lambda: "user" in session)

    # Flask-Login: signed-out readers go to login_view, then come back.
    S3Docs(app, prefix="/manual", require=login_required)

``S3Docs`` wraps ``app.wsgi_app`` with :class:`~s3wsgi.S3Middleware`, so the
answers are the middleware's; only the configuration is Flask's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any
from wsgiref.types import WSGIEnvironment

from flask import Flask, current_app
from werkzeug.wrappers import Response as WerkzeugResponse

from ..http.responses import Response
from ..middleware import S3Middleware
from ..options import convert_settings, environ_settings

# What ``require`` may return: yes or no, a path to send the reader to, or
# anything a Flask view may return (a redirect, a response, a tuple).
Verdict = Any


class S3Docs:
    """Serve an S3 bucket under a path prefix of a Flask app.

    :param app: the Flask app; or call :meth:`init_app` later (app factories).
    :param require: a callable taking no argument, run inside the app's
        request context (so ``session``, ``g`` and Flask-Login's
        ``current_user`` work), before S3 is called: True lets the reader
        in, False answers 403, a path on this site redirects there (302),
        and a response (``redirect(...)``, Flask-Login's ``unauthorized()``:
        :func:`login_required`) is sent as it is, made private. An exception
        it raises is Flask's to handle, as a view's would be.
    :param options: any keyword option of :class:`~s3wsgi.S3Middleware`.
        Options also come from ``app.config["S3WSGI_<OPTION>"]``
        (``S3WSGI_BUCKET``, ``S3WSGI_PREFIX``, ...; text is converted);
        keywords given here win over the config.

    Usage::

        S3Docs(app, bucket="my-docs", prefix="/docs")

        docs = S3Docs(require=login_required)
        docs.init_app(app)
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        require: Callable[[], Verdict] | None = None,
        # Any: each option has its own type (the docs' options table).
        **options: Any,
    ):
        if require is not None and options.get("authorize") is not None:
            raise ValueError("give either require (Flask's context) or authorize (environ)")
        self.require = require
        self.options = options
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> S3Middleware:
        """Wrap ``app.wsgi_app``; every S3Docs of the app is in
        ``app.extensions["s3wsgi"]``, a dict by prefix."""
        options = {**config_options(app.config), **self.options}
        if self.require is not None:
            options["authorize"] = in_request_context(app, self.require)
        middleware = S3Middleware(app.wsgi_app, **options)
        mounted: dict[str, S3Middleware] = app.extensions.setdefault("s3wsgi", {})
        if middleware.prefix in mounted:
            raise ValueError(f"S3Docs: {middleware.prefix!r} is mounted twice on this app")
        mounted[middleware.prefix] = middleware
        # Flask's documented way to add WSGI middleware, which mypy takes
        # for replacing a method.
        app.wsgi_app = middleware  # type: ignore[method-assign]
        return middleware


def login_required() -> Verdict:
    """``require=login_required``: Flask-Login's signed-in users read; the
    others get ``login_manager.unauthorized()``: the ``login_view`` with
    the page asked for in ``?next=`` (or a 401 where there is none), as
    Flask-Login's own ``login_required`` does."""
    # Flask-Login is the app's choice, and ships no types.
    from flask_login import current_user  # type: ignore[import-untyped, import-not-found, unused-ignore]

    if current_user.is_authenticated:
        return True
    return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]


def config_options(config: Mapping[str, object]) -> dict[str, object]:
    """The middleware's options from ``S3WSGI_*`` keys of a Flask config."""
    # Text (from the environment, say) is converted; a boto3 client is kept.
    return convert_settings(environ_settings(config))


def in_request_context(
    app: Flask, check: Callable[[], Verdict]
) -> Callable[[WSGIEnvironment], bool | str | Response]:
    """An ``authorize(environ)`` that answers ``check()`` inside ``app``'s
    request context for that environ.

    The context only reads what ``check`` reads (the session cookie, say):
    the request body stays unread, and no view or before_request hook runs.
    A response ``check`` returns, or an exception it raises, is Flask's: the
    app's error handlers, ``got_request_exception`` and ``after_request``
    (which saves the session) see it as they would a view's.
    """

    def authorize(environ: WSGIEnvironment) -> bool | str | Response:
        with app.request_context(environ):
            try:
                verdict = check()
            except Exception as error:
                try:
                    handled = app.handle_user_exception(error)
                except Exception as unhandled:
                    return _core(app.handle_exception(unhandled), environ)
                return _core(app.finalize_request(handled), environ)
            if isinstance(verdict, (bool, str)) or verdict is None:
                return verdict or False
            if isinstance(verdict, (WerkzeugResponse, tuple)):
                return _core(app.finalize_request(verdict), environ)
            return bool(verdict)

    return authorize


def _core(response: WerkzeugResponse, environ: WSGIEnvironment) -> Response:
    """A Flask response as the core's answer, sent as it is."""
    body, status, headers = response.get_wsgi_response(environ)
    code = int(status.split(None, 1)[0])
    try:
        known = HTTPStatus(code)
    except ValueError:
        known = HTTPStatus.INTERNAL_SERVER_ERROR
    return Response(known, headers, body)

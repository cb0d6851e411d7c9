"""Flask: an extension that mounts a bucket under a prefix of the app.

.. code-block:: python

    from flask import Flask, session
    from s3wsgi.flask import S3Docs

    app = Flask(__name__)
    app.config["S3WSGI_BUCKET"] = "my-docs"
    S3Docs(app, require=lambda: "user" in session)

``S3Docs`` wraps ``app.wsgi_app`` with :class:`~s3wsgi.S3Middleware`, so the
answers are the middleware's; only the configuration is Flask's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from wsgiref.types import WSGIEnvironment

from flask import Flask

from ..middleware import S3Middleware
from ..options import convert_settings, environ_settings


class S3Docs:
    """Serve an S3 bucket under a path prefix of a Flask app.

    :param app: the Flask app; or call :meth:`init_app` later (app factories).
    :param require: a callable taking no argument, run inside the app's
        request context (so ``session``, ``g`` and Flask-Login's
        ``current_user`` work); False answers 403 before S3 is called.
    :param options: any keyword option of :class:`~s3wsgi.S3Middleware`.
        Options also come from ``app.config["S3WSGI_<OPTION>"]``
        (``S3WSGI_BUCKET``, ``S3WSGI_PREFIX``, ...; text is converted);
        keywords given here win over the config.

    Usage::

        S3Docs(app, bucket="my-docs", prefix="/docs")

        docs = S3Docs(require=lambda: current_user.is_authenticated)
        docs.init_app(app)
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        require: Callable[[], object] | None = None,
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
        """Wrap ``app.wsgi_app``; the middleware is also ``app.extensions["s3wsgi"]``."""
        options = {**config_options(app.config), **self.options}
        if self.require is not None:
            options["authorize"] = in_request_context(app, self.require)
        middleware = S3Middleware(app.wsgi_app, **options)
        # Flask's documented way to add WSGI middleware, which mypy takes
        # for replacing a method.
        app.wsgi_app = middleware  # type: ignore[method-assign]
        app.extensions["s3wsgi"] = middleware
        return middleware


def config_options(config: Mapping[str, object]) -> dict[str, object]:
    """The middleware's options from ``S3WSGI_*`` keys of a Flask config."""
    # Text (from the environment, say) is converted; a boto3 client is kept.
    return convert_settings(environ_settings(config))


def in_request_context(
    app: Flask, check: Callable[[], object]
) -> Callable[[WSGIEnvironment], bool]:
    """An ``authorize(environ)`` that answers ``check()`` inside ``app``'s
    request context for that environ.

    The context only reads what ``check`` reads (the session cookie, say):
    the request body stays unread, and no view or before_request hook runs.
    """

    def authorize(environ: WSGIEnvironment) -> bool:
        with app.request_context(environ):
            return bool(check())

    return authorize

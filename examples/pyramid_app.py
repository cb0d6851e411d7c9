"""A small Pyramid app with a bucket's documentation beside its own routes.

Shows both ways in:
- :func:`make_app` builds the app (Configurator) and wraps it with
  :class:`s3wsgi.S3Middleware`: ``/docs/`` for everyone, before Pyramid runs;
- ``config.include("s3wsgi.pyramid")`` with ``s3wsgi.*`` settings adds a
  tween: ``/internal/`` for logged-in users only, ``s3wsgi.authorize``
  reading Pyramid's session, and the app's forbidden view sending a
  signed-out reader to the login page and back.

The bucket and endpoint come from ``S3WSGI_BUCKET`` and
``S3WSGI_ENDPOINT_URL`` (see examples/README.rst).

Run::

    python examples/pyramid_app.py
"""

from __future__ import annotations

import os
import secrets
from html import escape

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPForbidden, HTTPFound
from pyramid.response import Response
from pyramid.session import SignedCookieSessionFactory

from s3wsgi import S3Middleware

# Demonstration only: a real app checks password hashes kept in its database.
USERS = {"ada": "lovelace"}

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>{body}</body></html>"""


def page(title: str, body: str, status: int = 200) -> Response:
    return Response(PAGE.format(title=escape(title), body=body), status=status)


def home(request):
    user = request.session.get("user")
    who = (
        f'Logged in as {escape(user)}. <a href="{request.route_path("logout")}">Log out</a>'
        if user
        else f'<a href="{request.route_path("login")}">Log in</a> for the internal docs.'
    )
    # /docs/ and /internal/ are not Pyramid routes: built under the mount.
    mount = request.script_name
    return page(
        "Home",
        f"<p>{who}</p>"
        f'<p><a href="{mount}/docs/">Documentation</a> · '
        f'<a href="{mount}/internal/">Internal documentation</a></p>'
        f'<p><a href="{request.route_path("form")}">A form</a></p>',
    )


def form(request):
    return page(
        "Form",
        f'<form method=post action="{request.route_path("echo")}">'
        "<input name=message><button>Send</button></form>",
    )


def echo(request):
    return page("Received", f"<p>You said: {escape(request.POST.get('message', ''))}</p>")


def status(request):
    return {
        "framework": "pyramid",
        "path": request.path,
        "script_name": request.script_name,
        "user": request.session.get("user"),
    }


def visit(request):
    seen = request.cookies.get("visits", "")
    count = (int(seen) if seen.isdigit() else 0) + 1
    response = page("Visits", f"<p>Visit number {count}</p>")
    response.set_cookie("visits", str(count), httponly=True, samesite="Lax")
    return response


def login(request):
    if request.method == "POST":
        name = request.POST.get("username", "")
        if not name or USERS.get(name) != request.POST.get("password"):
            raise HTTPForbidden()
        request.session["user"] = name
        return HTTPFound(location=back_to(request, request.POST.get("next", "")))
    return page(
        "Log in",
        f'<form method=post action="{request.route_path("login")}">'
        f'<input type="hidden" name="next" value="{escape(request.GET.get("next", ""))}">'
        "<input name=username placeholder=ada>"
        "<input name=password type=password placeholder=lovelace>"
        "<button>Log in</button></form>",
    )


def logout(request):
    request.session.pop("user", None)
    return HTTPFound(location=request.route_path("home"))


def back_to(request, target: str) -> str:
    """Where a login returns: a path on this site, else the home page."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return request.route_path("home")


def forbidden(request):
    """Pyramid's forbidden view: a signed-out reader is sent to the login
    page, to be brought back after; a signed-in one is refused."""
    if "user" in request.session:
        return page("Forbidden", "<p>Not for you.</p>", status=403)
    return HTTPFound(location=request.route_path("login", _query={"next": request.path_qs}))


def not_found(request):
    return page("Not found", "<p>This page is not part of the app.</p>", status=404)


def logged_in(request) -> bool:
    """``s3wsgi.authorize``: receives the Pyramid request."""
    return "user" in request.session


def bucket_options() -> dict[str, str | None]:
    """The bucket and endpoint: `s3wsgi demo`'s embedded S3, or a real bucket."""
    return {
        "bucket": os.environ.get("S3WSGI_BUCKET", "kestrel-docs"),
        "endpoint_url": os.environ.get("S3WSGI_ENDPOINT_URL") or None,
    }


def make_pyramid_app():
    """The Pyramid app, /internal/ served by ``config.include("s3wsgi.pyramid")``."""
    settings = {
        **{f"s3wsgi.{name}": value for name, value in bucket_options().items()},
        "s3wsgi.prefix": "/internal",
        # In an .ini file: s3wsgi.authorize = mypackage.module:logged_in
        "s3wsgi.authorize": logged_in,
        # A refusal is the app's forbidden view's answer (to the login page).
        "s3wsgi.forbidden_view": "true",
    }
    with Configurator(settings=settings) as config:
        secret = os.environ.get("PYRAMID_SECRET") or secrets.token_hex(16)
        config.set_session_factory(SignedCookieSessionFactory(secret, httponly=True))
        config.include("s3wsgi.pyramid")
        for name, pattern, view, options in (
            ("home", "/", home, {"request_method": "GET"}),
            ("form", "/form", form, {"request_method": "GET"}),
            ("echo", "/echo", echo, {"request_method": "POST"}),
            ("status", "/api/status", status, {"request_method": "GET", "renderer": "json"}),
            ("visit", "/visit", visit, {"request_method": "GET"}),
            ("login", "/login", login, {}),
            ("logout", "/logout", logout, {}),
        ):
            config.add_route(name, pattern)
            config.add_view(view, route_name=name, **options)
        config.add_notfound_view(not_found)
        config.add_forbidden_view(forbidden)
        return config.make_wsgi_app()


def make_app():
    """The WSGI application: the Pyramid app with the bucket under /docs/ in front."""
    return S3Middleware(make_pyramid_app(), prefix="/docs", **bucket_options())


application = make_app()

if __name__ == "__main__":
    from waitress import serve

    serve(application, host="127.0.0.1", port=int(os.environ.get("PORT", "6543")))

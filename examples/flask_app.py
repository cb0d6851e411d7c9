"""A small Flask app with a bucket's documentation under /docs/, behind its login.

The app keeps its own routes (a home page, a form, a JSON route, a cookie, its
own 404 page); :class:`s3wsgi.flask.S3Docs` wraps ``app.wsgi_app`` with
:class:`s3wsgi.S3Middleware`, and ``require`` asks Flask's session whether
someone is logged in before S3 is called (if not, the reader is sent to the
login page and brought back after). The bucket and endpoint come from
``S3WSGI_BUCKET`` and ``S3WSGI_ENDPOINT_URL`` (see examples/README.rst).

Run::

    flask --app examples/flask_app.py run
"""

from __future__ import annotations

import os
import secrets

from flask import Flask, abort, jsonify, redirect, request, session, url_for
from markupsafe import escape

from s3wsgi.flask import S3Docs

# Demonstration only: a real app checks password hashes kept in its database.
USERS = {"ada": "lovelace"}

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>{body}</body></html>"""


def page(title: str, body: str, status: int = 200):
    return PAGE.format(title=escape(title), body=body), status


def login_url() -> str:
    """The login page, asked to bring the reader back to this page."""
    here = request.script_root + request.path
    if request.query_string:
        here += "?" + request.query_string.decode("latin-1")
    return url_for("login", next=here)


def back_to(target: str) -> str:
    """Where a login returns: a path on this site, else the home page."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return url_for("home")


def create_app() -> Flask:
    """The host app, with the bucket under /docs/ for logged-in users."""
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("FLASK_SECRET_KEY") or secrets.token_hex(16)
    app.config["S3WSGI_BUCKET"] = os.environ.get("S3WSGI_BUCKET", "kestrel-docs")
    app.config["S3WSGI_ENDPOINT_URL"] = os.environ.get("S3WSGI_ENDPOINT_URL")
    app.config["S3WSGI_PREFIX"] = "/docs"
    # Read inside Flask's request context: the same session the views see.
    # A signed-out reader is sent to the login page, and back after.
    S3Docs(app, require=lambda: "user" in session or redirect(login_url()))

    @app.get("/")
    def home():
        user = session.get("user")
        who = (
            f"Logged in as {escape(user)}. <a href='{url_for('logout')}'>Log out</a>"
            if user
            else f"<a href='{url_for('login')}'>Log in</a> to read the documentation."
        )
        # /docs/ is not a Flask route: build its URL under the app's mount.
        docs = f"{request.script_root}/docs/"
        return page(
            "Home",
            f'<p>{who}</p><p><a href="{docs}">Documentation</a></p>'
            f'<p><a href="{url_for("form")}">A form</a></p>',
        )

    @app.get("/form")
    def form():
        return page(
            "Form",
            f'<form method=post action="{url_for("echo")}">'
            "<input name=message><button>Send</button></form>",
        )

    @app.post("/echo")
    def echo():
        return page("Received", f"<p>You said: {escape(request.form.get('message', ''))}</p>")

    @app.get("/api/status")
    def status():
        return jsonify(
            framework="flask",
            path=request.path,
            script_name=request.script_root,
            user=session.get("user"),
        )

    @app.get("/visit")
    def visit():
        seen = request.cookies.get("visits", "")
        count = (int(seen) if seen.isdigit() else 0) + 1
        response = app.make_response(page("Visits", f"<p>Visit number {count}</p>"))
        response.set_cookie("visits", str(count), httponly=True, samesite="Lax")
        return response

    @app.route("/login", methods=["GET", "POST"])
    def login():
        if request.method == "POST":
            name = request.form.get("username", "")
            if USERS.get(name) != request.form.get("password") or not name:
                abort(403)
            session["user"] = name
            return redirect(back_to(request.form.get("next", "")))
        next_field = escape(request.args.get("next", ""))
        return page(
            "Log in",
            f'<form method=post action="{url_for("login")}">'
            f'<input type="hidden" name="next" value="{next_field}">'
            "<input name=username placeholder=ada>"
            "<input name=password type=password placeholder=lovelace>"
            "<button>Log in</button></form>",
        )

    @app.get("/logout")
    def logout():
        session.pop("user", None)
        return redirect(url_for("home"))

    @app.errorhandler(404)
    def not_found(error):
        return page("Not found", "<p>This page is not part of the app.</p>", 404)

    return app


app = create_app()

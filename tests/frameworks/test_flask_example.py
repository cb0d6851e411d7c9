"""Flask: the example app (S3Docs, behind its login) through the scenario,
and S3Docs' own configuration."""

from __future__ import annotations

import pytest
from scenario import framework

flask = framework("flask")

from scenario import DOCS, Example, FrameworkScenario, import_example  # noqa: E402

from s3wsgi import S3Middleware  # noqa: E402
from s3wsgi.flask import S3Docs  # noqa: E402


def middleware_of(app):
    """The S3Docs middleware of an app that has one."""
    (middleware,) = app.extensions["s3wsgi"].values()
    return middleware


def log_in(http, url):
    answer = http.post(url("/login"), data={"username": "ada", "password": "lovelace"}, timeout=10)
    assert answer.status_code == 200  # redirected home


@pytest.fixture
def example(docs_env):
    module = import_example("flask_app")
    return Example(module.app, middleware_of(module.app), framework="flask", login=log_in)


class TestFlaskExample(FrameworkScenario):
    pass


def test_docs_need_the_flask_login_and_s3_is_not_asked_without_it(docs_env, serve, monkeypatch):
    module = import_example("flask_app")
    middleware = middleware_of(module.app)
    base = serve(module.app)

    def no_s3(*args, **kwargs):
        raise AssertionError("S3 was asked for an anonymous request")

    import requests

    with monkeypatch.context() as patch:
        patch.setattr(middleware.store, "get", no_s3)
        patch.setattr(middleware.store, "head", no_s3)
        anonymous = requests.get(f"{base}/docs/", allow_redirects=False, timeout=10)
    assert anonymous.status_code == 302  # to the login page
    with requests.Session() as http:
        log_in(http, lambda path: base + path)
        assert http.get(f"{base}/docs/", timeout=10).content == DOCS["index.html"][0]
        http.get(f"{base}/logout", timeout=10)
        assert http.get(f"{base}/docs/", allow_redirects=False, timeout=10).status_code == 302


def test_s3docs_reads_s3wsgi_config_keys_and_keywords_win(docs_env, s3_endpoint):
    app = flask.Flask("configured")
    app.config.update(
        S3WSGI_BUCKET=docs_env,
        S3WSGI_ENDPOINT_URL=s3_endpoint,
        S3WSGI_PREFIX="/handbook",
        S3WSGI_FALLTHROUGH="yes",
        S3WSGI_READ_TIMEOUT="7.5",
    )
    docs = S3Docs(prefix="/manual")
    middleware = docs.init_app(app)
    assert app.wsgi_app is middleware is app.extensions["s3wsgi"]["/manual"]
    assert isinstance(middleware, S3Middleware)
    assert middleware.prefix == "/manual"
    assert middleware.fallthrough is True
    assert middleware.match("/manual/guide/") == "guide/"


def test_s3docs_refuses_both_require_and_authorize():
    with pytest.raises(ValueError, match="require"):
        S3Docs(require=lambda: True, authorize=lambda environ: True, bucket="docs")


def test_s3docs_names_a_mistyped_config_value(docs_env):
    app = flask.Flask("mistyped")
    app.config.update(S3WSGI_BUCKET=docs_env, S3WSGI_FALLTHROUGH="maybe")
    with pytest.raises(ValueError, match="fallthrough"):
        S3Docs(app)


def private(answer) -> bool:
    """Whether an answer is private and never stored, varying on the cookie."""
    directives = {d.strip() for d in answer.headers.get("Cache-Control", "").split(",")}
    vary = {name.strip() for name in answer.headers.get("Vary", "").split(",")}
    return {"private", "no-store"} <= directives and "Cookie" in vary


@pytest.mark.parametrize("mount", ["", "/intranet"])
def test_a_signed_out_reader_is_sent_to_the_login_page_and_brought_back(docs_env, serve, mount):
    import requests

    module = import_example("flask_app")
    base = serve(module.app, url_prefix=mount) + mount
    with requests.Session() as http:
        refused = http.get(f"{base}/docs/guide/intro.html?lang=en", allow_redirects=False)
        assert refused.status_code == 302
        login_page = f"{mount}/login?next={mount}/docs/guide/intro.html?lang%3Den"
        assert refused.headers["Location"] == login_page
        assert private(refused), refused.headers
        form = http.get(base + refused.headers["Location"][len(mount) :], timeout=10)
        assert f'name="next" value="{mount}/docs/guide/intro.html?lang=en"' in form.text
        signed_in = http.post(
            f"{base}/login",
            data={
                "username": "ada",
                "password": "lovelace",
                "next": f"{mount}/docs/guide/intro.html?lang=en",
            },
            allow_redirects=False,
            timeout=10,
        )
        assert signed_in.headers["Location"] == f"{mount}/docs/guide/intro.html?lang=en"
        back = http.get(base + signed_in.headers["Location"][len(mount) :], timeout=10)
        assert back.content == DOCS["guide/intro.html"][0]


def flask_login_app(docs_env, s3_endpoint):
    """A Flask-Login app: /login signs in whoever is named; /docs/ behind it."""
    from flask import redirect, request
    from flask_login import LoginManager, UserMixin, login_user

    from s3wsgi.flask import login_required

    class User(UserMixin):
        def __init__(self, name):
            self.id = name

    app = flask.Flask("flask_login_app")
    app.config["SECRET_KEY"] = "test-only"
    manager = LoginManager(app)
    manager.login_view = "login"
    manager.user_loader(User)

    @app.route("/login", methods=["GET", "POST"])
    def login():
        if request.method == "POST":
            login_user(User(request.form["name"]))
            return redirect(request.args.get("next", "/"))
        return "the login form"

    S3Docs(app, bucket=docs_env, endpoint_url=s3_endpoint, require=login_required)
    return app


def test_login_required_sends_flask_login_readers_to_login_view_and_back(
    docs_env, s3_endpoint, serve
):
    import requests

    base = serve(flask_login_app(docs_env, s3_endpoint))
    with requests.Session() as http:
        refused = http.get(f"{base}/docs/guide/", allow_redirects=False, timeout=10)
        assert refused.status_code == 302
        assert refused.headers["Location"] == "/login?next=%2Fdocs%2Fguide%2F"
        assert private(refused), refused.headers
        signed_in = http.post(
            base + refused.headers["Location"], data={"name": "ada"}, allow_redirects=False
        )
        assert signed_in.headers["Location"] == "/docs/guide/"
        back = http.get(base + signed_in.headers["Location"], timeout=10)
        assert back.content == DOCS["guide/index.html"][0]


def test_an_exception_in_require_reaches_flasks_error_handling(docs_env, s3_endpoint, serve):
    import requests
    from flask import got_request_exception

    app = flask.Flask("broken_require")
    seen = []

    def broken():
        raise RuntimeError("the session store is down")

    @app.errorhandler(500)
    def server_error(error):
        return "the app's own 500 page", 500

    def record(sender, exception, **extra):
        seen.append(str(exception))

    S3Docs(app, bucket=docs_env, endpoint_url=s3_endpoint, require=broken)
    base = serve(app)
    got_request_exception.connect(record, app)
    try:
        answer = requests.get(f"{base}/docs/", timeout=10)
    finally:
        got_request_exception.disconnect(record, app)
    assert (answer.status_code, answer.text) == (500, "the app's own 500 page")
    assert seen == ["the session store is down"]
    refused = flask.Flask("abort_in_require")

    @refused.errorhandler(403)
    def forbidden(error):
        return "the app's own 403 page", 403

    S3Docs(refused, bucket=docs_env, endpoint_url=s3_endpoint, require=lambda: flask.abort(403))
    answer = requests.get(f"{serve(refused)}/docs/", timeout=10)
    assert (answer.status_code, answer.text) == (403, "the app's own 403 page")
    assert private(answer), answer.headers


def test_two_s3docs_on_one_app_are_both_kept_by_prefix(docs_env, s3_endpoint, serve):
    import requests

    app = flask.Flask("two_mounts")
    S3Docs(app, bucket=docs_env, endpoint_url=s3_endpoint, prefix="/docs")
    S3Docs(app, bucket=docs_env, endpoint_url=s3_endpoint, prefix="/manual")
    mounted = app.extensions["s3wsgi"]
    assert set(mounted) == {"/docs", "/manual"}
    assert mounted["/manual"] is app.wsgi_app and mounted["/docs"] is app.wsgi_app.app
    base = serve(app)
    for prefix in ("/docs", "/manual"):
        assert requests.get(f"{base}{prefix}/style.css", timeout=10).content == DOCS["style.css"][0]
    with pytest.raises(ValueError, match="mounted twice"):
        S3Docs(app, bucket=docs_env, endpoint_url=s3_endpoint, prefix="/docs")


def test_headers_may_be_given_as_text_in_python(docs_env, s3_endpoint, serve):
    import requests

    app = flask.Flask("text_headers")
    S3Docs(
        app,
        bucket=docs_env,
        endpoint_url=s3_endpoint,
        headers="Content-Security-Policy: sandbox\nX-Served-By: s3wsgi",
    )
    page = requests.get(f"{serve(app)}/docs/style.css", timeout=10)
    assert page.headers["Content-Security-Policy"] == "sandbox"
    assert page.headers["X-Served-By"] == "s3wsgi"

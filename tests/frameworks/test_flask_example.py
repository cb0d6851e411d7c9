"""Flask: the example app (S3Docs, behind its login) through the scenario,
and S3Docs' own configuration."""

from __future__ import annotations

import pytest
from scenario import framework

flask = framework("flask")

from scenario import DOCS, Example, FrameworkScenario, import_example  # noqa: E402

from s3wsgi import S3Middleware  # noqa: E402
from s3wsgi.flask import S3Docs  # noqa: E402


def log_in(http, url):
    answer = http.post(url("/login"), data={"username": "ada", "password": "lovelace"}, timeout=10)
    assert answer.status_code == 200  # redirected home


@pytest.fixture
def example(docs_env):
    module = import_example("flask_app")
    return Example(module.app, module.app.extensions["s3wsgi"], framework="flask", login=log_in)


class TestFlaskExample(FrameworkScenario):
    pass


def test_docs_need_the_flask_login_and_s3_is_not_asked_without_it(docs_env, serve, monkeypatch):
    module = import_example("flask_app")
    middleware = module.app.extensions["s3wsgi"]
    base = serve(module.app)

    def no_s3(*args, **kwargs):
        raise AssertionError("S3 was asked for an anonymous request")

    import requests

    with monkeypatch.context() as patch:
        patch.setattr(middleware.store, "get", no_s3)
        patch.setattr(middleware.store, "head", no_s3)
        anonymous = requests.get(f"{base}/docs/", timeout=10)
    assert anonymous.status_code == 403
    with requests.Session() as http:
        log_in(http, lambda path: base + path)
        assert http.get(f"{base}/docs/", timeout=10).content == DOCS["index.html"][0]
        http.get(f"{base}/logout", timeout=10)
        assert http.get(f"{base}/docs/", timeout=10).status_code == 403


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
    assert app.wsgi_app is middleware is app.extensions["s3wsgi"]
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

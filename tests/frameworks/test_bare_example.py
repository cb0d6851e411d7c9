"""Plain WSGI: a framework-free host app wrapped with S3Middleware, through
the scenario (runs in every environment: it needs no framework)."""

from __future__ import annotations

import os

import pytest
import requests
from bare_app import make_application
from scenario import Example, FrameworkScenario


@pytest.fixture
def example(docs_env):
    application = make_application()
    return Example(application, application, framework="bare")


class TestBareWSGI(FrameworkScenario):
    pass


def refused_by(verdict, docs_env, serve, **options):
    """The bare app, its ``authorize`` answering ``verdict``; its base URL."""
    from bare_app import host_app

    from s3wsgi import S3Middleware

    application = S3Middleware(
        host_app,
        bucket=docs_env,
        endpoint_url=os.environ["S3WSGI_ENDPOINT_URL"],
        authorize=lambda environ: verdict,
        **options,
    )
    return serve(application)


def test_authorize_answering_a_path_redirects_there_privately(docs_env, serve):
    base = refused_by("/login?next=/docs/guide/", docs_env, serve, cache_scope="public")
    answer = requests.get(f"{base}/docs/guide/", allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/login?next=/docs/guide/"
    # Whatever cache_scope says: who is refused is nobody else's answer.
    assert answer.headers["Cache-Control"] == "private, no-store"
    assert answer.headers["Vary"] == "Cookie, Authorization"


@pytest.mark.parametrize(
    "verdict", ["//evil.example/", "https://evil.example/", "/\\evil", "/a\r\nSet-Cookie: x=1"]
)
def test_authorize_answering_anything_but_a_path_on_this_site_is_our_500(
    verdict, docs_env, serve, caplog
):
    base = refused_by(verdict, docs_env, serve)
    answer = requests.get(f"{base}/docs/", allow_redirects=False, timeout=10)
    assert answer.status_code == 500
    assert "Location" not in answer.headers and "Set-Cookie" not in answer.headers
    assert "not a path on this site" in caplog.text


def test_authorize_answering_a_response_sends_it_privately(docs_env, serve):
    from http import HTTPStatus

    from s3wsgi.http.responses import Response

    own = Response(HTTPStatus.UNAUTHORIZED, [("WWW-Authenticate", 'Basic realm="docs"')])
    answer = requests.get(f"{refused_by(own, docs_env, serve)}/docs/", timeout=10)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="docs"'
    assert answer.headers["Cache-Control"] == "private, no-store"

"""Django: the example site's wsgi.py (S3Middleware around Django) through
the scenario, and s3wsgi.django.S3WSGIMiddleware in settings.MIDDLEWARE
with ``authorize`` reading ``request.user``."""

from __future__ import annotations

import pytest
from scenario import framework

django = framework("django")

import requests  # noqa: E402
from scenario import (  # noqa: E402
    APP_NOT_FOUND,
    DOCS,
    Example,
    FrameworkScenario,
    Site,
    all_closed,
    docs_environment,
    import_example,
)


@pytest.fixture(scope="module")
def docsite(docs_bucket, s3_endpoint, tmp_path_factory):
    """The example's wsgi module, its database migrated (the demo user ada)."""
    with pytest.MonkeyPatch.context() as patch:
        docs_environment(patch, docs_bucket, s3_endpoint)
        patch.setenv("DOCSITE_DATABASE", str(tmp_path_factory.mktemp("docsite") / "db.sqlite3"))
        patch.setenv("DJANGO_SETTINGS_MODULE", "docsite.settings")
        wsgi = import_example("docsite.wsgi", under="django_site")
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    return wsgi


@pytest.fixture
def example(docsite):
    return Example(docsite.application, docsite.application, framework="django")


class TestDjangoExample(FrameworkScenario):
    pass


def log_in(http, url):
    """Django's way: the form's CSRF token, then the credentials."""
    form = http.get(url("/login"), timeout=10)
    token = form.cookies["csrftoken"]
    answer = http.post(
        url("/login"),
        data={"csrfmiddlewaretoken": token, "username": "ada", "password": "lovelace"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert "Logged in as ada" in answer.text


@pytest.fixture
def site(docsite, serve):
    """The example at the root, for the MIDDLEWARE form's /internal/."""
    site = Site(Example(docsite.application, docsite.application, framework="django"), serve, "")
    yield site
    site.restore()


def test_middleware_form_asks_authorize_with_request_user_before_s3(site, store_calls):
    anonymous = site.get("/internal/")
    assert anonymous.status_code == 403
    assert store_calls == []
    log_in(site.http, site.url)
    answer = site.get("/internal/")
    assert answer.status_code == 200
    assert answer.content == DOCS["index.html"][0]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert ("get", "index.html") in store_calls
    assert all_closed(store_calls)


def test_middleware_form_refuses_a_logged_in_user_who_is_not_staff(site, store_calls):
    from django.contrib.auth.models import User

    bob, _ = User.objects.get_or_create(username="bob")
    bob.set_password("builder")
    bob.save()
    form = site.get("/login")
    site.http.post(
        site.url("/login"),
        data={
            "csrfmiddlewaretoken": form.cookies["csrftoken"],
            "username": "bob",
            "password": "builder",
        },
        timeout=10,
    )
    assert site.get("/api/status").json()["user"] == "bob"
    assert site.get("/internal/style.css").status_code == 403
    assert store_calls == []


@pytest.mark.parametrize("mount", ["", "/intranet"])
def test_middleware_form_answers_as_the_core_does_under_a_script_name(
    docsite, serve, mount, store_calls
):
    site = Site(Example(docsite.application, docsite.application, framework="django"), serve, mount)
    try:
        log_in(site.http, site.url)
        redirect = site.get("/internal/caf%C3%A9?x=1")
        assert redirect.status_code == 301
        assert redirect.headers["Location"] == f"{mount}/internal/caf%C3%A9/?x=1"
        assert site.get("/internal").headers["Location"] == f"{mount}/internal/"
        page = site.get("/internal/caf%C3%A9/menu.html")
        assert page.content == DOCS["caf\u00e9/menu.html"][0]
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        etag = page.headers["ETag"]
        again = site.get("/internal/caf%C3%A9/menu.html", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        part = site.get("/internal/digits.txt", headers={"Range": "bytes=-3"})
        assert (part.status_code, part.content) == (206, b"789")
        assert part.headers["Content-Range"] == "bytes 7-9/10"
        missing = site.get("/internal/nothing-here.html")
        assert missing.status_code == 404
        assert APP_NOT_FOUND not in missing.text
    finally:
        site.restore()
    assert ("get", "digits.txt") in store_calls
    assert all_closed(store_calls)


def test_middleware_form_answers_head_with_no_body_and_closes_the_stream(site, store_calls):
    log_in(site.http, site.url)
    cookie = "; ".join(f"{name}={value}" for name, value in site.http.cookies.items())
    reply = site.raw(
        b"HEAD /internal/img/logo.png HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Cookie: {cookie}\r\nConnection: close\r\n\r\n".encode()
    )
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert f"Content-Length: {len(DOCS['img/logo.png'][0])}".encode() in head
    assert b"Content-Type: image/png" in head
    assert body == b""
    assert ("head", "img/logo.png") in store_calls


def test_middleware_form_with_fallthrough_hands_missing_keys_to_django(
    docsite, serve, docs_bucket, s3_endpoint
):
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    options = {
        "bucket": docs_bucket,
        "endpoint_url": s3_endpoint,
        "prefix": "/internal",
        "fallthrough": "yes",
    }
    with override_settings(S3WSGI=options):
        handler = WSGIHandler()
    base = serve(handler)
    assert requests.get(f"{base}/internal/style.css", timeout=10).content == DOCS["style.css"][0]
    missing = requests.get(f"{base}/internal/not-in-the-bucket", timeout=10)
    assert missing.status_code == 404
    assert APP_NOT_FOUND in missing.text  # Django's handler404 answered


def test_middleware_form_keeps_repeated_headers_as_one_list(
    docsite, serve, docs_bucket, s3_endpoint
):
    """A Vary from ``headers`` beside the answer's own Vary: Django keeps one
    value per name, so both are joined, not the first lost."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    options = {
        "bucket": docs_bucket,
        "endpoint_url": s3_endpoint,
        "prefix": "/internal",
        "headers": "Vary: Cookie",
        "listing": "yes",
    }
    with override_settings(S3WSGI=options):
        handler = WSGIHandler()
    base = serve(handler)
    answer = requests.get(
        f"{base}/internal/img/", headers={"Accept": "application/json"}, timeout=10
    )
    vary = [name.strip() for name in answer.headers["Vary"].split(",")]
    assert "Cookie" in vary and "Accept" in vary, answer.headers


def test_middleware_form_names_a_missing_bucket_setting(docsite):
    from django.core.exceptions import ImproperlyConfigured
    from django.test import override_settings

    from s3wsgi.django import S3WSGIMiddleware

    with (
        override_settings(S3WSGI={"prefix": "/internal"}),
        pytest.raises(ImproperlyConfigured, match="bucket"),
    ):
        S3WSGIMiddleware(lambda request: None)
    with (
        override_settings(S3WSGI={"bucket": "b", "read_timeout": "soon"}),
        pytest.raises(ImproperlyConfigured, match="read_timeout"),
    ):
        S3WSGIMiddleware(lambda request: None)


def test_middleware_form_never_sends_a_body_to_head_and_passes_the_wsgi_validator(
    docsite, docs_bucket, s3_endpoint
):
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings
    from wsgi_call import call

    options = {"bucket": docs_bucket, "endpoint_url": s3_endpoint, "prefix": "/internal"}
    with override_settings(S3WSGI=options):
        handler = WSGIHandler()
    page = call(handler, "/internal/img/logo.png", "HEAD", SERVER_NAME="127.0.0.1")
    assert page.code == 200
    assert page.header("Content-Length") == str(len(DOCS["img/logo.png"][0]))
    assert page.body == b""
    missing = call(handler, "/internal/missing.html", "HEAD", SERVER_NAME="127.0.0.1")
    assert (missing.code, missing.body) == (404, b"")
    got = call(handler, "/internal/caf\u00e9/menu.html", SERVER_NAME="127.0.0.1")
    assert (got.code, got.body) == (200, DOCS["caf\u00e9/menu.html"][0])

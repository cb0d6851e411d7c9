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
    assert anonymous.status_code == 302  # to the login page
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


def private(answer: requests.Response) -> bool:
    """Whether an answer is private and never stored, varying on the cookie."""
    directives = {d.strip() for d in answer.headers.get("Cache-Control", "").split(",")}
    vary = {name.strip() for name in answer.headers.get("Vary", "").split(",")}
    return {"private", "no-store"} <= directives and "Cookie" in vary


@pytest.mark.parametrize("mount", ["", "/intranet"])
def test_a_signed_out_reader_is_sent_to_login_url_and_brought_back(
    docsite, serve, mount, store_calls
):
    site = Site(Example(docsite.application, docsite.application, framework="django"), serve, mount)
    try:
        refused = site.get("/internal/guide/intro.html?lang=en")
        assert refused.status_code == 302
        assert refused.headers["Location"] == (
            f"{mount}/login?next={mount}/internal/guide/intro.html%3Flang%3Den"
        )
        assert private(refused), refused.headers
        assert store_calls == []
        form = site.http.get(site.base + refused.headers["Location"], timeout=10)
        signed_in = site.http.post(
            site.base + refused.headers["Location"],
            data={
                "csrfmiddlewaretoken": form.cookies["csrftoken"],
                "username": "ada",
                "password": "lovelace",
                "next": f"{mount}/internal/guide/intro.html?lang=en",
            },
            allow_redirects=False,
            timeout=10,
        )
        assert signed_in.headers["Location"] == f"{mount}/internal/guide/intro.html?lang=en"
        back = site.http.get(site.base + signed_in.headers["Location"], timeout=10)
        assert back.status_code == 200
        assert back.content == DOCS["guide/intro.html"][0]
    finally:
        site.restore()


def internal_handler(docs_bucket, s3_endpoint, **options):
    """A Django WSGI handler whose S3WSGIMiddleware has these options."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    given = {"bucket": docs_bucket, "endpoint_url": s3_endpoint, "prefix": "/internal"}
    with override_settings(S3WSGI={**given, **options}):
        return WSGIHandler()


def test_authorize_may_answer_with_a_django_response_sent_as_it_is_made_private(
    docsite, serve, docs_bucket, s3_endpoint, store_calls
):
    from django.http import HttpResponse

    def teapot(request):
        response = HttpResponse("ask the kettle", status=418)
        response.set_cookie("seen", "1")
        return response

    base = serve(internal_handler(docs_bucket, s3_endpoint, authorize=teapot))
    answer = requests.get(f"{base}/internal/style.css", timeout=10)
    assert (answer.status_code, answer.text) == (418, "ask the kettle")
    assert answer.cookies["seen"] == "1"
    assert private(answer), answer.headers
    assert store_calls == []


def test_authorize_may_answer_with_a_path_redirected_to(docsite, serve, docs_bucket, s3_endpoint):
    base = serve(internal_handler(docs_bucket, s3_endpoint, authorize=lambda r: "/login?x=1"))
    answer = requests.get(f"{base}/internal/", allow_redirects=False, timeout=10)
    assert (answer.status_code, answer.headers["Location"]) == (302, "/login?x=1")
    assert private(answer), answer.headers


def test_an_exception_in_authorize_reaches_djangos_error_handling(
    docsite, serve, docs_bucket, s3_endpoint, store_calls
):
    from django.core.signals import got_request_exception

    def broken(request):
        raise RuntimeError("the session store is down")

    seen = []

    def record(sender, request, **kwargs):
        seen.append(request.path)

    base = serve(internal_handler(docs_bucket, s3_endpoint, authorize=broken))
    got_request_exception.connect(record)
    try:
        answer = requests.get(f"{base}/internal/style.css", timeout=10)
    finally:
        got_request_exception.disconnect(record)
    assert answer.status_code == 500
    assert "Server Error (500)" in answer.text  # Django's own page, not ours
    assert "session store" not in answer.text
    assert seen == ["/internal/style.css"]
    assert store_calls == []


def test_s3wsgi_answers_are_not_logged_again_by_django_request(site, caplog):
    import logging

    log_in(site.http, site.url)
    with caplog.at_level(logging.INFO):
        missing = site.get("/internal/no-such-page.html")
    assert missing.status_code == 404
    assert [r.getMessage() for r in caplog.records if r.name == "django.request"] == []


def test_middleware_that_would_make_answers_wrong_stops_django_from_starting(docsite):
    from django.core.exceptions import ImproperlyConfigured
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    order = [
        "django.middleware.gzip.GZipMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "s3wsgi.django.S3WSGIMiddleware",
    ]
    with (
        override_settings(MIDDLEWARE=order),
        pytest.raises(ImproperlyConfigured, match="GZipMiddleware before s3wsgi"),
    ):
        WSGIHandler()


def test_middleware_that_would_never_run_on_s3_answers_is_warned_of(docsite, caplog):
    import logging

    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    order = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "s3wsgi.django.S3WSGIMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ]
    with override_settings(MIDDLEWARE=order), caplog.at_level(logging.WARNING, "s3wsgi"):
        WSGIHandler()
    assert "XFrameOptionsMiddleware after s3wsgi.django.S3WSGIMiddleware" in caplog.text


def test_in_the_documented_order_answers_are_exact(docsite, serve, docs_bucket, s3_endpoint):
    """ConditionalGet at the top, GZip under s3wsgi: a 304 and a HEAD as the
    core answers them, a binary sent as it is, the app's pages gzipped."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    order = [
        "django.middleware.http.ConditionalGetMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        "s3wsgi.django.S3WSGIMiddleware",
        "django.middleware.gzip.GZipMiddleware",
    ]
    options = {"bucket": docs_bucket, "endpoint_url": s3_endpoint, "prefix": "/internal"}
    with override_settings(MIDDLEWARE=order, S3WSGI=options):
        base = serve(WSGIHandler())
    gzip = {"Accept-Encoding": "gzip"}
    logo = requests.get(f"{base}/internal/img/logo.png", headers=gzip, stream=True, timeout=10)
    assert "Content-Encoding" not in logo.headers
    assert logo.raw.read() == DOCS["img/logo.png"][0]
    etag = logo.headers["ETag"]
    assert etag.startswith('"')  # strong: ranges may be asked If-Range
    assert logo.headers["X-Frame-Options"] == "DENY"
    again = requests.get(
        f"{base}/internal/img/logo.png", headers={**gzip, "If-None-Match": etag}, timeout=10
    )
    assert again.status_code == 304
    assert "Content-Encoding" not in again.headers
    assert again.headers["ETag"] == etag
    head = requests.head(f"{base}/internal/style.css", headers=gzip, timeout=10)
    assert head.headers["Content-Length"] == str(len(DOCS["style.css"][0]))
    assert "Content-Encoding" not in head.headers
    home = requests.get(f"{base}/", headers=gzip, timeout=10)
    assert home.headers["Content-Encoding"] == "gzip"


def test_empty_and_in_memory_answers_are_plain_responses_gzip_leaves_alone(docsite):
    # docsite: Django's settings, which a response needs, are the example's.
    from http import HTTPStatus

    from s3wsgi.django import django_response
    from s3wsgi.http.responses import Response, text_response

    class Stream:
        def __iter__(self):
            yield b"never read"

    not_modified = django_response(
        Response(HTTPStatus.NOT_MODIFIED, [("ETag", '"a"')], Stream()), head=False
    )
    head = django_response(Response(HTTPStatus.OK, [("Content-Length", "10")], Stream()), head=True)
    error = django_response(text_response(HTTPStatus.BAD_GATEWAY, []), head=False)
    assert [r.streaming for r in (not_modified, head, error)] == [False, False, False]
    assert (not_modified.status_code, not_modified["ETag"]) == (304, '"a"')
    assert head.content == b"" and head["Content-Length"] == "10"
    assert error.content == b"502 Bad Gateway\n"
    assert django_response(Response(HTTPStatus.OK, [], Stream()), head=False).streaming

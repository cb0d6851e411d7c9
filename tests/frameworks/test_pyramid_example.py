"""Pyramid: the example app (S3Middleware around the Configurator's app)
through the scenario, and ``config.include("s3wsgi.pyramid")``'s tween."""

from __future__ import annotations

import pytest
from scenario import framework

pyramid = framework("pyramid")

from urllib.parse import urlencode  # noqa: E402

import requests  # noqa: E402
from pyramid.config import Configurator  # noqa: E402
from pyramid.response import Response  # noqa: E402
from scenario import (  # noqa: E402
    APP_NOT_FOUND,
    DOCS,
    Example,
    FrameworkScenario,
    Site,
    all_closed,
    import_example,
)

from s3wsgi.pyramid import REGISTRY_KEY  # noqa: E402


@pytest.fixture
def pyramid_app(docs_env):
    return import_example("pyramid_app")


@pytest.fixture
def example(pyramid_app):
    return Example(pyramid_app.application, pyramid_app.application, framework="pyramid")


class TestPyramidExample(FrameworkScenario):
    pass


def log_in(http, url):
    answer = http.post(url("/login"), data={"username": "ada", "password": "lovelace"}, timeout=10)
    assert answer.status_code == 200
    assert "Logged in as ada" in answer.text


@pytest.mark.parametrize("mount", ["", "/intranet"])
def test_included_tween_asks_authorize_with_the_request_then_answers_as_the_core(
    pyramid_app, serve, mount, store_calls
):
    site = Site(
        Example(pyramid_app.application, pyramid_app.application, framework="pyramid"), serve, mount
    )
    try:
        assert site.framework_app.registry[REGISTRY_KEY].prefix == "/internal"
        assert site.get("/internal/").status_code == 302  # the forbidden view's
        assert store_calls == []
        log_in(site.http, site.url)
        assert site.get("/internal/").content == DOCS["index.html"][0]
        # The core's redirects are paths on this host, not WebOb's absolute URLs.
        assert site.get("/internal").headers["Location"] == f"{mount}/internal/"
        folder = site.get("/internal/caf%C3%A9?x=1")
        assert folder.headers["Location"] == f"{mount}/internal/caf%C3%A9/?x=1"
        part = site.get("/internal/digits.txt", headers={"Range": "bytes=0-0"})
        assert (part.status_code, part.content) == (206, b"0")
        etag = part.headers["ETag"]
        assert site.get("/internal/digits.txt", headers={"If-None-Match": etag}).status_code == 304
        missing = site.get("/internal/missing.html")
        assert missing.status_code == 404
        assert APP_NOT_FOUND not in missing.text
        cookie = "; ".join(f"{name}={value}" for name, value in site.http.cookies.items())
        reply = site.raw(
            f"HEAD {mount}/internal/style.css HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Cookie: {cookie}\r\nConnection: close\r\n\r\n".encode()
        )
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert f"Content-Length: {len(DOCS['style.css'][0])}".encode() in head
        assert body == b""
    finally:
        site.restore()
    assert ("get", "digits.txt") in store_calls
    assert all_closed(store_calls)


def hello(request):
    return Response("hello from pyramid")


def not_found(request):
    return Response(APP_NOT_FOUND, status=404)


def make_app(**settings):
    with Configurator(settings=settings) as config:
        config.include("s3wsgi.pyramid")
        config.add_route("hello", "/hello")
        config.add_view(hello, route_name="hello")
        config.add_notfound_view(not_found)
        return config.make_wsgi_app()


def test_include_reads_text_settings_like_an_ini_file(docs_env, s3_endpoint, serve):
    app = make_app(
        **{
            "s3wsgi.bucket": docs_env,
            "s3wsgi.endpoint_url": s3_endpoint,
            "s3wsgi.prefix": "/manual",
            "s3wsgi.fallthrough": "true",
            "s3wsgi.cache_control": "max-age=60",
            "s3wsgi.headers": "Content-Security-Policy: sandbox\nX-Served-By: s3wsgi",
            "s3wsgi.read_timeout": "20",
        }
    )
    middleware = app.registry[REGISTRY_KEY]
    assert middleware.fallthrough is True
    base = serve(app)
    page = requests.get(f"{base}/manual/guide/intro.html", timeout=10)
    assert page.content == DOCS["guide/intro.html"][0]
    assert page.headers["Cache-Control"] == "max-age=60"
    assert page.headers["Content-Security-Policy"] == "sandbox"
    assert page.headers["X-Served-By"] == "s3wsgi"
    assert requests.get(f"{base}/hello", timeout=10).text == "hello from pyramid"
    missing = requests.get(f"{base}/manual/not-there", timeout=10)
    assert (missing.status_code, missing.text) == (404, APP_NOT_FOUND)  # fell through


def test_include_names_a_missing_or_mistyped_setting(docs_env):
    with pytest.raises(ValueError, match="bucket"):
        make_app(**{"s3wsgi.prefix": "/manual"})
    with pytest.raises(ValueError, match="fallthrough"):
        make_app(**{"s3wsgi.bucket": docs_env, "s3wsgi.fallthrough": "perhaps"})


def test_include_never_sends_a_body_to_head_and_passes_the_wsgi_validator(docs_env, s3_endpoint):
    from wsgi_call import call

    app = make_app(**{"s3wsgi.bucket": docs_env, "s3wsgi.endpoint_url": s3_endpoint})
    page = call(app, "/docs/img/logo.png", "HEAD")
    assert page.code == 200
    assert page.header("Content-Length") == str(len(DOCS["img/logo.png"][0]))
    assert page.body == b""
    missing = call(app, "/docs/missing.html", "HEAD")
    assert (missing.code, missing.body) == (404, b"")
    redirect = call(app, "/docs/guide", "HEAD")
    assert (redirect.code, redirect.header("Location"), redirect.body) == (
        301,
        "/docs/guide/",
        b"",
    )
    got = call(app, "/docs/caf\u00e9/menu.html")
    assert (got.code, got.body) == (200, DOCS["caf\u00e9/menu.html"][0])


def private(answer) -> bool:
    """Whether an answer is private and never stored, varying on the cookie."""
    directives = {d.strip() for d in answer.headers.get("Cache-Control", "").split(",")}
    vary = {name.strip() for name in answer.headers.get("Vary", "").split(",")}
    return {"private", "no-store"} <= directives and "Cookie" in vary


@pytest.mark.parametrize("mount", ["", "/intranet"])
def test_a_signed_out_reader_gets_the_forbidden_view_to_login_and_back(
    pyramid_app, serve, mount, store_calls
):
    site = Site(
        Example(pyramid_app.application, pyramid_app.application, framework="pyramid"), serve, mount
    )
    try:
        refused = site.get("/internal/guide/intro.html?lang=en")
        assert refused.status_code == 302
        target = f"{mount}/internal/guide/intro.html?lang=en"
        login = site.base + f"{mount}/login?" + urlencode({"next": target})
        assert refused.headers["Location"] == login
        assert private(refused), refused.headers
        assert store_calls == []
        form = site.http.get(refused.headers["Location"], timeout=10)
        assert f'name="next" value="{target}"' in form.text
        signed_in = site.http.post(
            site.url("/login"),
            data={"username": "ada", "password": "lovelace", "next": target},
            allow_redirects=False,
            timeout=10,
        )
        assert signed_in.headers["Location"] == site.base + target
        back = site.http.get(signed_in.headers["Location"], timeout=10)
        assert back.content == DOCS["guide/intro.html"][0]
    finally:
        site.restore()


class Root:
    """The app's root, the context of a request before traversal."""

    def __init__(self, request):
        self.request = request


class HeaderPolicy:
    """Who asks is the X-User header; ada may read the docs, at the root."""

    def identity(self, request):
        return request.headers.get("X-User")

    def authenticated_userid(self, request):
        return self.identity(request)

    def permits(self, request, context, permission):
        from pyramid.security import Allowed, Denied

        if isinstance(context, Root) and self.identity(request) == "ada":
            return Allowed("ada reads")
        return Denied("not ada")

    def remember(self, request, userid, **kw):
        return []

    def forget(self, request, **kw):
        return []


def may_read(request):
    return request.has_permission("read-docs")


def teapot(request):
    return Response("ask the kettle", status=418)


def broken(request):
    raise RuntimeError("the session store is down")


def exception_app(docs_env, s3_endpoint, authorize, *views):
    """An app whose root is a Root, its security policy HeaderPolicy, and
    ``views`` (exception, view) its exception views."""
    with Configurator(
        settings={
            "s3wsgi.bucket": docs_env,
            "s3wsgi.endpoint_url": s3_endpoint,
            "s3wsgi.authorize": authorize,
        },
        root_factory=Root,
    ) as config:
        config.set_security_policy(HeaderPolicy())
        config.include("s3wsgi.pyramid")
        for context, view in views:
            config.add_exception_view(view, context=context)
        return config.make_wsgi_app()


def test_authorize_may_ask_has_permission_of_the_root(docs_env, s3_endpoint, serve):
    base = serve(exception_app(docs_env, s3_endpoint, may_read))
    allowed = requests.get(f"{base}/docs/style.css", headers={"X-User": "ada"}, timeout=10)
    assert allowed.content == DOCS["style.css"][0]
    refused = requests.get(f"{base}/docs/style.css", headers={"X-User": "bob"}, timeout=10)
    assert refused.status_code == 403


def test_authorize_may_answer_with_a_pyramid_response_made_private(docs_env, s3_endpoint, serve):
    base = serve(exception_app(docs_env, s3_endpoint, teapot))
    answer = requests.get(f"{base}/docs/style.css", timeout=10)
    assert (answer.status_code, answer.text) == (418, "ask the kettle")
    assert private(answer), answer.headers


def test_an_exception_in_authorize_reaches_the_apps_exception_view(docs_env, s3_endpoint, serve):
    def server_error(request):
        return Response(f"the app's own page: {type(request.exception).__name__}", status=500)

    base = serve(exception_app(docs_env, s3_endpoint, broken, (RuntimeError, server_error)))
    answer = requests.get(f"{base}/docs/style.css", timeout=10)
    assert (answer.status_code, answer.text) == (500, "the app's own page: RuntimeError")
    assert private(answer), answer.headers
    # With no exception view for it: the core's own 500, nothing of the error.
    bare = requests.get(f"{serve(exception_app(docs_env, s3_endpoint, broken))}/docs/", timeout=10)
    assert bare.status_code == 500
    assert "session store" not in bare.text


def test_the_tween_sits_under_the_exception_view_wherever_the_app_adds_its_own(docs_env):
    from pyramid.interfaces import ITweens
    from pyramid.tweens import EXCVIEW

    ours = "s3wsgi.integrations.pyramid.tween_factory"
    for how in ("include first", "include last", "pyramid.includes"):
        settings = {"s3wsgi.bucket": docs_env}
        if how == "pyramid.includes":
            settings["pyramid.includes"] = "s3wsgi.pyramid"
        with Configurator(settings=settings) as config:
            if how == "include first":
                config.include("s3wsgi.pyramid")
            config.add_tween(f"{__name__}.app_tween_factory")
            if how == "include last":
                config.include("s3wsgi.pyramid")
            app = config.make_wsgi_app()
        names = [name for name, _ in app.registry.queryUtility(ITweens).implicit()]
        # Listed from the top (the ingress) down to the app's views.
        assert names.index(EXCVIEW) < names.index(ours), names
        assert names.index(f"{__name__}.app_tween_factory") < names.index(EXCVIEW), names


def app_tween_factory(handler, registry):
    return handler

"""PasteDeploy: ``use = egg:s3wsgi`` as an app and as a filter, from .ini
files, served over real HTTP against moto's S3 server."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import requests
from paste.deploy import loadapp, loadfilter
from sample_site import SITE, host_app

from s3wsgi import S3App, S3Middleware

EXAMPLE_INI = Path(__file__).resolve().parent.parent / "examples" / "standalone.ini"


@pytest.fixture
def write_ini(tmp_path):
    """``write_ini(text)`` -> the ``config:`` URI of an .ini file holding it."""

    def write(text: str) -> str:
        path = tmp_path / "site.ini"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return f"config:{path}"

    return write


def test_app_form_serves_the_bucket_with_options_converted(bucket, s3_endpoint, serve, write_ini):
    uri = write_ini(
        f"""
        [app:main]
        use = egg:s3wsgi
        bucket = {bucket}
        endpoint_url = {s3_endpoint}
        cache_control = max-age=60
        headers =
            Content-Security-Policy: sandbox
            X-Frame-Options: DENY
        read_timeout = 7.5
        max_attempts = 2
        """
    )
    app = loadapp(uri)
    assert isinstance(app, S3App)
    assert app.headers == [("Content-Security-Policy", "sandbox"), ("X-Frame-Options", "DENY")]
    url = serve(app)

    home = requests.get(f"{url}/", timeout=10)
    assert home.status_code == 200
    assert home.content == SITE["index.html"][0]
    assert home.headers["Cache-Control"] == "max-age=60"
    assert home.headers["Content-Security-Policy"] == "sandbox"
    assert home.headers["X-Frame-Options"] == "DENY"
    assert requests.get(f"{url}/guide", allow_redirects=False, timeout=10).status_code == 301
    assert requests.get(f"{url}/nothing.html", timeout=10).status_code == 404


def test_filter_form_wraps_an_app_and_falls_through(bucket, s3_endpoint, serve, write_ini):
    uri = write_ini(
        f"""
        [filter:docs]
        use = egg:s3wsgi
        bucket = {bucket}
        endpoint_url = {s3_endpoint}
        prefix = /manual
        key_prefix = guide
        fallthrough = on
        """
    )
    app = loadfilter(uri, name="docs")(host_app)
    assert isinstance(app, S3Middleware)
    assert app.fallthrough is True
    url = serve(app)

    intro = requests.get(f"{url}/manual/intro.html", timeout=10)
    assert intro.status_code == 200
    assert intro.content == SITE["guide/intro.html"][0]
    assert requests.get(f"{url}/manual/", timeout=10).content == SITE["guide/index.html"][0]
    # A missing key goes on to the wrapped app, as does everything else.
    missing = requests.get(f"{url}/manual/missing.html", timeout=10)
    assert missing.text == "host app: GET /manual/missing.html"
    assert requests.get(f"{url}/elsewhere", timeout=10).text == "host app: GET /elsewhere"


def test_authorize_is_imported_from_the_ini(
    bucket, s3_endpoint, serve, write_ini, tmp_path, monkeypatch
):
    (tmp_path / "intranet_auth.py").write_text(
        "def allowed(environ):\n    return environ.get('HTTP_X_TOKEN') == 'letmein'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    uri = write_ini(
        f"""
        [app:main]
        use = egg:s3wsgi
        bucket = {bucket}
        endpoint_url = {s3_endpoint}
        authorize = intranet_auth:allowed
        """
    )
    url = serve(loadapp(uri))
    assert requests.get(f"{url}/style.css", timeout=10).status_code == 403
    allowed = requests.get(f"{url}/style.css", headers={"X-Token": "letmein"}, timeout=10)
    assert allowed.status_code == 200
    assert allowed.content == SITE["style.css"][0]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("fallthrough = maybe", "fallthrough: 'maybe' is not a boolean"),
        ("read_timeout = soon", "read_timeout: 'soon' is not a number"),
        ("max_attempts = 2.5", "max_attempts: '2.5' is not a whole number"),
        ("bukket = docs", "bukket: unknown option"),
        ("headers = no colon", "headers: 'no colon' is not a 'Name: value' header line"),
        ("authorize = no_such_module_s3wsgi:f", "authorize: cannot import module"),
    ],
)
def test_a_bad_value_in_the_ini_is_a_clear_error(write_ini, line, message):
    uri = write_ini(
        f"""
        [app:main]
        use = egg:s3wsgi
        bucket = docs
        {line}
        """
    )
    with pytest.raises(ValueError) as raised:
        loadapp(uri)
    assert str(raised.value).startswith(message)


def test_the_standalone_example_loads_both_ways(bucket, s3_endpoint, serve, tmp_path):
    # The example as shipped, pointed at the test bucket on moto's server.
    text = EXAMPLE_INI.read_text(encoding="utf-8").replace(
        "bucket = kestrel-docs", f"bucket = {bucket}\nendpoint_url = {s3_endpoint}"
    )
    assert text.count(s3_endpoint) == 3
    ini = tmp_path / "standalone.ini"
    ini.write_text(text, encoding="utf-8")

    main = serve(loadapp(f"config:{ini}"))
    home = requests.get(f"{main}/", timeout=10)
    assert home.content == SITE["index.html"][0]
    assert home.headers["Cache-Control"] == "public, max-age=300"
    assert home.headers["Referrer-Policy"] == "same-origin"

    intranet_app = loadapp(f"config:{ini}", name="intranet")
    assert isinstance(intranet_app, S3Middleware) and isinstance(intranet_app.app, S3App)
    intranet = serve(intranet_app)
    docs = requests.get(f"{intranet}/docs/", timeout=10)
    assert docs.content == SITE["guide/index.html"][0]
    # Not in the docs folder: on to the app behind the filter, which has none either.
    assert requests.get(f"{intranet}/docs/nothing.html", timeout=10).status_code == 404

"""Behind an authorize hook no answer may be stored by a shared cache (a CDN,
a corporate proxy): RFC 9111 §5.2.2.7 ``private``, and a Vary on what the
hook reads. Over real HTTP, both stores."""

from __future__ import annotations

import pytest
import requests

COOKIE = {"Cookie": "session=alice"}


def signed_in(environ) -> bool:
    return "session=alice" in environ.get("HTTP_COOKIE", "")


@pytest.fixture
def public_object(s3_client, bucket):
    s3_client.put_object(
        Bucket=bucket,
        Key="guide/shared.html",
        Body=b"<p>shared</p>",
        ContentType="text/html",
        CacheControl="public, max-age=3600, s-maxage=600, must-revalidate",
    )
    return "/docs/guide/shared.html"


def directives(answer) -> list[str]:
    return [d.strip() for d in answer.headers.get("Cache-Control", "").split(",") if d.strip()]


def assert_private(answer) -> None:
    found = directives(answer)
    assert "private" in found, answer.headers
    assert "public" not in found and not any(d.startswith("s-maxage") for d in found)
    assert answer.headers["Vary"] == "Cookie, Authorization"


def test_every_answer_behind_authorize_is_private(make_middleware, serve, public_object):
    url = serve(make_middleware(authorize=signed_in))
    page = requests.get(url + public_object, headers=COOKIE, timeout=10)
    assert page.status_code == 200
    assert_private(page)
    # The object's own directives are kept, but for what shared caches read.
    assert directives(page) == ["private", "max-age=3600", "must-revalidate"]

    head = requests.head(url + public_object, headers=COOKIE, timeout=10)
    assert_private(head)
    part = requests.get(url + public_object, headers={**COOKIE, "Range": "bytes=0-2"}, timeout=10)
    assert part.status_code == 206
    assert_private(part)
    again = requests.get(
        url + public_object, headers={**COOKIE, "If-None-Match": page.headers["ETag"]}, timeout=10
    )
    assert again.status_code == 304
    assert_private(again)
    for path, status in (("/docs/nope.html", 404), ("/docs/guide", 301), ("/docs", 301)):
        answer = requests.get(url + path, headers=COOKIE, allow_redirects=False, timeout=10)
        assert answer.status_code == status
        assert_private(answer)
    refused = requests.get(url + public_object, timeout=10)
    assert refused.status_code == 403
    assert_private(refused)
    # The host app's own answers are its business.
    assert "Vary" not in requests.get(url + "/", timeout=10).headers


def test_the_vary_names_what_the_hook_reads(make_middleware, serve, public_object):
    url = serve(make_middleware(authorize=signed_in, authorize_vary="Cookie"))
    page = requests.get(url + public_object, headers=COOKIE, timeout=10)
    assert page.headers["Vary"] == "Cookie"


def test_a_site_that_knows_what_it_does_may_opt_out(make_middleware, serve, public_object):
    url = serve(make_middleware(authorize=signed_in, cache_scope="public"))
    page = requests.get(url + public_object, headers=COOKIE, timeout=10)
    assert page.headers["Cache-Control"] == "public, max-age=3600, s-maxage=600, must-revalidate"
    assert "Vary" not in page.headers


def test_without_authorize_answers_keep_their_cache_control(make_middleware, serve, public_object):
    url = serve(make_middleware())
    page = requests.get(url + public_object, timeout=10)
    assert page.headers["Cache-Control"] == "public, max-age=3600, s-maxage=600, must-revalidate"
    private = serve(make_middleware(cache_scope="private"))
    assert_private(requests.get(private + public_object, timeout=10))

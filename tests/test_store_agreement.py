"""The same S3 answer gives the same client answer on every store: each
test runs on both stores, against moto's S3 server over real HTTP."""

from __future__ import annotations

import logging

import pytest
import requests
from wsgi_call import make_environ

BIG = bytes(range(256)) * 4096 * 4  # 4 MiB: more than the sockets on its way hold


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_an_object_with_a_website_redirect_and_a_body_is_redirected(
    serve, make_middleware, s3_client, bucket, method
):
    # S3's website endpoint redirects such an object whatever its body.
    s3_client.put_object(
        Bucket=bucket, Key="old.html", Body=b"<p>moved</p>", WebsiteRedirectLocation="/guide/"
    )
    url = serve(make_middleware())
    for _ in range(2):  # the second time as the first
        answer = requests.request(method, f"{url}/docs/old.html", allow_redirects=False, timeout=10)
        assert answer.status_code == 301
        assert answer.headers["Location"] == "/docs/guide/"
    assert requests.get(f"{url}/docs/digits.txt", timeout=10).content == b"0123456789"


def test_a_rewritten_object_loses_its_website_redirect(serve, make_middleware, s3_client, bucket):
    s3_client.put_object(
        Bucket=bucket, Key="old.html", Body=b"<p>a</p>", WebsiteRedirectLocation="/"
    )
    url = serve(make_middleware())
    first = requests.get(f"{url}/docs/old.html", allow_redirects=False, timeout=10)
    assert first.status_code == 301
    s3_client.put_object(Bucket=bucket, Key="old.html", Body=b"<p>b</p>")
    again = requests.get(f"{url}/docs/old.html", allow_redirects=False, timeout=10)
    assert (again.status_code, again.content) == (200, b"<p>b</p>")


def test_closing_a_body_after_its_first_chunk_releases_its_s3_connection(
    make_middleware, proxy, s3_client, bucket
):
    """PEP 3333: the server calls close() on the answer when it stops
    sending, whether or not it read it to its end, and may keep its iterator
    a while longer: close() must end the S3 connection then and there."""
    s3_client.put_object(Bucket=bucket, Key="big.bin", Body=BIG)
    app = make_middleware(endpoint_url=proxy.url, chunk_size=64 * 1024)

    def start_response(status, headers, exc_info=None):
        assert status.startswith("200")

    whole = app(make_environ("/docs/big.bin"), start_response)
    assert b"".join(whole) == BIG
    whole.close()
    # From here each answer is still coming (64 KiB every 50 ms) when closed;
    # the connections left from the whole read are dropped.
    proxy.set("throttle", delay=0.05)
    answer = app(make_environ("/docs/big.bin"), start_response)
    chunks = iter(answer)
    assert len(next(chunks)) >= 64 * 1024
    assert proxy.open_connections == 1  # the body's, still reading
    answer.close()
    assert proxy.wait_idle(2), "the body's S3 connection is still open"
    assert chunks is not None and answer is not None  # both alive until here


def test_a_stored_header_that_is_not_ascii_is_left_out_on_both_stores(
    make_middleware, serve, s3_client, bucket, caplog
):
    """boto3 would pass the stored bytes on as they are, obstore refuses the
    whole answer: both serve the object without the header, said once."""
    s3_client.put_object(
        Bucket=bucket,
        Key="report.txt",
        Body=b"figures",
        ContentType="text/plain",
        ContentDisposition='attachment; filename="caf\u00e9.txt"',
    )
    url = serve(make_middleware(breaker_failures=1))
    for method in ("GET", "HEAD"):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="s3wsgi"):
            answer = requests.request(method, f"{url}/docs/report.txt", timeout=10)
        assert answer.status_code == 200
        assert "Content-Disposition" not in answer.headers
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert warnings == [
            "report.txt: its content-disposition from S3 is not visible ASCII; served without it"
        ]

"""S3 faults over real sockets: what a client of the middleware gets when S3 is
slow, unreachable, resets, stalls, cuts an answer short, or answers an error.

Every test goes client -> waitress -> middleware -> a fault proxy or a canned
S3 server -> moto's S3 server, all on loopback (docs/errors.rst).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import time
from urllib.parse import urlsplit

import pytest
from faultproxy import CannedS3, FaultProxy

from s3wsgi.stores.base import CONFIGURATION_CODES

# Small timeouts keep each fault short; the bounds below follow from them.
CONNECT_TIMEOUT = 0.5
READ_TIMEOUT = 1.0
MAX_ATTEMPTS = 2
# Worst case of one S3 call: every attempt times out, plus the standard retry
# mode's backoff before the second attempt (under a second), plus slack for
# a busy machine.
WORST_CASE = MAX_ATTEMPTS * (CONNECT_TIMEOUT + READ_TIMEOUT) + 1.0 + 2.0

BIG = os.urandom(2 * 1024 * 1024)
BIG_SHA256 = hashlib.sha256(BIG).hexdigest()


class Fetched:
    """One answer as a client saw it: a short read is kept, not raised."""

    def __init__(self, status, headers, body, incomplete, elapsed):
        self.status = status
        self.headers = headers
        self.body = body
        self.incomplete = incomplete
        self.elapsed = elapsed


def fetch(base_url: str, path: str, method: str = "GET", headers=None) -> Fetched:
    parts = urlsplit(base_url)
    started = time.monotonic()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        incomplete = False
        try:
            body = response.read()
        except http.client.IncompleteRead as error:
            body, incomplete = error.partial, True
        return Fetched(
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            body,
            incomplete,
            time.monotonic() - started,
        )
    finally:
        connection.close()


def assert_clean_error(answer: Fetched, status: int, bucket: str) -> None:
    """A short error naming only its status: nothing of S3, the bucket or Python."""
    assert answer.status == status, answer.body
    assert not answer.incomplete
    assert len(answer.body) < 64
    assert answer.body.decode().startswith(str(status))
    text = answer.body.decode().lower()
    for leak in (bucket, "traceback", "error:", "exception", "botocore", "endpoint", "127.0.0.1"):
        assert leak.lower() not in text
    assert CannedS3.request_id.lower() not in text
    assert not any(name.startswith("x-amz-") for name in answer.headers)


def s3_log(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name == "s3wsgi")


@pytest.fixture
def big_bucket(bucket, s3_client):
    s3_client.put_object(Bucket=bucket, Key="big.bin", Body=BIG, ContentType="image/png")
    return bucket


@pytest.fixture
def via_proxy(make_middleware, big_bucket, proxy, serve):
    """Base URL of the middleware, reaching moto's server through the proxy."""
    return serve(
        make_middleware(
            endpoint_url=proxy.url,
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            max_attempts=MAX_ATTEMPTS,
        )
    )


def assert_serves_again_at_once(url: str, proxy: FaultProxy) -> None:
    proxy.set("pass")
    small = fetch(url, "/docs/digits.txt")
    assert (small.status, small.body) == (200, b"0123456789")
    assert small.elapsed < 1.5
    big = fetch(url, "/docs/big.bin")
    assert big.status == 200 and not big.incomplete
    assert hashlib.sha256(big.body).hexdigest() == BIG_SHA256


def test_pass_through_proxy_serves_objects_whole(via_proxy, proxy):
    assert_serves_again_at_once(via_proxy, proxy)
    assert proxy.accepted >= 1


def test_latency_under_the_read_timeout_only_slows_the_answer(via_proxy, proxy):
    proxy.set("latency", delay=0.3)
    answer = fetch(via_proxy, "/docs/big.bin")
    assert answer.status == 200 and not answer.incomplete
    assert hashlib.sha256(answer.body).hexdigest() == BIG_SHA256
    assert 0.3 <= answer.elapsed < WORST_CASE
    assert_serves_again_at_once(via_proxy, proxy)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_refused_connections_answer_502_without_waiting_for_timeouts(
    via_proxy, proxy, big_bucket, method, caplog
):
    caplog.set_level(logging.ERROR, logger="s3wsgi")
    proxy.set("refuse")
    answer = fetch(via_proxy, "/docs/digits.txt", method)
    if method == "HEAD":
        assert answer.status == 502 and answer.body == b""
    else:
        assert_clean_error(answer, 502, big_bucket)
    assert answer.elapsed < WORST_CASE
    assert big_bucket in s3_log(caplog)
    assert_serves_again_at_once(via_proxy, proxy)


def test_connections_reset_on_accept_answer_502(via_proxy, proxy, big_bucket, caplog):
    caplog.set_level(logging.ERROR, logger="s3wsgi")
    proxy.set("reset")
    answer = fetch(via_proxy, "/docs/guide/intro.html")
    assert_clean_error(answer, 502, big_bucket)
    assert answer.elapsed < WORST_CASE
    assert proxy.accepted >= MAX_ATTEMPTS  # every attempt was made, and reset
    assert "guide/intro.html" in s3_log(caplog)
    assert_serves_again_at_once(via_proxy, proxy)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_s3_that_never_answers_gives_504_within_the_timeouts(
    via_proxy, proxy, big_bucket, method, caplog
):
    caplog.set_level(logging.ERROR, logger="s3wsgi")
    proxy.set("stall")
    answer = fetch(via_proxy, "/docs/big.bin", method)
    if method == "HEAD":
        assert answer.status == 504 and answer.body == b""
    else:
        assert_clean_error(answer, 504, big_bucket)
    # Each attempt waits out the read timeout, and no longer.
    assert MAX_ATTEMPTS * READ_TIMEOUT <= answer.elapsed < WORST_CASE
    assert "big.bin" in s3_log(caplog)
    assert_serves_again_at_once(via_proxy, proxy)


def test_an_answer_cut_after_its_headers_answers_502_not_500(via_proxy, proxy, big_bucket):
    proxy.set("cut", after=0)
    answer = fetch(via_proxy, "/docs/big.bin")
    assert_clean_error(answer, 502, big_bucket)
    assert proxy.faults >= 1
    assert_serves_again_at_once(via_proxy, proxy)


def test_an_answer_stalled_after_its_headers_answers_504(via_proxy, proxy, big_bucket):
    proxy.set("stall", after=0)
    answer = fetch(via_proxy, "/docs/big.bin")
    assert_clean_error(answer, 504, big_bucket)
    assert answer.elapsed < WORST_CASE
    assert_serves_again_at_once(via_proxy, proxy)


def test_an_answer_cut_mid_body_aborts_the_connection(via_proxy, proxy):
    proxy.set("cut", after=600_000)
    answer = fetch(via_proxy, "/docs/big.bin")
    # The status line went out with the first bytes: the only honest signal
    # left is a connection closed before Content-Length bytes.
    assert answer.status == 200
    assert answer.headers["content-length"] == str(len(BIG))
    assert answer.incomplete
    assert len(answer.body) < len(BIG)
    assert answer.body == BIG[: len(answer.body)]
    assert answer.elapsed < WORST_CASE
    assert_serves_again_at_once(via_proxy, proxy)


def test_an_answer_stalled_mid_body_is_aborted_after_the_read_timeout(via_proxy, proxy):
    proxy.set("stall", after=600_000)
    answer = fetch(via_proxy, "/docs/big.bin")
    assert answer.status == 200
    assert answer.incomplete
    assert len(answer.body) < len(BIG)
    assert READ_TIMEOUT <= answer.elapsed < READ_TIMEOUT + 3.0
    assert_serves_again_at_once(via_proxy, proxy)


def test_a_range_cut_mid_body_aborts_the_206(via_proxy, proxy):
    proxy.set("cut", after=300_000)
    answer = fetch(via_proxy, "/docs/big.bin", headers={"Range": "bytes=1000-"})
    assert answer.status == 206
    assert answer.incomplete
    assert answer.body == BIG[1000 : 1000 + len(answer.body)]
    assert_serves_again_at_once(via_proxy, proxy)


def test_a_download_in_flight_when_s3_resets_is_aborted_not_shortened(via_proxy, proxy):
    proxy.set("throttle", delay=0.02)  # about 3 MiB/s: the download is still going on
    parts = urlsplit(via_proxy)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", "/docs/big.bin")
        response = connection.getresponse()
        first = response.read(64 * 1024)
        proxy.set("refuse")  # resets every open S3 connection
        with pytest.raises(http.client.IncompleteRead) as aborted:
            response.read()
    finally:
        connection.close()
    body = first + aborted.value.partial
    assert len(body) < len(BIG)
    assert body == BIG[: len(body)]
    assert_serves_again_at_once(via_proxy, proxy)


def test_latency_past_the_read_timeout_answers_504(via_proxy, proxy, big_bucket):
    proxy.set("latency", delay=READ_TIMEOUT + 0.5)
    answer = fetch(via_proxy, "/docs/digits.txt")
    assert_clean_error(answer, 504, big_bucket)
    assert answer.elapsed < WORST_CASE
    assert_serves_again_at_once(via_proxy, proxy)


# S3's own error answers (docs/errors.rst), from moto where it can say them and
# from a canned server where it cannot.


def test_a_missing_bucket_answers_502_and_logs_it(make_middleware, serve, caplog):
    caplog.set_level(logging.ERROR, logger="s3wsgi")
    url = serve(make_middleware(bucket="no-such-bucket-s3wsgi", max_attempts=1))
    answer = fetch(url, "/docs/index.html")
    assert_clean_error(answer, 502, "no-such-bucket-s3wsgi")
    log_text = s3_log(caplog)
    assert "no-such-bucket-s3wsgi" in log_text
    assert "NoSuchBucket" in log_text


@pytest.fixture
def canned():
    with CannedS3() as server:
        yield server


@pytest.fixture
def via_canned(make_middleware, canned, serve):
    return serve(
        make_middleware(
            endpoint_url=canned.url,
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            max_attempts=MAX_ATTEMPTS,
        )
    )


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (500, "InternalError", 502),
        (403, "InvalidAccessKeyId", 502),
        (403, "SignatureDoesNotMatch", 502),
        (400, "ExpiredToken", 502),
        (400, "InvalidToken", 502),
        (301, "PermanentRedirect", 502),
        (503, "SlowDown", 503),
        (503, "ServiceUnavailable", 503),
        (403, "AccessDenied", 404),
        (404, "NoSuchKey", 404),
    ],
)
def test_s3_error_answers_are_mapped_and_logged(
    via_canned, canned, bucket, status, code, expected, caplog
):
    caplog.set_level(logging.ERROR, logger="s3wsgi")
    canned.status, canned.code = status, code
    if code == "PermanentRedirect":
        # The bucket lives in another region: botocore follows once, then gives up.
        canned.headers["x-amz-bucket-region"] = "eu-west-1"
    answer = fetch(via_canned, "/docs/guide/intro.html")
    assert_clean_error(answer, expected, bucket)
    if expected == 503:
        assert answer.headers["retry-after"].isdigit()
    else:
        assert "retry-after" not in answer.headers
    if expected >= 500:
        log_text = s3_log(caplog)
        # A store may word a redirect its own way; the other codes are S3's words.
        assert code in log_text or (code == "PermanentRedirect" and "redirect" in log_text)
        assert bucket in log_text
        if code in CONFIGURATION_CODES:
            # Said once, with what to set, whichever S3 request met it first;
            # not again for the next request.
            assert "advice=" in log_text
            caplog.clear()
            assert fetch(via_canned, "/docs/guide/intro.html").status == expected
            assert s3_log(caplog) == ""
            return
        assert "guide/intro.html" in log_text
        if code != "PermanentRedirect":
            # A redirect's body is not read by every store: no request id then.
            assert canned.request_id in log_text


@pytest.mark.parametrize(("status", "code"), [(503, "SlowDown"), (500, "InternalError")])
def test_throttling_and_internal_errors_are_retried_before_answering(
    via_canned, canned, status, code
):
    canned.status, canned.code = status, code
    answer = fetch(via_canned, "/docs/digits.txt")
    assert answer.status in (502, 503)
    # Each tried MAX_ATTEMPTS times: the publish manifest (a process's first
    # request reads it), then the object.
    assert canned.requests == 2 * MAX_ATTEMPTS


def test_slow_down_after_retries_answers_503_with_retry_after_to_head_too(via_canned, canned):
    canned.status, canned.code = 503, "SlowDown"
    answer = fetch(via_canned, "/docs/digits.txt", "HEAD")
    assert answer.status == 503
    assert answer.headers["retry-after"].isdigit()
    assert answer.body == b""


# Control characters of bucket and S3 text never reach a log line raw.

CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def test_fault_lines_escape_the_control_characters_of_a_key(store_kind, s3_endpoint, proxy, caplog):
    # A key the middleware would refuse in a path, but one a bucket may
    # hold and a program may ask for through the store.
    from s3wsgi.stores.base import Connection, ObjectRequest, UpstreamError
    from s3wsgi.stores.factory import make_store
    from s3wsgi.stores.resilient import Policy

    caplog.set_level(logging.DEBUG, logger="s3wsgi")
    connection = Connection(
        endpoint_url=proxy.url, region_name="us-east-1", connect_timeout=0.5, read_timeout=1.0
    )
    store = make_store("any-bucket", connection, Policy(max_attempts=2), store=store_kind).top
    proxy.set("reset")
    with pytest.raises(UpstreamError):
        store.get(ObjectRequest("a\x1b[31mb\u202ec\nd\\x1b"))
    lines = [r.getMessage() for r in caplog.records if "S3 GetObject" in r.getMessage()]
    assert lines
    for line in lines:
        assert not CONTROLS.search(line), line
        # As Python writes it; a backslash doubled, so a key that spells an
        # escape is not mistaken for one.
        assert "a\\x1b[31mb\\u202ec\\nd\\\\x1b" in line


class TalkativeS3(CannedS3):
    """A canned S3 whose error message holds control characters XML allows."""

    def body(self) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code>"
            "<Message>red\u009b31m \u202eevil\u0085line</Message>"
            f"<RequestId>{self.request_id}</RequestId></Error>"
        ).encode()


def test_fault_lines_escape_the_control_characters_of_s3s_message(make_middleware, serve, caplog):
    caplog.set_level(logging.ERROR, logger="s3wsgi")
    with TalkativeS3(500, "InternalError") as s3:
        url = serve(make_middleware(endpoint_url=s3.url, max_attempts=1))
        assert fetch(url, "/docs/digits.txt").status == 502
    lines = s3_log(caplog).splitlines()
    assert lines
    for line in lines:
        assert not CONTROLS.search(line), line
    # (NEL is a line break: one space, as every run of whitespace.)
    assert "red\\x9b31m \\u202eevil line" in s3_log(caplog)

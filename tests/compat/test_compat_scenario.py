"""One real-HTTP scenario through s3wsgi, against every server of the matrix
and with both stores: each cell must give the client RFC 9110's answer,
whatever the S3 server behind it gets wrong (its deviations are recorded in
test_server_deviations.py, and docs/compatibility.rst says what s3wsgi does
about each).
"""

from __future__ import annotations

import hashlib
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests
from compat_site import CACHE_CONTROL, DATA, LARGE, LONG_AGO, SITE

TIMEOUT = 30


def get(site: str, path: str, **headers: str) -> requests.Response:
    return requests.get(site + path, headers=headers, timeout=TIMEOUT, allow_redirects=False)


def raw_head(site: str, path: str) -> tuple[str, dict[str, str], bytes]:
    """HEAD over a socket: the status line, the headers, and every byte the
    server sent after them (none, for a HEAD)."""
    address = urlsplit(site)
    request = f"HEAD {path} HTTP/1.1\r\nHost: {address.netloc}\r\nConnection: close\r\n\r\n"
    with socket.create_connection((address.hostname, address.port), timeout=TIMEOUT) as sock:
        sock.sendall(request.encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


def check_partial(answer: requests.Response, first: int, last: int, whole: bytes = DATA) -> None:
    """RFC 9110 §14.2 and §15.3.7: a 200 to a Range request carries the
    whole object; a 206 carries exactly the span its Content-Range names."""
    size = len(whole)
    if answer.status_code == 200:
        assert answer.content == whole, (
            f"200 to a Range request with a partial body: {len(answer.content)} of {size} bytes"
            f" (Content-Range {answer.headers.get('Content-Range')!r})"
        )
    assert answer.status_code == 206, f"{answer.status_code}, not 206, to bytes {first}-{last}"
    assert answer.headers.get("Content-Range") == f"bytes {first}-{last}/{size}"
    assert int(answer.headers["Content-Length"]) == last - first + 1
    assert answer.content == whole[first : last + 1]


def check_not_modified(answer: requests.Response, etag: str) -> None:
    """RFC 9110 §15.4.5: no body, and the ETag and Cache-Control of the 200."""
    assert answer.status_code == 304
    assert answer.content == b""
    assert answer.headers.get("ETag") == etag, "a 304 must carry the ETag"
    assert answer.headers.get("Cache-Control") == CACHE_CONTROL, (
        "a 304 must carry the Cache-Control of the 200"
    )


def check_whole(answer: requests.Response, key: str) -> None:
    body = SITE[key][0]
    assert answer.status_code == 200
    assert int(answer.headers["Content-Length"]) == len(body)
    assert answer.content == body


@pytest.fixture
def data_200(site) -> requests.Response:
    """The 200 a client keeps, and revalidates with its validators."""
    answer = get(site, "/docs/data.bin")
    check_whole(answer, "data.bin")
    assert answer.headers.get("ETag")
    assert answer.headers.get("Last-Modified")
    return answer


# Folders and keys.


def test_folder_path_serves_the_index_document(site):
    answer = get(site, "/docs/")
    check_whole(answer, "index.html")
    assert answer.headers["Content-Type"].startswith("text/html")


def test_subfolder_path_serves_its_index_document(site):
    check_whole(get(site, "/docs/guide/"), "guide/index.html")


def test_folder_without_its_slash_redirects_to_it(site):
    answer = get(site, "/docs/guide")
    assert answer.status_code == 301
    assert urlsplit(answer.headers["Location"]).path == "/docs/guide/"


def test_missing_key_is_404(site):
    assert get(site, "/docs/missing.html").status_code == 404


def test_unicode_key_is_served(site):
    answer = get(site, "/docs/caf%C3%A9/menu.html")
    check_whole(answer, "caf\u00e9/menu.html")
    assert answer.text == "<p>caf\u00e9 \u2615</p>"


def test_object_carries_its_cache_control(site):
    answer = get(site, "/docs/guide/intro.html")
    check_whole(answer, "guide/intro.html")
    assert answer.headers.get("Cache-Control") == CACHE_CONTROL


def test_head_has_the_headers_of_get_and_no_body(site, data_200):
    status, headers, after = raw_head(site, "/docs/data.bin")
    assert status.startswith("HTTP/1.1 200 ")
    assert after == b""
    expected = {name.lower(): value for name, value in data_200.headers.items()}
    for answer in (headers, expected):
        answer.pop("date", None)
        answer.pop("connection", None)
    assert headers == expected


# Ranges (RFC 9110 §14).

RANGES = {
    "first": ("bytes=0-99", 0, 99),
    "middle": ("bytes=1000-1999", 1000, 1999),
    "suffix": ("bytes=-100", len(DATA) - 100, len(DATA) - 1),
    "open": ("bytes=100-", 100, len(DATA) - 1),
}


@pytest.mark.parametrize("which", list(RANGES))
def test_range_is_answered_with_exactly_that_span(site, which):
    value, first, last = RANGES[which]
    check_partial(get(site, "/docs/data.bin", Range=value), first, last)


def test_unsatisfiable_range_is_416_with_the_size(site):
    answer = get(site, "/docs/data.bin", Range=f"bytes={len(DATA)}-")
    assert answer.status_code == 416
    assert answer.headers.get("Content-Range") == f"bytes */{len(DATA)}"


# Conditional requests (RFC 9110 §13).


def test_current_etag_in_if_none_match_is_304(site, data_200):
    etag = data_200.headers["ETag"]
    check_not_modified(get(site, "/docs/data.bin", **{"If-None-Match": etag}), etag)


def test_last_modified_in_if_modified_since_is_304(site, data_200):
    since = data_200.headers["Last-Modified"]
    answer = get(site, "/docs/data.bin", **{"If-Modified-Since": since})
    check_not_modified(answer, data_200.headers["ETag"])


def test_if_match_with_a_wrong_tag_is_412(site, data_200):
    answer = get(site, "/docs/data.bin", **{"If-Match": '"not-the-etag"'})
    assert answer.status_code == 412


def test_if_unmodified_since_long_ago_is_412(site, data_200):
    answer = get(site, "/docs/data.bin", **{"If-Unmodified-Since": LONG_AGO})
    assert answer.status_code == 412


def test_if_match_with_the_current_tag_is_200(site, data_200):
    etag = data_200.headers["ETag"]
    answer = get(site, "/docs/data.bin", **{"If-Match": etag})
    check_whole(answer, "data.bin")
    assert answer.headers["ETag"] == etag


# A large object.

LARGE_SHA256 = hashlib.sha256(LARGE).hexdigest()


def download_large(site: str) -> tuple[int, int, str]:
    with requests.get(site + "/docs/large.bin", stream=True, timeout=TIMEOUT) as answer:
        digest = hashlib.sha256()
        received = 0
        for chunk in answer.iter_content(256 * 1024):
            digest.update(chunk)
            received += len(chunk)
        return answer.status_code, received, digest.hexdigest()


def test_large_object_is_read_whole(site):
    assert download_large(site) == (200, len(LARGE), LARGE_SHA256)


def download_large_when_free(site: str) -> tuple[int, int, str]:
    """As a download manager does: a 503 with Retry-After means "come back
    then", not failure (RFC 9110 §15.6.4, §10.2.3). The site's server has 8
    threads and s3wsgi's bound keeps some of them for the host app
    (docs/safety.rst), so twenty at once are more than it takes in: on a
    busy machine some are refused, and a refusal must be a clean 503."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        answer = requests.get(site + "/docs/large.bin", timeout=TIMEOUT)
        if answer.status_code != 503 or time.monotonic() > deadline:
            break
        assert answer.headers["Content-Type"].startswith("text/plain")
        assert len(answer.content) < 100, "a refusal carries no part of the object"
        time.sleep(int(answer.headers["Retry-After"]))
    received = answer.content
    return answer.status_code, len(received), hashlib.sha256(received).hexdigest()


def test_twenty_concurrent_downloads_all_complete(site):
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(download_large_when_free, [site] * 20))
    assert results == [(200, len(LARGE), LARGE_SHA256)] * 20

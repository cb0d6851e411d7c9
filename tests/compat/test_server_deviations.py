"""What each server of the matrix does where S3 (or RFC 9110) says otherwise,
probed directly, s3wsgi bypassed.

PROBES are requests with the answer S3 gives them (RFC 9110's where S3
documents nothing). DEVIATIONS records, per server, the probes it answers
otherwise, with what it does instead. Every probe runs against every
server: a recorded deviation that no longer holds fails, naming its row, and
so does a new one. docs/compatibility.rst describes the same rows and what
s3wsgi does about each.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from compat_servers import SERVERS
from compat_site import BUCKET, CACHE_CONTROL, DATA, LARGE, LONG_AGO, SITE

SIZE = len(DATA)
LARGE_SHA256 = hashlib.sha256(LARGE).digest()
TIMEOUT = 30


@dataclass
class Answer:
    """What a server answered: an HTTP answer, or what boto3 made of it."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # The exception boto3 raised other than a ClientError, by class name.
    raised: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def __str__(self):
        if self.raised:
            return f"boto3 raised {self.raised}"
        shown = ("content-range", "content-length", "etag", "cache-control", "last-modified")
        headers = ", ".join(
            f"{name}: {self.headers[name]}" for name in shown if name in self.headers
        )
        return f"{self.status} [{headers}] {len(self.body)}-byte body"


@dataclass
class Validators:
    etag: str
    last_modified: str


def signed(server, method: str, key: str, headers: dict[str, str]) -> Answer:
    """One SigV4-signed request to the server, as raw as requests sends it."""
    url = f"{server.endpoint}/{BUCKET}/{quote(key.encode(), safe='/~')}"
    aws_request = AWSRequest(method=method, url=url, headers=headers)
    credentials = Credentials(server.access_key, server.secret_key)
    S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(aws_request)
    answer = requests.request(method, url, headers=dict(aws_request.headers), timeout=TIMEOUT)
    return Answer(
        status=answer.status_code,
        headers={name.lower(): value for name, value in answer.headers.items()},
        body=answer.content,
    )


def through_boto3(server, **params) -> Answer:
    """GetObject through boto3, the body read whole; what it raised if it did."""
    client = server.client()
    try:
        response = client.get_object(Bucket=BUCKET, **params)
        # Not ``with``: botocore's body then hands out the raw stream, which
        # skips the checksum validation this probe is about.
        body = response["Body"]
        try:
            data = body.read()
        finally:
            body.close()
        metadata = response["ResponseMetadata"]
        return Answer(metadata["HTTPStatusCode"], metadata["HTTPHeaders"], data)
    except ClientError as error:
        metadata = error.response["ResponseMetadata"]
        return Answer(metadata["HTTPStatusCode"], metadata.get("HTTPHeaders", {}))
    except Exception as error:  # what a broken answer makes boto3 raise
        return Answer(raised=type(error).__name__)
    finally:
        client.close()


# What S3 answers.


def whole(answer: Answer, body: bytes = DATA) -> bool:
    return answer.status == 200 and answer.body == body


def partial(first: int, last: int) -> Callable[[Answer], bool]:
    def check(answer: Answer) -> bool:
        return (
            answer.status == 206
            and answer.header("content-range") == f"bytes {first}-{last}/{SIZE}"
            and answer.body == DATA[first : last + 1]
        )

    return check


def not_modified(answer: Answer) -> bool:
    """RFC 9110 §15.4.5: a 304 carries the ETag and Cache-Control of the 200."""
    return (
        answer.status == 304
        and answer.body == b""
        and answer.header("etag") is not None
        and answer.header("cache-control") == CACHE_CONTROL
    )


def status(code: int) -> Callable[[Answer], bool]:
    return lambda answer: answer.status == code


@dataclass(frozen=True)
class Probe:
    """One request, and what S3 answers to it."""

    run: Callable[[object, Validators], Answer]
    s3_answers: str
    is_s3_answer: Callable[[Answer], bool]


def request(key: str = "data.bin", method: str = "GET", **headers: str | Callable):
    """A probe's signed request; a header value may be ``value(validators)``,
    and ``_`` in a header name stands for ``-``."""

    def run(server, validators: Validators) -> Answer:
        values = {
            name.replace("_", "-"): value(validators) if callable(value) else value
            for name, value in headers.items()
        }
        return signed(server, method, key, values)

    return run


def etag(validators: Validators) -> str:
    return validators.etag


def last_modified(validators: Validators) -> str:
    return validators.last_modified


PROBES = {
    "get": Probe(
        request(),
        "200, the whole object, its Cache-Control",
        lambda a: whole(a) and (a.header("cache-control") == CACHE_CONTROL),
    ),
    "head": Probe(
        request(method="HEAD"),
        "200 with the object's length and no body",
        lambda a: a.status == 200 and a.body == b"" and a.header("content-length") == str(SIZE),
    ),
    "range_first": Probe(request(Range="bytes=0-99"), "206, bytes 0-99", partial(0, 99)),
    "range_middle": Probe(
        request(Range="bytes=1000-1999"), "206, bytes 1000-1999", partial(1000, 1999)
    ),
    "range_suffix": Probe(
        request(Range="bytes=-100"), "206, the last 100 bytes", partial(SIZE - 100, SIZE - 1)
    ),
    "range_open": Probe(
        request(Range="bytes=100-"), "206, bytes 100 to the end", partial(100, SIZE - 1)
    ),
    "range_unsatisfiable": Probe(
        request(Range=f"bytes={SIZE}-"),
        "416 with Content-Range: bytes */SIZE (RFC 9110 §15.5.17)",
        lambda a: a.status == 416 and a.header("content-range") == f"bytes */{SIZE}",
    ),
    "if_none_match_current": Probe(
        request(If_None_Match=etag), "304 with ETag and Cache-Control", not_modified
    ),
    "if_none_match_other": Probe(request(If_None_Match='"other"'), "200, the whole object", whole),
    "if_modified_since_last_modified": Probe(
        request(If_Modified_Since=last_modified), "304 with ETag and Cache-Control", not_modified
    ),
    "if_modified_since_long_ago": Probe(
        request(If_Modified_Since=LONG_AGO), "200, the whole object", whole
    ),
    "if_match_wrong": Probe(request(If_Match='"other"'), "412", status(412)),
    "if_match_current": Probe(request(If_Match=etag), "200, the whole object", whole),
    "if_unmodified_since_long_ago": Probe(
        request(If_Unmodified_Since=LONG_AGO), "412", status(412)
    ),
    "range_if_match_current": Probe(
        request(Range="bytes=0-99", If_Match=etag), "206, bytes 0-99", partial(0, 99)
    ),
    "range_if_match_wrong": Probe(
        request(Range="bytes=0-99", If_Match='"other"'), "412", status(412)
    ),
    "get_missing": Probe(request("missing.html"), "404", status(404)),
    "head_missing": Probe(request("missing.html", method="HEAD"), "404", status(404)),
    "head_folder": Probe(
        request("guide", method="HEAD"), "404: no object has that key", status(404)
    ),
    "get_unicode_key": Probe(
        request("caf\u00e9/menu.html"),
        "200, the object",
        lambda a: whole(a, SITE["caf\u00e9/menu.html"][0]),
    ),
    "get_large": Probe(
        request("large.bin"),
        "200, the whole 5 MiB",
        lambda a: a.status == 200 and hashlib.sha256(a.body).digest() == LARGE_SHA256,
    ),
    "boto3_if_none_match_current": Probe(
        lambda server, v: through_boto3(server, Key="data.bin", IfNoneMatch=v.etag),
        "boto3 raises ClientError 304",
        lambda a: a.raised is None and a.status == 304,
    ),
    "boto3_range_first": Probe(
        lambda server, v: through_boto3(server, Key="data.bin", Range="bytes=0-99"),
        "boto3 reads 206, bytes 0-99",
        partial(0, 99),
    ),
}


@dataclass(frozen=True)
class Deviation:
    """What a server does instead of S3's answer to a probe."""

    does: str
    holds: Callable[[Answer], bool]


def partial_under_200(first: int, last: int) -> Callable[[Answer], bool]:
    def check(answer: Answer) -> bool:
        return (
            answer.status == 200
            and answer.header("content-range") == f"bytes {first}-{last}/{SIZE}"
            and answer.body == DATA[first : last + 1]
        )

    return check


def no_content_range_416(answer: Answer) -> bool:
    return answer.status == 416 and answer.header("content-range") is None


def bare_304(answer: Answer) -> bool:
    return answer.status == 304 and not {"etag", "cache-control", "last-modified"} & set(
        answer.headers
    )


def etag_only_304(answer: Answer) -> bool:
    return (
        answer.status == 304
        and answer.header("etag") is not None
        and not {"cache-control", "last-modified", "expires"} & set(answer.headers)
    )


def ignored(answer: Answer) -> bool:
    return whole(answer)


RANGE_UNDER_200 = "answers 200 with a Content-Range and only that part as the body"

# The versions DEVIATIONS was recorded with; tox.ini pins the same.
RECORDED_WITH = {"moto": "5.2.5", "s3rver": "3.7.1", "rclone": "1.75.2", "seaweedfs": "4.48"}

DEVIATIONS: dict[str, dict[str, Deviation]] = {
    "moto": {
        "range_unsatisfiable": Deviation("a 416 carries no Content-Range", no_content_range_416),
        "if_none_match_current": Deviation(
            "a 304 carries only the ETag: no Cache-Control, no Last-Modified", etag_only_304
        ),
        "if_modified_since_last_modified": Deviation(
            "a 304 carries only the ETag: no Cache-Control, no Last-Modified", etag_only_304
        ),
    },
    "s3rver": {
        "range_suffix": Deviation(
            "bytes=-100 answers the first 101 bytes, Content-Range: bytes 0-100/SIZE",
            lambda a: (
                a.status == 206
                and a.header("content-range") == f"bytes 0-100/{SIZE}"
                and a.body == DATA[:101]
            ),
        ),
        "range_unsatisfiable": Deviation("a 416 carries no Content-Range", no_content_range_416),
        "if_none_match_current": Deviation(
            "a 304 carries no headers at all (no ETag, no Cache-Control)", bare_304
        ),
        "if_modified_since_last_modified": Deviation(
            "a 304 carries no headers at all (no ETag, no Cache-Control)", bare_304
        ),
        "if_match_wrong": Deviation("ignores If-Match: 200, the whole object", ignored),
        "if_unmodified_since_long_ago": Deviation(
            "ignores If-Unmodified-Since: 200, the whole object", ignored
        ),
        "range_if_match_wrong": Deviation(
            "ignores If-Match beside Range: 206, the part", partial(0, 99)
        ),
    },
    "rclone": {
        "range_first": Deviation(RANGE_UNDER_200, partial_under_200(0, 99)),
        "range_middle": Deviation(RANGE_UNDER_200, partial_under_200(1000, 1999)),
        "range_suffix": Deviation(RANGE_UNDER_200, partial_under_200(SIZE - 100, SIZE - 1)),
        "range_open": Deviation(RANGE_UNDER_200, partial_under_200(100, SIZE - 1)),
        "range_unsatisfiable": Deviation("a 416 carries no Content-Range", no_content_range_416),
        "if_modified_since_last_modified": Deviation(
            "ignores If-Modified-Since: 200, the whole object", ignored
        ),
        "if_match_wrong": Deviation("ignores If-Match: 200, the whole object", ignored),
        "if_unmodified_since_long_ago": Deviation(
            "ignores If-Unmodified-Since: 200, the whole object", ignored
        ),
        "range_if_match_current": Deviation(
            f"with If-Match too, {RANGE_UNDER_200}", partial_under_200(0, 99)
        ),
        "range_if_match_wrong": Deviation(
            f"ignores If-Match beside Range, and {RANGE_UNDER_200}", partial_under_200(0, 99)
        ),
        "boto3_if_none_match_current": Deviation(
            "its 304 carries x-amz-checksum-crc32, so botocore validates the empty body"
            " and raises TypeError",
            lambda a: a.raised == "TypeError",
        ),
        "boto3_range_first": Deviation(
            "a part carries the whole object's x-amz-checksum-crc32, so botocore raises"
            " FlexibleChecksumError at the end of the body",
            lambda a: a.raised == "FlexibleChecksumError",
        ),
    },
    "seaweedfs": {
        "if_none_match_current": Deviation(
            "a 304 carries only the ETag: no Cache-Control, no Last-Modified", etag_only_304
        ),
        "if_modified_since_last_modified": Deviation(
            "a 304 carries only the ETag: no Cache-Control, no Last-Modified", etag_only_304
        ),
    },
}


@pytest.fixture(scope="session")
def validators(s3_server) -> Validators:
    client = s3_server.client()
    try:
        head = client.head_object(Bucket=BUCKET, Key="data.bin")
    finally:
        client.close()
    headers = head["ResponseMetadata"]["HTTPHeaders"]
    return Validators(headers["etag"], headers["last-modified"])


def test_every_recorded_deviation_names_a_probe():
    assert set(DEVIATIONS) == set(SERVERS) == set(RECORDED_WITH)
    for server, rows in DEVIATIONS.items():
        assert set(rows) <= set(PROBES), f"{server}: {set(rows) - set(PROBES)} are no probes"


def test_server_is_the_version_the_deviations_were_recorded_with(s3_server):
    assert s3_server.version == RECORDED_WITH[s3_server.name], (
        f"{s3_server!r}: DEVIATIONS was recorded with {RECORDED_WITH[s3_server.name]}; run the"
        " probes, then update RECORDED_WITH, DEVIATIONS, tox.ini and docs/compatibility.rst"
    )


@pytest.mark.parametrize("probe", list(PROBES))
def test_server_answers_as_recorded(s3_server, validators, probe):
    answer = PROBES[probe].run(s3_server, validators)
    deviation = DEVIATIONS[s3_server.name].get(probe)
    if deviation is None:
        assert PROBES[probe].is_s3_answer(answer), (
            f"{s3_server!r} deviates from S3 at {probe!r}: S3 answers"
            f" {PROBES[probe].s3_answers}; it answered {answer}. Record it in DEVIATIONS."
        )
    else:
        assert deviation.holds(answer), (
            f"{s3_server!r} no longer {deviation.does!r} at {probe!r}: it answered {answer}"
            f" (S3 answers {PROBES[probe].s3_answers}). Update DEVIATIONS and"
            " docs/compatibility.rst."
        )

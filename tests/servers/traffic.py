"""Requests whose right answers are known, sent by client threads over real
HTTP, each answer checked and counted by the worker that gave it."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import requests
from sample_site import SITE

# served_app's own pages, which the middleware must leave alone.
HOST_HOME = b'<html><h1>Host home</h1><a href="/docs/">Docs</a></html>'
APP_NOT_FOUND = b"This page is not part of the app."
# An S3 ETag of an object put in one part is the MD5 of its bytes.
STYLE_ETAG = '"' + hashlib.md5(SITE["style.css"][0]).hexdigest() + '"'
PAYLOAD = bytes(range(256)) * 256  # 64 KiB, every byte value


@dataclass(frozen=True)
class Call:
    """A request and what must come back: ``status``, the body when
    ``body`` is given, and the ``expect`` headers."""

    method: str
    path: str
    status: int
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    data: bytes | None = None
    expect: dict[str, str] = field(default_factory=dict)

    def send(self, http: requests.Session, url: str) -> requests.Response:
        return http.request(
            self.method,
            url + self.path,
            headers=self.headers,
            data=self.data,
            allow_redirects=False,
            timeout=30,
        )

    def mismatch(self, answer: requests.Response) -> str | None:
        """What is wrong with ``answer``; None when it is right."""
        wrong = []
        if answer.status_code != self.status:
            wrong.append(f"status {answer.status_code}")
        if self.body is not None and answer.content != self.body:
            wrong.append(f"body {answer.content[:80]!r}")
        if APP_NOT_FOUND in answer.content and self.path.startswith("/docs"):
            wrong.append("the host app's 404 page")
        for name, value in self.expect.items():
            if answer.headers.get(name) != value:
                wrong.append(f"{name}: {answer.headers.get(name)!r}")
        if wrong:
            return f"{self.method} {self.path}: " + ", ".join(wrong)
        return None


# Every kind of answer: index, assets, redirect, 304, 206, the middleware's
# 404, the host app's pages and a POST body that must reach it whole.
MIX = (
    Call(
        "GET",
        "/docs/",
        200,
        SITE["index.html"][0],
        expect={"Content-Type": "text/html; charset=utf-8"},
    ),
    Call("GET", "/docs/img/logo.png", 200, SITE["img/logo.png"][0]),
    Call("GET", "/docs/guide", 301, expect={"Location": "/docs/guide/"}),
    Call("GET", "/docs/style.css", 304, b"", headers={"If-None-Match": STYLE_ETAG}),
    Call(
        "GET",
        "/docs/digits.txt",
        206,
        b"2345",
        headers={"Range": "bytes=2-5"},
        expect={"Content-Range": "bytes 2-5/10"},
    ),
    Call("GET", "/docs/no-such-page.html", 404),
    Call("GET", "/", 200, HOST_HOME),
    Call("POST", "/echo", 200, PAYLOAD, data=PAYLOAD),
)


class Tally:
    """Answers counted by worker pid, and every wrong answer or failed request."""

    def __init__(self):
        self.by_worker: Counter[int] = Counter()
        self.failures: list[str] = []
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        return sum(self.by_worker.values())

    def record(self, answer: requests.Response | None, error: str | None) -> None:
        """An answer (None when the request failed) and what was wrong, if anything.

        An answer without ``X-Worker-Pid`` (the server's own error page) counts
        for pid 0."""
        with self._lock:
            if answer is not None:
                self.by_worker[int(answer.headers.get("X-Worker-Pid", 0))] += 1
            if error:
                self.failures.append(error)


def client(
    url: str, tally: Tally, stop: threading.Event, *, keep_alive: bool, rounds: int | None
) -> None:
    """Send MIX over and over until ``stop``: on a kept-alive connection
    (a new one after ``rounds`` times MIX, if given), or on a new connection
    for each request."""
    http = None
    sent = 0
    try:
        while not stop.is_set():
            if http is None:
                http = requests.Session()
                if not keep_alive:
                    http.headers["Connection"] = "close"
            for call in MIX:
                try:
                    answer = call.send(http, url)
                except requests.RequestException as error:
                    tally.record(None, f"{call.method} {call.path}: {error!r}")
                else:
                    tally.record(answer, call.mismatch(answer))
                    answer.close()
            sent += 1
            if rounds is not None and sent % rounds == 0:
                http.close()
                http = None
    finally:
        if http is not None:
            http.close()


def drive(
    url: str,
    until: Callable[[Tally], bool],
    *,
    keep_alive_clients: int = 2,
    new_connection_clients: int = 2,
    rounds_per_connection: int | None = None,
    timeout: float = 120.0,
    meanwhile: Callable[[Tally], None] | None = None,
) -> Tally:
    """Run client threads until ``until(tally)`` holds (checked every 20 ms,
    and for at most ``timeout`` seconds); ``meanwhile(tally)`` runs in this
    thread while they do. Every client has closed its connections on return.

    :param rounds_per_connection: how many times a keep-alive client sends
        MIX on one connection; for as long as it runs if None.
    """
    tally = Tally()
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=client,
            args=(url, tally, stop),
            kwargs={"keep_alive": kept, "rounds": rounds_per_connection},
        )
        for kept in [True] * keep_alive_clients + [False] * new_connection_clients
    ]
    for thread in threads:
        thread.start()
    try:
        if meanwhile is not None:
            meanwhile(tally)
        deadline = time.monotonic() + timeout
        while not until(tally) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    return tally

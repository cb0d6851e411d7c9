"""Loopback test doubles for S3 faults: a TCP proxy that misbehaves on demand,
and a server that answers every request with one canned S3 error.

The proxy sits between the middleware (``endpoint_url=proxy.url``) and a real
S3 server. Its mode is switched at run time with :meth:`FaultProxy.set`; each
switch drops the connections already open, so the next S3 request meets the
new behaviour instead of a pooled connection made under the old one.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import struct
import threading
import time

PASS = "pass"  # forward both ways, untouched
LATENCY = "latency"  # forward, each request held back ``delay`` seconds
THROTTLE = "throttle"  # forward, the answer at 64 KiB per ``delay`` seconds
REFUSE = "refuse"  # nothing listens on the port: connect() is refused
RESET = "reset"  # accept, then reset the connection (RST) at once
CUT = "cut"  # forward; close after the answer's headers and ``after`` body bytes
STALL = "stall"  # read and never answer; with ``after``, hang after that many body bytes
CUT_AT = "cut-at"  # forward; close after ``after`` bytes of the answer, head included
MODES = (PASS, LATENCY, THROTTLE, REFUSE, RESET, CUT, STALL, CUT_AT)


def _close(sock: socket.socket, *, abort: bool) -> None:
    """Close; with ``abort`` (SO_LINGER 0) the peer sees a reset, not an orderly end."""
    with contextlib.suppress(OSError):
        if abort:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class _Connection:
    """One client connection and, unless stalled or reset, its upstream twin."""

    def __init__(self, proxy: FaultProxy, client: socket.socket):
        self.proxy = proxy
        self.client = client
        self.upstream: socket.socket | None = None
        self.closed = threading.Event()

    def start(self, mode: str, delay: float, after: int | None) -> None:
        if mode == RESET:
            self.close(abort=True)
            return
        if mode == STALL and after is None:
            threading.Thread(target=self._swallow, daemon=True).start()
            return
        try:
            self.upstream = socket.create_connection(self.proxy.upstream, timeout=5)
            self.upstream.settimeout(None)
        except OSError:
            self.close(abort=True)
            return
        limit = after if mode in (CUT, STALL, CUT_AT) else None
        threading.Thread(
            target=self._request_pump, args=(delay if mode == LATENCY else 0.0,), daemon=True
        ).start()
        threading.Thread(
            target=self._answer_pump,
            args=(limit, mode, delay if mode == THROTTLE else 0.0),
            daemon=True,
        ).start()

    def _swallow(self) -> None:
        """Read what the client sends and answer nothing, until it gives up."""
        with contextlib.suppress(OSError):
            while self.client.recv(65536):
                pass
        self.close(abort=False)

    def _request_pump(self, delay: float) -> None:
        with contextlib.suppress(OSError):
            while data := self.client.recv(65536):
                if delay:
                    time.sleep(delay)
                self.upstream.sendall(data)
        self.close(abort=False)

    def _answer_pump(self, limit: int | None, mode: str, delay: float) -> None:
        """Forward the answer; with ``limit``, the fault begins after the
        header block and ``limit`` bytes of the body."""
        sent = 0
        head = b""
        fault_at = limit if mode == CUT_AT else None
        head_length = None
        try:
            while data := self.upstream.recv(65536):
                if head_length is None:
                    head += data
                    end = head.find(b"\r\n\r\n")
                    if end >= 0:
                        head_length = end + 4
                        self.proxy.heads.append(head_length)
                        if limit is not None and fault_at is None:
                            fault_at = head_length + limit
                if fault_at is not None and sent + len(data) >= fault_at:
                    self.client.sendall(data[: fault_at - sent])
                    self.proxy.faults += 1
                    if mode == STALL:
                        self.closed.wait()  # until the client or a switch ends it
                    break
                self.client.sendall(data)
                sent += len(data)
                if delay:
                    time.sleep(delay)
        except OSError:
            pass
        # An orderly end: an answer cut short reaches the client as a short read.
        self.close(abort=False)

    def close(self, *, abort: bool) -> None:
        with self.proxy._lock:
            if self.closed.is_set():
                return
            self.closed.set()
            self.proxy._connections.discard(self)
        _close(self.client, abort=abort)
        if self.upstream is not None:
            _close(self.upstream, abort=abort)


class FaultProxy:
    """A threaded TCP proxy on loopback in front of ``upstream`` (host, port).

    Usage::

        with FaultProxy(("127.0.0.1", s3_port)) as proxy:
            middleware = S3Middleware(app, bucket=..., endpoint_url=proxy.url)
            proxy.set("cut", after=100_000)
            ...
            proxy.set("pass")

    Modes: ``pass``, ``latency`` (``delay`` seconds per request chunk),
    ``throttle`` (``delay`` seconds after each answer chunk of up to 64 KiB),
    ``refuse`` (the listener is closed), ``reset`` (RST on accept), ``cut``
    (the connection is closed after the answer's headers and ``after`` bytes
    of its body), ``cut-at`` (closed after ``after`` bytes of the answer,
    status line and headers included), ``stall`` (the request is read and never answered; with
    ``after``, the answer stops there and the connection hangs).
    """

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.mode = PASS
        self.delay = 0.0
        self.after: int | None = None
        self.accepted = 0  # connections accepted, whatever the mode
        self.faults = 0  # answers cut or stalled part-way
        self.heads: list[int] = []  # the length of each answer's status line and headers
        self._connections: set[_Connection] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.port = 0
        self._listen()
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    def set(self, mode: str, *, delay: float = 0.0, after: int | None = None) -> None:
        """Switch behaviour; connections opened under the old mode are reset."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        if mode in (CUT, CUT_AT) and after is None:
            after = 0
        self.mode, self.delay, self.after = mode, delay, after
        self.drop_connections()
        if mode == REFUSE:
            self._unlisten()
        elif self._listener is None:
            self._listen()

    def drop_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close(abort=True)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no connection is open; whether that happened in time."""
        deadline = time.monotonic() + timeout
        while self.open_connections:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        self._unlisten()
        self.drop_connections()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _unlisten(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone may not.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            self.accepted += 1
            connection = _Connection(self, client)
            with self._lock:
                self._connections.add(connection)
            connection.start(self.mode, self.delay, self.after)


class CannedS3:
    """An HTTP server on loopback that answers every request with one S3 error.

    ``status``, ``code`` and ``headers`` are read per request, so a test can
    change them while the server runs; ``requests`` counts what arrived.
    """

    def __init__(self, status: int = 500, code: str = "InternalError", headers=None):
        self.status = status
        self.code = code
        self.headers = dict(headers or {})
        self.requests = 0
        canned = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                canned.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                body = canned.body()
                self.send_response(canned.status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("x-amz-request-id", canned.request_id)
                for name, value in canned.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # Handlers wait on kept-alive connections: closing must not join them.
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    request_id = "CANNEDREQID0123456789"

    def body(self) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code>"
            f"<Message>canned {self.code} message</Message>"
            f"<RequestId>{self.request_id}</RequestId>"
            "<HostId>cannedhostid</HostId></Error>"
        ).encode()

    def __enter__(self) -> CannedS3:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

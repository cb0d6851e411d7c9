"""The tests' own waitress server (appserver.AppServer) stops without
leaving anything open: every other test relies on it."""

from __future__ import annotations

import os
import socket
import time

from appserver import AppServer

BODY = b"\x5a" * (8 << 20)


def big_app(environ, start_response):
    start_response("200 OK", [("Content-Length", str(len(BODY)))])
    return [BODY[i : i + (256 << 10)] for i in range(0, len(BODY), 256 << 10)]


def open_temporary_files() -> list[str]:
    """What this process's descriptors hold of unlinked files, the kind
    waitress spills a client's output to past 1 MiB."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own descriptor, gone
            continue
        if target.endswith("(deleted)"):
            held.append(target)
    return held


def test_close_with_a_client_stalled_mid_body_leaves_no_file_open():
    before = open_temporary_files()
    server = AppServer(big_app)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.recv(65536).startswith(b"HTTP/1.1 200 ")
        # The client reads no more: waitress keeps what it has not sent in
        # its output buffers, on disk past 1 MiB.
        deadline = time.monotonic() + 10
        while len(open_temporary_files()) <= len(before):
            assert time.monotonic() < deadline, "waitress never spilled to a file"
            time.sleep(0.05)
        server.close()
        assert open_temporary_files() == before
        assert not server.thread.is_alive()
        assert server.map == {}

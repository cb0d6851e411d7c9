"""Running a WSGI app under waitress until SIGINT or SIGTERM, then
stopping at once with every connection closed; a client that takes none of
its answer for ``send_timeout`` seconds is closed meanwhile."""

from __future__ import annotations

import errno
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias
from wsgiref.types import WSGIApplication

from ..options import DEFAULT_SEND_TIMEOUT
from .errors import Problem

if TYPE_CHECKING:
    from waitress.server import BaseWSGIServer, MultiSocketServer

    Server: TypeAlias = MultiSocketServer | BaseWSGIServer

# waitress's socket map: file descriptor -> its dispatcher (the listening
# server, each client's channel, the trigger), not the socket itself.
SocketMap: TypeAlias = dict[int, Any]

log = logging.getLogger("s3wsgi")


def create_server(
    app: WSGIApplication, *, host: str, port: int, threads: int
) -> tuple[Server, SocketMap]:
    """A waitress server, and its socket map: the server's own, so that every
    socket in it can be closed at the end, the clients' included."""
    try:
        from waitress.server import create_server
        from waitress.wasyncore import close_all
    except ImportError:
        raise Problem("serving needs waitress: install s3wsgi's 'serve' extra") from None

    sockets: SocketMap = {}
    try:
        server = create_server(app, map=sockets, host=host, port=port, threads=threads)
        return server, sockets
    except OSError as error:
        reason = error.strerror or str(error)
        close_all(sockets)  # the half-made server's socket, and its trigger's pipe
        hint = " (another port: --port)" if error.errno == errno.EADDRINUSE else ""
        raise Problem(f"cannot listen on {host}:{port}: {reason.lower()}{hint}") from None


def url(server: Server) -> str:
    listen = getattr(server, "effective_listen", None) or [
        # types-waitress omits these two, set by BaseWSGIServer.__init__.
        (server.effective_host, server.effective_port)  # type: ignore[union-attr]
    ]
    host, port = listen[0][:2]
    if ":" in str(host):
        host = f"[{host}]"
    return f"http://{host}:{port}/"


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _stop(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def _close_clients(sockets: SocketMap) -> None:
    """Close every client's connection as waitress does when a client goes:
    its output buffers (temporary files past 1 MiB) closed, and a worker
    waiting for room in them woken, to end its response and close the S3
    stream at once."""
    from waitress.channel import HTTPChannel

    for channel in list(sockets.values()):
        if isinstance(channel, HTTPChannel):
            channel.handle_close()


class Stalls:
    """Closes the connections whose client took none of the answer waiting
    for it for ``send_timeout`` seconds, as nginx's ``send_timeout`` does.

    waitress closes only idle connections (``channel_timeout``), never one
    whose answer is under way: a client that stops reading a body larger
    than waitress buffers (``outbuf_high_watermark``, 16 MiB) would hold the
    worker thread writing it, and its S3 turn, for as long as it keeps the
    connection open. Closing the connection wakes that thread: its write
    fails, the body is closed, and the thread and the turn are free again.

    A connection stalls when it has bytes waiting to be sent and sends none:
    waitress's ``last_activity`` (the last byte sent or received) stands
    still while its output buffers hold bytes. Waiting on S3 is no stall:
    nothing waits to be sent then.
    """

    def __init__(self, send_timeout: float):
        self.send_timeout = send_timeout
        # channel -> (its last_activity, when first seen unchanged with bytes waiting)
        self._waiting: dict[Any, tuple[float, float]] = {}

    @property
    def interval(self) -> float:
        """Seconds between two checks: a stall is closed at most a quarter
        of ``send_timeout``, and at most a second, late."""
        return min(1.0, self.send_timeout / 4)

    def check(self, sockets: SocketMap, now: float) -> None:
        """Close the connections stalled for ``send_timeout``; in the
        server's loop, where waitress closes its connections."""
        from waitress.channel import HTTPChannel

        waiting: dict[Any, tuple[float, float]] = {}
        for channel in list(sockets.values()):
            if not isinstance(channel, HTTPChannel) or not channel.total_outbufs_len:
                continue
            activity = channel.last_activity
            seen = self._waiting.get(channel)
            since = seen[1] if seen is not None and seen[0] == activity else now
            if now - since < self.send_timeout:
                waiting[channel] = (activity, since)
                continue
            host, port = channel.addr[:2] if channel.addr else ("?", "?")
            log.warning(
                "closed the connection of %s:%s: it took no bytes of its answer for"
                " %g s (send_timeout)",
                host,
                port,
                self.send_timeout,
            )
            channel.handle_close()
        self._waiting = waiting


def run(
    server: Server,
    sockets: SocketMap,
    banner: str,
    *,
    send_timeout: float = DEFAULT_SEND_TIMEOUT,
) -> int:
    """Serve until SIGINT or SIGTERM, then close every connection still
    open, stop the worker threads and close the server; exit status 0.

    :param send_timeout: seconds a client may take none of its answer's
        bytes before its connection is closed (:class:`Stalls`).
    """
    from waitress import wasyncore

    print(banner, flush=True)
    stalls = Stalls(send_timeout)
    timeout = min(server.adj.asyncore_loop_timeout, stalls.interval)
    # SIGINT too: a shell starts background jobs with it ignored.
    previous = {signum: signal.signal(signum, _stop) for signum in _STOP_SIGNALS}
    try:
        # waitress's server.run(), but for the stop: that joins the workers
        # first, and one writing to a client that reads no more would hold
        # it for 5 s, then be left running. And for the stalls, checked
        # between two turns of the loop, at most every interval.
        next_check = time.monotonic() + stalls.interval
        while sockets:
            wasyncore.loop(
                timeout=timeout, map=sockets, use_poll=server.adj.asyncore_use_poll, count=1
            )
            now = time.monotonic()
            if now >= next_check:
                stalls.check(sockets, now)
                next_check = now + stalls.interval
    except KeyboardInterrupt:
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _close_clients(sockets)
        server.task_dispatcher.shutdown()
        # The listening socket and the trigger last: a worker ending a
        # response may still pull the trigger.
        wasyncore.close_all(sockets)
    return 0


GRANIAN_KILL_TIMEOUT = 5


def free_port(host: str) -> int:
    """A port free on ``host`` a moment ago: granian says not which port
    it took for port 0, and the banner must."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def run_granian(
    make_app: Callable[[], WSGIApplication],
    *,
    host: str,
    port: int,
    threads: int,
    banner: Callable[[str], str],
) -> int:
    """Serve ``make_app()`` under granian, one worker of ``threads`` Python
    threads, until SIGINT or SIGTERM; exit status 0.

    The app is made in the worker, after granian forks it: nothing of the
    master's (obstore's runtime above all) crosses the fork. granian has
    no ``send_timeout`` of ours: a client that stops reading holds its
    thread until the connection closes (docs/deployment.rst).
    """
    try:
        from granian.constants import Interfaces
        from granian.log import LogLevels
        from granian.server import Server as Granian
    except ImportError:
        raise Problem("--server granian needs granian: install s3wsgi's 'granian' extra") from None

    port = port or free_port(host)
    granian = Granian(
        "s3wsgi",  # a name only: the target_loader below makes the app
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=1,
        blocking_threads=threads,
        log_level=LogLevels.warning,
        # A worker writing to a client that reads no more does not stop
        # on SIGTERM: granian kills it after this many seconds.
        workers_kill_timeout=GRANIAN_KILL_TIMEOUT,
    )
    shown = host if ":" not in host else f"[{host}]"

    def load(target: str) -> WSGIApplication:
        return make_app()

    announcer = threading.Thread(
        target=_announce, args=(host, port, banner(f"http://{shown}:{port}/")), daemon=True
    )
    announcer.start()
    try:
        granian.serve(target_loader=load)
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise Problem(f"cannot listen on {host}:{port}: {reason}") from None
    return 0


def _announce(host: str, port: int, banner: str, timeout: float = 60.0) -> None:
    """Print ``banner`` once the port takes connections: granian binds it
    at once, but listens only once its worker has started, and the banner
    tells a reader (or a script) that requests will be answered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
        except OSError:
            time.sleep(0.05)
            continue
        print(banner, flush=True)
        return

"""Running a WSGI app under waitress until SIGINT or SIGTERM, then
stopping at once with every connection closed."""

from __future__ import annotations

import signal
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias
from wsgiref.types import WSGIApplication

from .errors import Problem

if TYPE_CHECKING:
    from waitress.server import BaseWSGIServer, MultiSocketServer

    Server: TypeAlias = MultiSocketServer | BaseWSGIServer

# waitress's socket map: file descriptor -> its dispatcher (the listening
# server, each client's channel, the trigger), not the socket itself.
SocketMap: TypeAlias = dict[int, Any]


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
        raise Problem(f"cannot listen on {host}:{port}: {reason.lower()}") from None


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


def run(server: Server, sockets: SocketMap, banner: str) -> int:
    """Serve until SIGINT or SIGTERM, then close every connection still
    open, stop the worker threads and close the server; exit status 0."""
    from waitress import wasyncore

    print(banner, flush=True)
    # SIGINT too: a shell starts background jobs with it ignored.
    previous = {signum: signal.signal(signum, _stop) for signum in _STOP_SIGNALS}
    try:
        # waitress's server.run(), but for the stop: that joins the workers
        # first, and one writing to a client that reads no more would hold
        # it for 5 s, then be left running.
        wasyncore.loop(
            timeout=server.adj.asyncore_loop_timeout,
            map=sockets,
            use_poll=server.adj.asyncore_use_poll,
        )
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

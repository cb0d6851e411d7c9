"""A WSGI app served by waitress on a free loopback port, in a thread."""

from __future__ import annotations

import contextlib
import threading


class AppServer:
    """Serve a WSGI app with waitress on a free loopback port, in a thread."""

    def __init__(self, app, threads: int = 4, **adjustments):
        from waitress.server import create_server

        # A socket map of our own, so close() can end every channel in it.
        self.map: dict = {}
        self.server = create_server(
            app, map=self.map, host="127.0.0.1", port=0, threads=threads, **adjustments
        )
        self.port = self.server.effective_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        with contextlib.suppress(OSError):  # a channel closed under its feet
            self.server.run()

    def _in_loop(self, thunk) -> None:
        """Run ``thunk`` in the server's loop thread, which owns the socket
        map; here if that loop has ended (no trigger left to wake it)."""
        try:
            self.server.trigger.pull_trigger(thunk)
        except OSError:
            thunk()

    def _close_clients(self):
        from waitress.channel import HTTPChannel

        for channel in list(self.map.values()):
            if isinstance(channel, HTTPChannel):
                # As waitress does when a client goes: close the channel's
                # output buffers (past 1 MiB they are temporary files) and wake
                # a worker waiting for room in them.
                channel.handle_close()

    def _close_all(self):
        for channel in list(self.map.values()):
            channel.close()

    def close(self):
        """Stop at once: every client's channel closed (in the loop), so that
        no worker waits to write; the workers joined; then the listening
        socket and the trigger closed, which ends the loop."""
        self._in_loop(self._close_clients)
        self.server.task_dispatcher.shutdown(timeout=5)
        self._in_loop(self._close_all)
        self.thread.join(timeout=5)
        self._close_clients()  # what a loop that ended early left open
        self._close_all()

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

    def _close_channels(self):
        for channel in list(self.map.values()):
            channel.close()

    def close(self):
        """Stop at once: every channel closed from inside the loop (which the
        trigger wakes), then the worker threads joined."""
        with contextlib.suppress(OSError):  # no trigger left: the loop has ended
            self.server.trigger.pull_trigger(self._close_channels)
        self.thread.join(timeout=5)
        self._close_channels()  # what a loop that ended early left open
        self.server.task_dispatcher.shutdown(timeout=5)

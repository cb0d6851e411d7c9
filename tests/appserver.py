"""A WSGI app served by waitress on a free loopback port, in a thread."""

from __future__ import annotations

import contextlib
import threading


class AppServer:
    """Serve a WSGI app with waitress on a free loopback port, in a thread."""

    def __init__(self, app, threads: int = 4, **adjustments):
        from waitress.server import create_server

        self.server = create_server(app, host="127.0.0.1", port=0, threads=threads, **adjustments)
        self.port = self.server.effective_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        with contextlib.suppress(OSError):  # closed under its feet by close()
            self.server.run()

    def close(self):
        self.server.close()
        self.thread.join(timeout=5)

"""The bucket as a complete site under waitress, configured from ``S3WSGI_*``
variables (the same names as ``s3wsgi serve`` reads)::

    S3WSGI_BUCKET=my-docs python examples/standalone.py

``S3WSGI_HOST``, ``S3WSGI_PORT`` and ``S3WSGI_THREADS`` set the server
(127.0.0.1, 8081, 8: not port 8080, where ``s3wsgi demo`` listens); every
other ``S3WSGI_<OPTION>`` sets that option of S3App, e.g.
``S3WSGI_ENDPOINT_URL``, ``S3WSGI_KEY_PREFIX``, ``S3WSGI_CACHE_CONTROL``.
``S3WSGI_BUCKET`` defaults to the demo's bucket.

SIGINT (Ctrl-C) and SIGTERM (``kill``, ``docker stop``, systemd) stop it
cleanly with exit status 0, also when it was started as a background job,
which a shell starts with SIGINT ignored.
"""

from __future__ import annotations

import logging
import os
import signal

from waitress import serve

from s3wsgi import S3App
from s3wsgi.options import convert_settings, environ_settings

# Beside ``s3wsgi demo``, which listens on 8080.
DEFAULT_PORT = 8081


def make_app(settings: dict[str, str], *, threads: int) -> S3App:
    """S3App from text settings, sized for the server's threads: an S3
    connection for each, and S3 requests bounded below their number."""
    settings.setdefault("bucket", "kestrel-docs")
    options = convert_settings(settings)
    options.setdefault("server_threads", threads)
    options["max_pool_connections"] = max(options.get("max_pool_connections", 0), threads)
    return S3App(**options)


def stop(signum, frame) -> None:
    """waitress's loop closes the server and its threads on KeyboardInterrupt."""
    raise KeyboardInterrupt


def main() -> None:
    # waitress says where it listens, and s3wsgi what S3 said, at INFO.
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    # botocore says at INFO where it found credentials: not news at each start.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    settings = environ_settings(os.environ)
    host = settings.pop("host", "127.0.0.1")
    port = int(settings.pop("port", str(DEFAULT_PORT)))
    threads = int(settings.pop("threads", "8"))
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    serve(make_app(settings, threads=threads), host=host, port=port, threads=threads)


if __name__ == "__main__":
    main()

"""``s3wsgi serve``'s metrics and health check: its flags, their checks, and
the listener they are served on.

``--metrics-path`` turns the ``metrics`` option on and serves the series
there; ``--health-path`` serves the health check. Both are on the site's
port, where they must not fall under the served prefix (``/`` by default,
which claims every path), or on a port of their own (``--admin-port``).
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from wsgiref.types import WSGIApplication

from .. import options as schema
from ..observe.endpoints import Endpoints, check_path
from ..observe.health import DEFAULT_INTERVAL
from .errors import Problem, UsageError

if TYPE_CHECKING:
    from ..middleware import S3App
    from .server import Server, SocketMap

HELP = {
    "metrics_path": "serve the Prometheus metrics at this path (turns metrics on; needs the"
    " metrics extra), e.g. /metrics",
    "health_path": "serve the health check at this path: 200 while S3 answers, else 503,"
    " e.g. /healthz",
    "health_interval": "seconds an answer from S3 vouches for health, and the least time"
    f" between two probes (default: {DEFAULT_INTERVAL:g})",
    "admin_port": "serve the metrics and the health check on this port instead of the"
    " site's, where any path will do",
}
FLAGS = tuple(HELP)


@dataclass(frozen=True)
class Observed:
    """What ``s3wsgi serve`` was asked to serve besides the bucket."""

    metrics_path: str | None = None
    health_path: str | None = None
    health_interval: float = DEFAULT_INTERVAL
    admin_port: int | None = None

    @property
    def asked(self) -> bool:
        return self.metrics_path is not None or self.health_path is not None


def add_flags(parser: argparse.ArgumentParser) -> None:
    for name, text in HELP.items():
        parser.add_argument(
            _flag(name),
            dest=name,
            metavar="VALUE",
            help=f"{text} [{schema.environ_name(name)}]",
        )


def from_command_line(args: argparse.Namespace, environ: Mapping[str, str]) -> Observed:
    """The flags' values, else their ``S3WSGI_*`` variables'; a usage error
    for a value of the wrong kind."""
    found: dict[str, Any] = {}
    for name in FLAGS:
        value, label = getattr(args, name), _flag(name)
        if value is None and schema.environ_name(name) in environ:
            value, label = environ[schema.environ_name(name)], schema.environ_name(name)
        if value is None or not value.strip():
            continue
        try:
            if name == "health_interval":
                found[name] = schema.to_float(label, value)
                if found[name] <= 0:
                    raise ValueError(f"{label}: {value!r} is not a positive number")
            elif name == "admin_port":
                found[name] = schema.to_int(label, value)
                if not 0 <= found[name] <= 65535:
                    raise ValueError(f"{label}: {value!r} is not between 0 and 65535")
            else:
                found[name] = value.strip()
        except ValueError as error:
            raise UsageError(str(error)) from None
    observed = Observed(**found)
    if observed.admin_port is not None and not observed.asked:
        raise UsageError("--admin-port serves nothing without --metrics-path or --health-path")
    return observed


def check(observed: Observed, options: schema.Options) -> None:
    """Refuse paths under the served prefix on the site's port, and
    metrics without prometheus-client."""
    prefixes = [options.prefix] if observed.admin_port is None else []
    paths = (("metrics_path", observed.metrics_path), ("health_path", observed.health_path))
    for name, path in paths:
        if path is None:
            continue
        try:
            check_path(_flag(name), path, prefixes)
        except ValueError as error:
            raise UsageError(
                f"{error} (serve the bucket under another --prefix, or this on --admin-port)"
            ) from None
    if observed.metrics_path is not None and observed.metrics_path == observed.health_path:
        raise UsageError("--metrics-path and --health-path must differ")
    if observed.metrics_path is not None and importlib.util.find_spec("prometheus_client") is None:
        raise Problem("--metrics-path needs prometheus-client: install s3wsgi's 'metrics' extra")


def site_app(app: S3App, observed: Observed) -> WSGIApplication:
    """The app the site's port serves: ``app``, behind the endpoints when
    they share its port."""
    if not observed.asked or observed.admin_port is not None:
        return app
    return _endpoints(app, app, observed)


def listen(
    server: Server, sockets: SocketMap, app: S3App, observed: Observed, host: str
) -> list[str]:
    """The admin port's listener, if asked for, in the server's loop and on
    its threads; the lines that say where the endpoints are."""
    # types-waitress omits these two, set by BaseWSGIServer.__init__.
    base = _url(server.effective_host, server.effective_port)  # type: ignore[union-attr]
    if observed.admin_port is not None and observed.asked:
        from waitress.server import create_server
        from waitress.wasyncore import close_all

        try:
            admin = create_server(
                _endpoints(None, app, observed),
                map=sockets,
                # The site's worker threads answer these too, and stop with them.
                _dispatcher=server.task_dispatcher,
                host=host,
                port=observed.admin_port,
            )
        except OSError as error:
            close_all(sockets)  # the site's listener too: nothing will be served
            reason = (error.strerror or str(error)).lower()
            raise Problem(f"cannot listen on {host}:{observed.admin_port}: {reason}") from None
        # As above: types-waitress omits them.
        base = _url(admin.effective_host, admin.effective_port)  # type: ignore[union-attr]
    return shared_lines(base, observed)


def shared_lines(base: str, observed: Observed) -> list[str]:
    """The lines that say where the endpoints are, at ``base``."""
    base = base.rstrip("/")
    lines = []
    if observed.metrics_path is not None:
        lines.append(f"s3wsgi: metrics at {base}{observed.metrics_path}")
    if observed.health_path is not None:
        lines.append(f"s3wsgi: health check at {base}{observed.health_path}")
    return lines


def _endpoints(app: WSGIApplication | None, mount: S3App, observed: Observed) -> Endpoints:
    return Endpoints(
        app,
        mounts=[mount],
        metrics_path=observed.metrics_path,
        health_path=observed.health_path,
        health_interval=observed.health_interval,
    )


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _url(host: str, port: int) -> str:
    if ":" in str(host):
        host = f"[{host}]"
    return f"http://{host}:{port}"

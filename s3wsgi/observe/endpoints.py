"""The metrics and the health check at paths of their own, in front of an app.

Usage, with gunicorn's workers and a bucket under ``/docs``::

    from s3wsgi import S3Middleware
    from s3wsgi.observe.endpoints import Endpoints

    docs = S3Middleware(app.wsgi_app, bucket="my-docs", prefix="/docs", metrics=True)
    app.wsgi_app = Endpoints(
        docs, mounts=[docs], metrics_path="/metrics", health_path="/healthz"
    )

Neither path may fall under a mount's prefix: it would hide a key of the
bucket. ``s3wsgi serve`` can serve them on a port of their own instead
(``--admin-port``), where any path will do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from .health import DEFAULT_INTERVAL, Health, HoldsMounts, Watched

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry


def claimed(path: str, prefix: str) -> bool:
    """Whether a mount under ``prefix`` claims ``path`` (``/`` claims all)."""
    prefix = prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


def check_path(label: str, path: str, prefixes: Iterable[str]) -> None:
    """Refuse a path that is no absolute path, or that a mount claims."""
    if not path.startswith("/") or (path.endswith("/") and path != "/"):
        raise ValueError(f"{label} must be an absolute path without a trailing slash: {path!r}")
    for prefix in prefixes:
        if claimed(path, prefix):
            raise ValueError(
                f"{label} {path} is under the served prefix {prefix}: a key of the bucket"
                " would be hidden"
            )


def _not_found(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    body = b"404 Not Found\n"
    start_response(
        "404 Not Found",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


class Endpoints:
    """``metrics_path`` and ``health_path`` answered here, the rest by ``app``.

    :param app: the WSGI app the mounts are part of; None for a listener of
        the endpoints alone (everything else is 404, and any path will do).
    :param mounts: the middlewares (or their
        :class:`~s3wsgi.middleware.Mount` instances) the health check asks
        about.
    :param metrics_path: where the Prometheus series are, or None. The
        mounts need ``metrics`` on; this imports prometheus-client.
    :param health_path: where the health check is, or None.
    :param health_interval: seconds an answer from S3 vouches for its health,
        and the least time between two probes (:mod:`s3wsgi.observe.health`).
    :param registry: the registry the mounts' ``metrics`` option names, if
        not prometheus-client's default one.
    """

    def __init__(
        self,
        app: WSGIApplication | None,
        *,
        mounts: Iterable[Watched | HoldsMounts] = (),
        metrics_path: str | None = None,
        health_path: str | None = None,
        health_interval: float = DEFAULT_INTERVAL,
        registry: CollectorRegistry | None = None,
    ):
        # A middleware stands for its mounts.
        each: list[Watched] = []
        for given in mounts:
            each.extend(given.mounts if hasattr(given, "mounts") else [given])
        mounts = each
        prefixes = [mount.options.prefix for mount in mounts] if app is not None else []
        for label, path in (("metrics_path", metrics_path), ("health_path", health_path)):
            if path is not None:
                check_path(label, path, prefixes)
        if metrics_path is not None and metrics_path == health_path:
            raise ValueError("metrics_path and health_path must differ")
        self.app: WSGIApplication = app if app is not None else _not_found
        self.routes: dict[str, WSGIApplication] = {}
        if metrics_path is not None:
            from .metrics import metrics_app

            self.routes[metrics_path] = metrics_app(registry)
        if health_path is not None:
            self.routes[health_path] = Health(mounts, interval=health_interval)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        route = self.routes.get(environ.get("PATH_INFO", ""))
        if route is None:
            return self.app(environ, start_response)
        return route(environ, start_response)

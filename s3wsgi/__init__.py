"""Serve files kept in Amazon S3 (or any S3-compatible store) from any WSGI app."""

from __future__ import annotations

__version__ = "0.2.0"

from .middleware import S3App, S3Middleware  # noqa: E402
from .options import Options  # noqa: E402

__all__ = ["Options", "S3App", "S3Middleware", "__version__"]

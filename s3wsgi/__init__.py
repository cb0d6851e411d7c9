"""Serve files kept in Amazon S3 (or any S3-compatible store) from any WSGI app."""

from __future__ import annotations

__version__ = "0.2.0"

from .middleware import S3App, S3Middleware  # noqa: E402
from .option_groups import (  # noqa: E402
    S3,
    Access,
    Cache,
    Downloads,
    Listing,
    Observe,
    Published,
    Redirects,
    Safety,
    Versions,
)
from .options import Options  # noqa: E402

__all__ = [
    "S3",
    "Access",
    "Cache",
    "Downloads",
    "Listing",
    "Observe",
    "Options",
    "Published",
    "Redirects",
    "S3App",
    "S3Middleware",
    "Safety",
    "Versions",
    "__version__",
]

"""Serve files kept in Amazon S3 (or any S3-compatible store) from any WSGI app."""

from __future__ import annotations

from .middleware import S3App, S3Middleware

__all__ = ["S3App", "S3Middleware"]

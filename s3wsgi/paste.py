"""The public home of :mod:`s3wsgi.integrations.paste`."""

from __future__ import annotations

from .integrations.paste import app_factory, filter_app_factory

__all__ = ["app_factory", "filter_app_factory"]

"""The public home of :mod:`s3wsgi.integrations.flask`."""

from __future__ import annotations

__all__ = ["annotations"]

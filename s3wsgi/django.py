"""The public home of :mod:`s3wsgi.integrations.django`."""

from __future__ import annotations

__all__ = ["annotations"]

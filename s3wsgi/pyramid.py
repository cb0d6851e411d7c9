"""The public home of :mod:`s3wsgi.integrations.pyramid`."""

from __future__ import annotations

from .integrations.pyramid import (
    REGISTRY_KEY,
    SETTINGS_PREFIX,
    S3Response,
    includeme,
    tween_factory,
)

__all__ = ["REGISTRY_KEY", "SETTINGS_PREFIX", "S3Response", "includeme", "tween_factory"]

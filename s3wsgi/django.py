"""The public home of :mod:`s3wsgi.integrations.django`."""

from __future__ import annotations

from .integrations.django import S3WSGIMiddleware, django_response, wsgi_string

__all__ = ["S3WSGIMiddleware", "django_response", "wsgi_string"]

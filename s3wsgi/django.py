"""The public home of :mod:`s3wsgi.integrations.django`."""

from __future__ import annotations

from .http.paths import text_to_wsgi as wsgi_string
from .integrations.django import S3WSGIMiddleware, django_response, login_required

__all__ = ["S3WSGIMiddleware", "django_response", "login_required", "wsgi_string"]

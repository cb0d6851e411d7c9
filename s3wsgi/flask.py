"""The public home of :mod:`s3wsgi.integrations.flask`."""

from __future__ import annotations

from .integrations.flask import S3Docs, config_options, in_request_context, login_required

__all__ = ["S3Docs", "config_options", "in_request_context", "login_required"]

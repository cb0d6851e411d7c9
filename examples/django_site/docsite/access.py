"""Who may read the internal documentation."""

from __future__ import annotations


def staff_only(request) -> bool:
    """``S3WSGI["authorize"]``: Django's request, after AuthenticationMiddleware."""
    return request.user.is_authenticated and request.user.is_staff

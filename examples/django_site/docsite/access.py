"""Who may read the internal documentation."""

from __future__ import annotations

from s3wsgi.django import login_required


def staff_only(request):
    """``S3WSGI["authorize"]``: Django's request, after AuthenticationMiddleware.

    A signed-out reader is sent to the login page (``LOGIN_URL``) and brought
    back after; a signed-in one who is not staff is refused (403)."""
    signed_in = login_required(request)
    if signed_in is not True:
        return signed_in
    return request.user.is_staff

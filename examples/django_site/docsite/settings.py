"""Settings of the example site: the least Django needs, plus s3wsgi's.

The bucket is served twice, to show both ways in:
- ``docsite/wsgi.py`` wraps the whole Django application with
  :class:`s3wsgi.S3Middleware`: ``/docs/`` for everyone, before Django runs;
- ``s3wsgi.django.S3WSGIMiddleware`` in ``MIDDLEWARE``, configured by
  ``S3WSGI``: ``/internal/`` for staff only, ``authorize`` reading
  ``request.user``.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# Demonstration defaults: set DJANGO_SECRET_KEY anywhere real.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "docsite",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Before S3WSGIMiddleware, so that S3's pages get X-Frame-Options too.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After AuthenticationMiddleware, so that authorize can read request.user.
    "s3wsgi.django.S3WSGIMiddleware",
]

ROOT_URLCONF = "docsite.urls"
# Where a signed-out reader of /internal/ is sent (with ?next=, to come back).
LOGIN_URL = "login"
WSGI_APPLICATION = "docsite.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DOCSITE_DATABASE") or BASE_DIR / "db.sqlite3",
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True

# Where the documentation is: `s3wsgi demo`'s embedded S3, or a real bucket.
DOCS_BUCKET = os.environ.get("S3WSGI_BUCKET", "kestrel-docs")
DOCS_ENDPOINT_URL = os.environ.get("S3WSGI_ENDPOINT_URL") or None

S3WSGI = {
    "bucket": DOCS_BUCKET,
    "endpoint_url": DOCS_ENDPOINT_URL,
    "prefix": "/internal",
    "authorize": "docsite.access.staff_only",
}

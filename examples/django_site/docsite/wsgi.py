"""The WSGI application: Django, with the bucket under /docs/ in front of it.

Requests under /docs/ are answered from S3 before Django runs; every other
request reaches Django untouched. ``manage.py runserver`` serves this too
(``WSGI_APPLICATION``), as does any WSGI server (on 8000, as runserver
does; 8080 is ``s3wsgi demo``'s)::

    cd examples/django_site && waitress-serve --listen 127.0.0.1:8000 docsite.wsgi:application
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from s3wsgi import S3Middleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "docsite.settings")

application = S3Middleware(
    get_wsgi_application(),
    bucket=settings.DOCS_BUCKET,
    endpoint_url=settings.DOCS_ENDPOINT_URL,
    prefix="/docs",
)

"""A Django project in one module, served by an ASGI server: the bucket
named in the environment under /files/, through S3WSGIMiddleware.

Run (as the ASGI test does)::

    uvicorn asgi_site:application --app-dir tests/frameworks
"""

from __future__ import annotations

import os

import django
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.http import HttpResponse
from django.urls import path


def home(request):
    return HttpResponse("the app")


urlpatterns = [path("", home)]

settings.configure(
    DEBUG=False,
    SECRET_KEY="asgi-test-only",
    ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[],
    MIDDLEWARE=["s3wsgi.django.S3WSGIMiddleware"],
    S3WSGI={
        "bucket": os.environ["S3WSGI_BUCKET"],
        "endpoint_url": os.environ["S3WSGI_ENDPOINT_URL"],
        "store": os.environ.get("S3WSGI_STORE", "auto"),
        "prefix": "/files",
    },
)
django.setup()
application = get_asgi_application()

"""PasteDeploy entry points: ``use = egg:s3wsgi`` as an app or as a filter.

.. code-block:: ini

    [app:main]
    use = egg:s3wsgi
    bucket = my-docs

    [filter:docs]
    use = egg:s3wsgi
    bucket = my-docs
    prefix = /docs

Every option of :class:`~s3wsgi.S3Middleware` may be given; text is
converted by :mod:`s3wsgi.options` (``fallthrough = yes``, ``read_timeout =
30``, ``headers`` one ``Name: value`` per line, ``authorize =
package.module:callable``).
"""

from __future__ import annotations

from wsgiref.types import WSGIApplication

from ..middleware import S3App, S3Middleware
from ..options import Options


def app_factory(global_conf: dict[str, str], **local_conf: str) -> S3App:
    """``paste.app_factory``: the bucket as a complete app, at ``/`` by default."""
    return S3App(Options.from_settings({"prefix": "/", **local_conf}))


def filter_app_factory(
    app: WSGIApplication, global_conf: dict[str, str], **local_conf: str
) -> S3Middleware:
    """``paste.filter_app_factory``: ``app`` with the bucket under ``prefix``
    (``/docs`` by default)."""
    return S3Middleware(app, Options.from_settings(local_conf))

"""gunicorn's configuration for ``-k gevent --preload``: the master patches
the standard library before it imports the app, as docs/deployment.rst
("gevent and eventlet workers") tells. The worker patches it again after
the fork, too late for a module that an app loaded before the fork has
imported: boto3's ssl, patched after it was imported, recurses without end.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

"""What s3wsgi tells an operator: is it healthy, how fast is it, what went wrong.

- :mod:`~s3wsgi.observe.observer`: the hooks the middleware and the stores
  call, one :class:`~s3wsgi.observe.observer.Observer` per mount, handed to
  its stores when they are made (as their
  :class:`~s3wsgi.stores.events.StoreEvents`).
- :mod:`~s3wsgi.observe.timing`: the ``Server-Timing`` header
  (``server_timing=True``).
- :mod:`~s3wsgi.observe.metrics`: Prometheus series (``metrics=True``, the
  ``metrics`` extra); imported only when turned on.
- :mod:`~s3wsgi.observe.health`: a health check that S3's traffic answers.
- :mod:`~s3wsgi.observe.endpoints`: the metrics and the health check at
  paths of their own in front of an app.

The log lines of S3's faults are the stores' own
(:mod:`s3wsgi.stores.faults`), written whether anything here is on or not.
docs/observability.rst describes the series, the header and the log lines.
"""

from __future__ import annotations

"""``python -m s3wsgi``: the same as the ``s3wsgi`` command."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())

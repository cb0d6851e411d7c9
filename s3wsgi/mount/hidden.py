"""Names a mount never serves nor lists: build leftovers (``.git/``,
``.doctrees/``), the published site's own files (its manifest, the
redirects file), whatever the ``hidden`` option names.

A name hidden only from its parent's listing would still be served, and
listed from inside (``/docs/files/.git/``): so every segment of a path is
checked, before S3 is asked anything.
"""

from __future__ import annotations

import fnmatch
import re

# RFC 8615: a site's public metadata (security.txt, ACME challenges) lives
# under /.well-known/, so ``.*`` alone does not hide it.
WELL_KNOWN = ".well-known"


class Hidden:
    """Which paths under a mount are hidden.

    :param patterns: comma-separated shell patterns, matched against each
        segment of a path (the ``hidden`` option).
    :param site_files: paths under the mount of files that configure the
        site (the redirects file), hidden while any pattern is given.
    """

    def __init__(self, patterns: str, site_files: tuple[str, ...] = ()):
        self.patterns = tuple(p.strip() for p in patterns.split(",") if p.strip())
        self.site_files = frozenset(site_files) if self.patterns else frozenset()
        # Every pattern in one expression, compiled once: what fnmatchcase()
        # finds with any of them, without a call per pattern and segment.
        self._any = re.compile(
            "|".join(f"(?:{fnmatch.translate(pattern)})" for pattern in self.patterns)
        ).match

    def name(self, segment: str) -> bool:
        """Whether one name (a file or a folder) is hidden."""
        if segment == WELL_KNOWN:
            return WELL_KNOWN in self.patterns
        return self.patterns != () and self._any(segment) is not None

    def holds(self, path: str) -> bool:
        """Whether a decoded path under the mount names or crosses a hidden name."""
        if not self.patterns:
            return False
        if path in self.site_files:
            return True
        return any(self.name(segment) for segment in path.split("/") if segment)

"""Content negotiation: choosing a content coding from Accept-Encoding
(RFC 9110 §12.5.3), and reading any field of weighted members (Accept too)."""

from __future__ import annotations

# The codings a variant may have, best first: Brotli is smaller than gzip.
PREFERENCE = ("br", "gzip")


def weighted(header: str | None) -> list[tuple[str, float]]:
    """The members of a field such as Accept or Accept-Encoding, in lower
    case, each with its q-value (RFC 9110 §12.4.2); empty for a missing or
    empty field. A malformed q-value counts as 1, a member without a name
    is skipped."""
    found = []
    for member in (header or "").split(","):
        name, *parameters = member.split(";")
        name = name.strip().lower()
        if not name:
            continue
        quality = 1.0
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    quality = 1.0
        found.append((name, quality))
    return found


def accepted(header: str | None) -> dict[str, float]:
    """Each coding Accept-Encoding names to its q-value (``*`` included)."""
    return dict(weighted(header))


def choose(header: str | None, available: tuple[str, ...] | list[str]) -> str | None:
    """The coding to send of ``available`` (None: the object as stored).

    An acceptable variant (q above 0, a coding not named taking ``*``'s
    q-value) is sent rather than the object as stored, unless the client
    gives identity a higher q-value; among variants the highest q-value
    wins, ties going to :data:`PREFERENCE`'s order. An empty field asks for
    no coding. When no variant is acceptable the object as stored is sent,
    even to ``identity;q=0``, as most servers do.
    """
    if header is None or not available:
        return None
    codings = accepted(header)
    wildcard = codings.get("*", 0.0)
    best, best_quality = None, 0.0
    for name in PREFERENCE:
        if name not in available:
            continue
        quality = codings.get(name)
        if quality is None and name == "gzip":
            quality = codings.get("x-gzip")  # RFC 9110 §8.4.1.3
        if quality is None:
            quality = wildcard
        if quality > best_quality:
            best, best_quality = name, quality
    identity = codings.get("identity")
    if best is None or (identity is not None and identity > best_quality):
        return None
    return best

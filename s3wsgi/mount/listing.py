"""A folder's listing, for a folder path with no index document
(``listing=True``): its subfolders and objects, a page at a time, as HTML
(names escaped, sizes, dates, breadcrumbs, relative links) or as JSON."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from datetime import datetime, timezone
from http import HTTPStatus
from urllib.parse import quote
from wsgiref.types import WSGIEnvironment

from ..http import responses
from ..http.encodings import weighted
from ..http.responses import Response
from ..site import VARIANT_SUFFIXES
from ..stores.base import Listed, Listing

_STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em}"
    "table{border-collapse:collapse;width:100%}td,th{padding:.25em .75em;text-align:left}"
    "td.size,th.size{text-align:right}tr:nth-child(even){background:#f4f6f8}"
    "nav{margin-bottom:1em}"
)


def wants_json(environ: WSGIEnvironment) -> bool:
    """Whether the client prefers JSON to HTML (``?format=json`` too)."""
    if "format=json" in environ.get("QUERY_STRING", "").split("&"):
        return True
    ranked = dict(weighted(environ.get("HTTP_ACCEPT")))
    return ranked.get("application/json", 0) > max(
        ranked.get("text/html", 0), ranked.get("*/*", 0) if "text/html" not in ranked else 0
    )


def visible(
    listing: Listing, folder: str, listed: Callable[[str], bool], after: str | None = None
) -> tuple[list[str], list[Listed]]:
    """The subfolder names and objects to show: names ``listed`` refuses and
    the precompressed variants of listed objects left out (a variant sorts
    just after its object, so the previous page's last key counts too)."""
    names = {item.key[len(folder) :] for item in listing.objects}
    if after:
        names.add(after[len(folder) :])
    suffixes = tuple(VARIANT_SUFFIXES.values())

    def shown(name: str) -> bool:
        if not listed(name):
            return False
        return not (name.endswith(suffixes) and name.rsplit(".", 1)[0] in names)

    folders = [key[len(folder) :].rstrip("/") for key in listing.folders]
    folders = [name for name in folders if name and shown(name)]
    objects = [item for item in listing.objects if shown(item.key[len(folder) :])]
    return folders, objects


def render(
    environ: WSGIEnvironment,
    listing: Listing,
    folder: str,
    shown_path: str,
    listed: Callable[[str], bool],
    extra: list[tuple[str, str]],
    after: str | None = None,
) -> Response:
    """The listing of ``folder`` (a key prefix) shown at ``shown_path``
    (the decoded URL path of the folder, ending in ``/``), the page after
    the key ``after``."""
    folders, objects = visible(listing, folder, listed, after)
    last = max([*listing.folders, *(item.key for item in listing.objects)], default=None)
    next_page = None
    if listing.more and last is not None:
        next_page = "?after=" + quote(last[len(folder) :], safe="")
    if wants_json(environ):
        document = {
            "path": shown_path,
            "folders": folders,
            "objects": [
                {
                    "name": item.key[len(folder) :],
                    "size": item.size,
                    "last_modified": _iso(item.last_modified),
                }
                for item in objects
            ],
            "next": next_page,
        }
        body = json.dumps(document, ensure_ascii=False).encode()
        kind = "application/json"
    else:
        body = _html(shown_path, folders, objects, folder, next_page).encode()
        kind = "text/html; charset=utf-8"
    headers = [
        ("Content-Type", kind),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-cache"),
        ("Vary", "Accept"),
        *responses.STANDARD_HEADERS,
        *extra,
    ]
    return Response(HTTPStatus.OK, headers, [body])


def _html(
    path: str, folders: list[str], objects: list[Listed], folder: str, next_page: str | None
) -> str:
    escape = html.escape
    crumbs, depth = [], path.rstrip("/").count("/")
    parts = path.strip("/").split("/") if path.strip("/") else []
    for index, part in enumerate(parts):
        up = "../" * (depth - index - 1) or "./"
        crumbs.append(f'<a href="{escape(up)}">{escape(part)}</a>')
    rows = []
    if parts:
        rows.append('<tr><td><a href="../">../</a></td><td></td><td class="size"></td></tr>')
    for name in folders:
        link = quote(name) + "/"
        rows.append(
            f'<tr><td><a href="{escape(link)}">{escape(name)}/</a></td>'
            '<td></td><td class="size">-</td></tr>'
        )
    for item in objects:
        name = item.key[len(folder) :]
        rows.append(
            f'<tr><td><a href="{escape(quote(name))}">{escape(name)}</a></td>'
            f"<td>{escape(_iso(item.last_modified) or '')}</td>"
            f'<td class="size">{escape(_size(item.size))}</td></tr>'
        )
    more = f'<p><a href="{escape(next_page)}">Next page</a></p>' if next_page else ""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>Index of {escape(path)}</title><style>{_STYLE}</style></head><body>"
        f"<nav>{' / '.join(crumbs) or '/'}</nav><h1>Index of {escape(path)}</h1>"
        '<table><thead><tr><th>Name</th><th>Last modified</th><th class="size">Size</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}</body></html>\n"
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ") if moment else None


def _size(size: int) -> str:
    amount: float = size
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return str(amount)

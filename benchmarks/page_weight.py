"""Benchmark: bytes on the wire per page load, with and without the Brotli and
gzip variants ``s3wsgi publish`` makes, on the demo site and on a generated
5,000-file site.

Usage::

    python benchmarks/page_weight.py               # both sites
    python benchmarks/page_weight.py --files 1000  # a smaller generated site

Each site is published with ``s3wsgi publish`` to moto's S3 server (in a
process of its own), served by ``S3App`` under waitress, and read over HTTP
twice: as a client that accepts no coding, and as a browser does
(``Accept-Encoding: gzip, deflate, br, zstd``). A page load is an HTML page
and what it links (stylesheets, scripts, images); on the generated site,
whose pages link nothing, it is each page with one stylesheet and one script
of the site. The figures are body bytes, as Content-Length says them.

Target: the demo site's HTML, CSS and JS weigh at most 35% of identity.

One run (2 shared cores; the figures are bytes, so the machine's load does
not change them)::

    the demo site: every page load (the page, its stylesheet, script, images)
                      identity   as a browser   ratio
      html             144,881         49,373     34%
      css               18,630          5,850     31%
      js                 5,424          2,154     40%
      other              4,870          4,870    100%
      HTML+CSS+JS      168,935         57,377     34%

    a generated site of 5,000 files (63.3 MiB): 100 page loads (a page, a stylesheet, a script)
                      identity   as a browser   ratio
      html             881,723        181,339     21%
      css            1,082,702        211,743     20%
      js             1,626,575        151,744      9%
      HTML+CSS+JS    3,591,000        544,826     15%
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import sys
import tempfile
import threading
from importlib import resources
from urllib.parse import quote, unquote, urljoin, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from publish import generate_site  # noqa: E402
from run import BENCH_ENV, moto_s3  # noqa: E402

BROWSER = "gzip, deflate, br, zstd"
_LINK = re.compile(r'(?:href|src)="([^"#?]+)"')


def body_bytes(base: str, path: str, accept: str | None) -> tuple[int, str]:
    """The answer's body size and Content-Type for ``path``."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        headers = {"Accept-Encoding": accept} if accept else {"Accept-Encoding": "identity"}
        connection.request("GET", quote(path), headers=headers)
        answer = connection.getresponse()
        body = answer.read()
        assert answer.status == 200, (path, answer.status)
        return len(body), answer.getheader("Content-Type", "")
    finally:
        connection.close()


def page_loads(base: str, pages: list[str], extra: list[str]) -> dict[str, list[int]]:
    """Bytes per kind (html, css, js, other), identity and as a browser."""
    totals = {kind: [0, 0] for kind in ("html", "css", "js", "other")}
    for page in pages:
        linked = []
        with_links = body_bytes(base, page, None)
        if with_links[1].startswith("text/html"):
            parts = urlsplit(base)
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            connection.request("GET", quote(page))
            html = connection.getresponse().read().decode("utf-8", "replace")
            connection.close()
            linked = [unquote(urljoin(page, link)) for link in _LINK.findall(html)]
            linked = [link for link in linked if link.startswith("/docs/") and "." in link[-6:]]
        for path in [page, *linked, *extra]:
            identity, kind = body_bytes(base, path, None)
            encoded, _ = body_bytes(base, path, BROWSER)
            name = (
                "html"
                if "html" in kind
                else "css"
                if "css" in kind
                else "js"
                if "javascript" in kind
                else "other"
            )
            totals[name][0] += identity
            totals[name][1] += encoded
    return totals


def serve_site(endpoint: str, bucket: str):
    from waitress.server import create_server

    from s3wsgi import S3App

    app = S3App(bucket=bucket, prefix="/docs", endpoint_url=endpoint, region_name="us-east-1")
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    return server, f"http://127.0.0.1:{server.effective_port}"


def stop(server) -> None:
    server.task_dispatcher.shutdown(timeout=5)  # the workers first, then the sockets
    server.close()


def report(name: str, totals: dict[str, list[int]]) -> None:
    print(f"\n{name}")
    print(f"  {'':11} {'identity':>12} {'as a browser':>14} {'ratio':>7}")
    text_identity = text_encoded = 0
    for kind, (identity, encoded) in totals.items():
        if identity:
            print(f"  {kind:11} {identity:12,} {encoded:14,} {encoded / identity:7.0%}")
        if kind != "other":
            text_identity += identity
            text_encoded += encoded
    print(
        f"  {'HTML+CSS+JS':11} {text_identity:12,} {text_encoded:14,} "
        f"{text_encoded / text_identity:7.0%}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=5000, help="files of the generated site")
    parser.add_argument("--pages", type=int, default=200, help="page loads of it to measure")
    args = parser.parse_args(argv)
    os.environ.update(BENCH_ENV)
    import boto3

    from s3wsgi.publish import publish

    with moto_s3() as endpoint, tempfile.TemporaryDirectory() as root:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        # The demo site, as the demo publishes it.
        client.create_bucket(Bucket="demo")
        with resources.as_file(resources.files("s3wsgi").joinpath("demo_site")) as site:
            publish(site, bucket="demo", client=client, cache_control="no-cache")
            pages = [
                "/docs/" + os.path.relpath(os.path.join(folder, name), site).replace(os.sep, "/")
                for folder, _, names in os.walk(site)
                for name in names
                if name.endswith(".html")
            ]
        server, base = serve_site(endpoint, "demo")
        try:
            demo = page_loads(base, sorted(pages), [])
        finally:
            stop(server)
        report("the demo site: every page load (the page, its stylesheet, script, images)", demo)

        count, size = generate_site(root, args.files)
        client.create_bucket(Bucket="generated")
        publish(root, bucket="generated", client=client)
        files = sorted(
            os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
            for folder, _, names in os.walk(root)
            for name in names
        )
        html = [f"/docs/{f}" for f in files if f.endswith(".html")][: args.pages]
        css = [f"/docs/{f}" for f in files if f.endswith(".css")]
        js = [f"/docs/{f}" for f in files if f.endswith(".js")]
        server, base = serve_site(endpoint, "generated")
        try:
            generated = {kind: [0, 0] for kind in ("html", "css", "js", "other")}
            for index, page in enumerate(html):
                extra = [css[index % len(css)], js[index % len(js)]]
                for kind, (identity, encoded) in page_loads(base, [page], extra).items():
                    generated[kind][0] += identity
                    generated[kind][1] += encoded
        finally:
            stop(server)
        report(
            f"a generated site of {count:,} files ({size / 2**20:.1f} MiB):"
            f" {len(html)} page loads (a page, a stylesheet, a script)",
            generated,
        )
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

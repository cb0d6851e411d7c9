"""Benchmark: ``s3wsgi publish`` of a generated 5,000-file site, beside a
plain boto3 ``put_object`` loop of the same files.

Usage::

    python benchmarks/publish.py                 # 5,000 files
    python benchmarks/publish.py --files 1000    # a smaller site
    python benchmarks/publish.py --json FILE     # the figures, machine-readable

What it does:

1. Generates a built documentation site in a temporary folder, the same
   bytes on every run (seeded): HTML pages, JavaScript and CSS with
   content-hashed names (webpack's ``name.3f9a1c2e.js`` and Vite's
   ``name-BfYx3sQ1.js``), SVG icons and PNG images (incompressible).
2. Starts moto's S3 server in a process of its own on loopback (the only
   S3 server installable here that takes PutObject; it manages a few
   hundred requests per second, which bounds every figure below).
3. Publishes the site (first run), publishes it again unchanged, and runs a
   plain ``put_object`` loop over the same files twice, each into a fresh
   bucket. For each: wall time, the S3 requests made (every HTTP request
   boto3 sent, retries included), the objects written and the bytes sent.

Target: the unchanged second publish of 5,000 files takes under 10 s and
writes no object.

One run on a 2-core machine shared with other work (5,000 files, 63.3 MiB)::

                                             time  requests   written  MiB sent
      publish, first run                   67.8 s     12714     12713      76.3
      publish, unchanged second run         4.6 s        14         0       0.0
      put_object loop, run 1               31.6 s      5000      5000      63.3
      put_object loop, run 2               32.7 s      5000      5000      63.3

The first publish writes 2.5 times the objects (7,712 Brotli and gzip
variants) and compresses 40 MiB of text at Brotli's quality 11; the second
makes 13 ListObjectsV2 requests (12,713 keys) and reads the manifest, and
most of its time is moto listing and botocore parsing those pages. The loop
sends every file again on every run, with no charset, Cache-Control or
variants.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from run import BENCH_ENV, moto_s3  # noqa: E402  (benchmarks/run.py)

TARGET_SECONDS = 10.0
_MIB = 1 << 20

# The site's mix, as fractions of its files: what a documentation build
# with a bundled front end holds.
MIX = (("html", 0.40), ("js", 0.20), ("css", 0.08), ("svg", 0.14), ("png", 0.18))
WORDS = [
    "queue",
    "worker",
    "job",
    "retry",
    "backoff",
    "schedule",
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "for",
    "with",
    "each",
    "returns",
    "raises",
    "argument",
    "option",
    "default",
    "timeout",
    "connection",
    "bucket",
    "object",
    "key",
]


def prose(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def hex_hash(rng: random.Random) -> str:
    return f"{rng.getrandbits(32):08x}"


def vite_hash(rng: random.Random) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    # Vite's hashes nearly always hold a digit; keep the generated ones so.
    return "".join(rng.choice(alphabet) for _ in range(7)) + str(rng.randrange(10))


def generate_site(root: str, files: int, seed: int = 1) -> tuple[int, int]:
    """Write ``files`` files under ``root``; their count and total bytes."""
    rng = random.Random(seed)
    counts = {kind: int(files * share) for kind, share in MIX}
    counts["html"] += files - sum(counts.values())
    written = []
    for index in range(counts["html"]):
        section = f"section{index % 40:02d}/topic{index // 40 % 10}"
        body = "".join(
            f"<h2>{prose(rng, 4)}</h2><p>{prose(rng, rng.randrange(40, 400))}</p>\n"
            for _ in range(rng.randrange(2, 12))
        )
        written.append(
            (
                f"{section}/page{index:05d}.html",
                f"<!DOCTYPE html><html><head><title>{prose(rng, 3)}</title></head>"
                f"<body>{body}</body></html>\n".encode(),
            )
        )
    for index in range(counts["js"]):
        name = (
            f"assets/chunk{index}.{hex_hash(rng)}.js"
            if index % 2
            else f"assets/mod{index}-{vite_hash(rng)}.js"
        )
        code = "".join(
            f"export function f{n}(a, b) {{ return a.{rng.choice(WORDS)}(b, {n}); }}\n"
            for n in range(rng.randrange(10, 600))
        )
        written.append((name, code.encode()))
    for index in range(counts["css"]):
        rules = "".join(
            f".{rng.choice(WORDS)}-{n} {{ margin: {n % 9}px; color: #{rng.getrandbits(24):06x} }}\n"
            for n in range(rng.randrange(20, 500))
        )
        written.append((f"assets/style{index}.{hex_hash(rng)}.css", rules.encode()))
    for index in range(counts["svg"]):
        paths = "".join(
            f'<path d="M{rng.randrange(100)} {rng.randrange(100)}L{rng.randrange(100)} '
            f'{rng.randrange(100)}Z"/>'
            for _ in range(rng.randrange(3, 120))
        )
        written.append(
            (
                f"_static/icons/icon{index}.svg",
                f'<svg xmlns="http://www.w3.org/2000/svg">{paths}</svg>'.encode(),
            )
        )
    for index in range(counts["png"]):
        size = rng.randrange(1_000, 60_000)
        written.append((f"_images/figure{index}.png", b"\x89PNG\r\n\x1a\n" + rng.randbytes(size)))
    total = 0
    for path, body in written:
        target = os.path.join(root, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as file:
            file.write(body)
        total += len(body)
    return len(written), total


class Counter:
    """Every HTTP request a boto3 client sends, and the objects it writes."""

    def __init__(self, client):
        self.requests = 0
        self.writes = 0
        self._lock = threading.Lock()
        client.meta.events.register("before-send.s3", self._send)
        client.meta.events.register("after-call.s3.PutObject", self._write)
        client.meta.events.register("after-call.s3.CompleteMultipartUpload", self._write)

    def _send(self, **kwargs):
        with self._lock:
            self.requests += 1

    def _write(self, **kwargs):
        with self._lock:
            self.writes += 1


def measure(label: str, run, client) -> dict:
    counter = Counter(client)
    started = time.monotonic()
    sent = run()
    seconds = time.monotonic() - started
    client.meta.events.unregister("before-send.s3", counter._send)
    client.meta.events.unregister("after-call.s3.PutObject", counter._write)
    client.meta.events.unregister("after-call.s3.CompleteMultipartUpload", counter._write)
    figures = {
        "label": label,
        "seconds": round(seconds, 2),
        "requests": counter.requests,
        "objects_written": counter.writes,
        "mib_sent": round(sent / _MIB, 1),
    }
    print(
        f"  {label:<32} {seconds:8.1f} s {counter.requests:9d} {counter.writes:9d}"
        f" {sent / _MIB:9.1f}",
        flush=True,
    )
    return figures


def put_object_loop(client, bucket: str, root: str) -> int:
    """What a hand-written script does: every file, one PutObject each."""
    sent = 0
    for folder, _, names in os.walk(root):
        for name in sorted(names):
            filename = os.path.join(folder, name)
            key = os.path.relpath(filename, root).replace(os.sep, "/")
            with open(filename, "rb") as file:
                body = file.read()
            client.put_object(Bucket=bucket, Key=f"docs/{key}", Body=body)
            sent += len(body)
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000, help="files in the site (5000)")
    parser.add_argument("--json", metavar="FILE", help="write the figures to FILE")
    options = parser.parse_args(argv)
    os.environ.update(BENCH_ENV)

    from s3wsgi.publish import publish
    from s3wsgi.publish.remote import make_client

    with tempfile.TemporaryDirectory() as work, moto_s3() as endpoint:
        site = os.path.join(work, "html")
        count, size = generate_site(site, options.files)
        print(f"site: {count} files, {size / _MIB:.1f} MiB; S3: moto's server at {endpoint}")
        client = make_client(endpoint_url=endpoint, region_name="us-east-1")
        try:
            for bucket in ("published", "looped"):
                client.create_bucket(Bucket=bucket)
            print(f"  {'':<32} {'time':>10} {'requests':>9} {'written':>9} {'MiB sent':>9}")
            results = {}

            def publish_once():
                result = publish(site, bucket="published", key_prefix="docs", client=client)
                results["last"] = result
                return result.uploaded_bytes

            rows = [measure("publish, first run", publish_once, client)]
            first = results["last"]
            rows.append(measure("publish, unchanged second run", publish_once, client))
            second = results["last"]
            for run in (1, 2):
                rows.append(
                    measure(
                        f"put_object loop, run {run}",
                        lambda: put_object_loop(client, "looped", site),
                        client,
                    )
                )
        finally:
            client.close()

    variants = sum(1 for key in first.uploaded if key.endswith((".br", ".gz")))
    unchanged = rows[1]
    met = unchanged["seconds"] < TARGET_SECONDS and unchanged["objects_written"] == 0
    print(
        f"\npublish wrote {len(first.uploaded)} objects ({count} files, {variants} variants)"
        f" and the manifest; the second run found {second.unchanged} unchanged."
    )
    print(
        f"target: unchanged second publish under {TARGET_SECONDS:.0f} s, no object written:"
        f" {unchanged['seconds']:.1f} s, {unchanged['objects_written']} written"
        f" -> {'met' if met else 'NOT met'}"
    )
    if options.json:
        with open(options.json, "w") as file:
            json.dump({"files": count, "bytes": size, "runs": rows, "target_met": met}, file)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

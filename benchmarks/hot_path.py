"""CPU per uncached request in s3wsgi's own process, with no server: the
middleware called directly, so only what it (and its store) spends is counted.

Usage::

    python benchmarks/hot_path.py                       # both stores, 3,000 requests each
    python benchmarks/hot_path.py --requests 1000 --stores fast
    python benchmarks/hot_path.py --baseline ../old     # another checkout's s3wsgi too

latency.py's S3 stand-in runs in a child process at 0 ms, and
``S3Middleware(host, bucket=..., endpoint_url=..., prefix="/s3",
server_threads=64)`` (the default, fast store, and ``store="boto3"``) is
called with a WSGI environ as a browser's (Accept, Accept-Encoding,
Accept-Language, User-Agent, a cookie) for a 10 KiB object, its body read
to the end and closed, as a server would. Three kinds of request:

- ``200``: a GET, half of them with an If-None-Match that does not match;
- ``304``: a GET with an If-None-Match of the object's ETag;
- ``HEAD``: a HEAD.

For each it prints the process's CPU (``time.process_time``: every thread,
obstore's runtime included) per request, the best of ``--rounds`` rounds,
and then, from one round under cProfile, the functions of s3wsgi that take
the most time of their own (tottime) per request. Each round runs in a
child process importing a checkout's s3wsgi; ``--baseline DIR`` measures
DIR's too, its rounds in turns with this one's, so that a neighbour's load
on the machine falls on both alike.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import time

import run  # benchmarks/run.py: its environment and helpers

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = "10k.bin"
KINDS = ("200", "304", "HEAD")
STORES = {"fast": {}, "boto3": {"store": "boto3"}}
BROWSER = {
    "HTTP_ACCEPT": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "HTTP_ACCEPT_ENCODING": "gzip, deflate, br, zstd",
    "HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.5",
    "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "HTTP_COOKIE": "session=0123456789abcdef; theme=dark",
    "HTTP_CONNECTION": "keep-alive",
}


def stand_in() -> tuple[subprocess.Popen[bytes], str]:
    """latency.py's S3 stand-in at 0 ms, once it answers."""
    port = run.free_port()
    command = [sys.executable, os.path.join(HERE, "latency.py"), "--s3", str(port)]
    process = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    try:
        run.wait_for(f"{url}/bench/{KEY}", timeout=10)
    except OSError:
        process.kill()
        raise SystemExit("the S3 stand-in did not start") from None
    return process, url


def environ_for(kind: str, number: int, etag: str) -> dict[str, object]:
    """A browser's request for the object, as a WSGI server would hand it on."""
    from wsgiref.util import setup_testing_defaults

    environ: dict[str, object] = {
        "REQUEST_METHOD": "HEAD" if kind == "HEAD" else "GET",
        "PATH_INFO": f"/s3/{KEY}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        **BROWSER,
    }
    if kind == "304":
        environ["HTTP_IF_NONE_MATCH"] = etag
    elif kind == "200" and number % 2:
        environ["HTTP_IF_NONE_MATCH"] = '"0123456789abcdef0123456789abcdef"'
    setup_testing_defaults(environ)
    return environ


def call(app, environ: dict[str, object]) -> tuple[str, dict[str, str]]:
    """One request through the app, its body read and closed: the status and headers."""
    seen: list[object] = []

    def start_response(status, headers, exc_info=None):
        seen[:] = [status, headers]

    body = app(environ, start_response)
    try:
        for _chunk in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    status, headers = seen
    return str(status), dict(headers)  # type: ignore[call-overload]


def measure(s3_url: str, store: str, requests: int, rounds: int, top: int) -> dict:
    """CPU ms per request of each kind, and the costliest s3wsgi functions."""
    from s3wsgi import S3Middleware

    def host(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "8")])
        return [b"host app"]

    app = S3Middleware(
        host,
        bucket="bench",
        endpoint_url=s3_url,
        addressing_style="path",
        prefix="/s3",
        server_threads=64,
        **STORES[store],
    )
    status, headers = call(app, environ_for("200", 0, ""))
    assert status.startswith("200"), status
    etag = headers["ETag"]
    expected = {"200": "200", "304": "304", "HEAD": "200"}
    result: dict[str, dict] = {}
    for kind in KINDS:
        environs = [environ_for(kind, number, etag) for number in range(requests)]
        for environ in environs[:200]:  # warm: connections, memos
            status, _ = call(app, dict(environ))
            assert status.startswith(expected[kind]), (kind, status)
        best = float("inf")
        for _ in range(rounds):
            fresh = [dict(environ) for environ in environs]
            start = time.process_time()
            for environ in fresh:
                call(app, environ)
            best = min(best, (time.process_time() - start) / requests * 1000)
        profile = cProfile.Profile()
        fresh = [dict(environ) for environ in environs]
        profile.enable()
        for environ in fresh:
            call(app, environ)
        profile.disable()
        stats = pstats.Stats(profile)
        costs = []
        for (path, line, name), row in stats.stats.items():  # type: ignore[attr-defined]
            if f"{os.sep}s3wsgi{os.sep}" not in path:
                continue
            where = path.split(f"{os.sep}s3wsgi{os.sep}", 1)[1]
            costs.append((row[2] / requests * 1000, row[1], f"{where}:{line}({name})"))
        costs.sort(reverse=True)
        result[kind] = {
            "cpu_ms": best,
            "s3wsgi_tottime_ms": sum(each[0] for each in costs),
            "top": costs[:top],
        }
    return result


def child(code: str, s3_url: str, args: argparse.Namespace) -> dict:
    """The figures of the s3wsgi in ``code``, measured in a child process."""
    command = [
        sys.executable, os.path.abspath(__file__), "--child", "--s3", s3_url,
        "--requests", str(args.requests), "--rounds", "1",
        "--stores", args.stores, "--top", str(args.top),
    ]  # fmt: skip
    environ = {**os.environ, **run.BENCH_ENV, "PYTHONPATH": code}
    output = subprocess.run(command, env=environ, cwd=code, check=True, capture_output=True)
    return json.loads(output.stdout)  # type: ignore[no-any-return]


def report(label: str, figures: dict) -> None:
    print(f"\n== {label}")
    for store, kinds in figures.items():
        for kind, row in kinds.items():
            print(
                f"{store:>5} {kind:>4}: {row['cpu_ms']:.3f} ms CPU/request"
                f" (s3wsgi's own functions under cProfile: {row['s3wsgi_tottime_ms']:.3f} ms)"
            )
            for ms, calls, where in row["top"]:
                print(f"      {ms * 1000:7.1f} us {calls:>7} calls  {where}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="per kind and round")
    parser.add_argument("--rounds", type=int, default=3, help="the best one is shown")
    parser.add_argument("--stores", default=",".join(STORES))
    parser.add_argument("--top", type=int, default=12, help="s3wsgi functions shown")
    parser.add_argument("--baseline", help="another checkout, measured in turns with this one")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--s3", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    stores = args.stores.split(",")
    if args.child:
        figures = {
            store: measure(args.s3, store, args.requests, args.rounds, args.top) for store in stores
        }
        json.dump(figures, sys.stdout)
        return 0
    process, s3_url = stand_in()
    try:
        codes = {"this checkout": run.REPOSITORY}
        if args.baseline:
            codes = {f"baseline ({args.baseline})": os.path.abspath(args.baseline), **codes}
        measured: dict[str, dict] = {}
        for _ in range(args.rounds):
            for label, code in codes.items():
                figures = child(code, s3_url, args)
                best = measured.setdefault(label, figures)
                for store, kinds in figures.items():
                    for kind, row in kinds.items():
                        if row["cpu_ms"] < best[store][kind]["cpu_ms"]:
                            best[store][kind] = row
    finally:
        process.kill()
        process.wait()
    print(f"{args.requests} requests per kind, best of {args.rounds} rounds; 10 KiB object")
    for label, figures in measured.items():
        report(label, figures)
    if len(measured) == 2:
        (before, old), (_after, new) = measured.items()
        print("\n== CPU ms per request, baseline -> this checkout")
        for store in stores:
            for kind in KINDS:
                was, now = old[store][kind]["cpu_ms"], new[store][kind]["cpu_ms"]
                print(f"{store:>5} {kind:>4}: {was:.3f} -> {now:.3f} ({(now - was) / was:+.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

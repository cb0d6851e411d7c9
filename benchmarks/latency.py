"""S3 is milliseconds away: s3wsgi's servers beside nginx ``proxy_pass``
when every S3 answer's first byte comes late.

Usage::

    python benchmarks/latency.py            # 10 s per run
    python benchmarks/latency.py --quick    # 2 s per run (about 2 minutes)

The S3 stand-in is a small asyncio server answering path-style GetObject
and HeadObject (``GET /bucket/key``) from memory, each answer held back
``--latency`` milliseconds before its first byte, as S3 in another zone
is. Its own req/s (wrk straight at it) is measured and printed in every
run: at 0 ms it must be well above what the setups reach, or it, not they,
is measured. With C connections and a latency of L seconds, no setup can
pass C / L req/s, nginx included: the ratio against nginx is the figure.

Every setup serves ``/s3/<key>`` with a host app's ``/`` beside it, loaded
by ``wrk -t2 -c64`` (see benchmarks/README.md and docs/deployment.rst):

- nginx ``proxy_pass``, one worker, upstream keep-alive;
- ``s3wsgi serve`` as it starts by default (64 threads, a bound of 48);
- waitress, one process of 64 threads (``server_threads=64``);
- gunicorn ``gthread``, one worker of 64 threads (``server_threads=64``);
- gunicorn ``-k gevent``, one worker of 1,000 connections, the default
  (fast) store and ``store="boto3"``;
- waitress, 64 threads, with a 64 MiB cache, warm;
- granian (``--interface wsgi``, one worker of 64 blocking threads),
  where it is installed.

``--threads N`` runs the threaded setups with N threads instead of 64 (to
size ``s3wsgi serve``'s default: docs/deployment.rst).

``--flood`` measures what a flood of requests for S3 costs the host app:
32 clients (wrk) ask for one object of an S3 200 ms away, for as many
seconds as a run, while one client asks the host app's ``/hello`` every
20 ms; its p50 and max per setup (``s3wsgi serve``'s is its own 404 for a
path outside the prefix: it has no host app). Setups: ``s3wsgi serve``,
waitress and gunicorn gthread of 64 threads with ``server_threads=64``
(docs/deployment.rst), and gunicorn gevent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import run  # benchmarks/run.py: its tools, nginx and wrk helpers

BUCKET = "bench"
PREFIX = "/s3"
SIZES = {"10k": 10 * 1024, "1m": 1024 * 1024}
LATENCIES_MS = (0, 20, 50)
CONNECTIONS = 64
THREADS = 64
GREEN_CONNECTIONS = 1000  # gunicorn's default --worker-connections
CACHE_BYTES = 64 * 1024 * 1024
SETUPS = {
    "nginx": "nginx proxy_pass, 1 worker",
    "serve": "s3wsgi serve, default (64 threads)",
    "waitress": "waitress, {t} threads",
    "gthread": "gunicorn gthread, 1 x {t} threads",
    "gevent": "gunicorn gevent, 1 worker, default store",
    "gevent-boto3": 'gunicorn gevent, 1 worker, store="boto3"',
    "cache": "waitress, {t} threads, 64 MiB cache, warm",
    "granian": "granian wsgi, 1 worker x {t} threads",
}


# --- the S3 stand-in (run in a child process: ``--s3 PORT``) ---


def s3_stand_in(port: int, latency: float) -> None:
    """Answer GET and HEAD of ``/BUCKET/<name>.bin`` from memory, each
    ``latency`` seconds after its request; a 404 in S3's words otherwise."""
    stamp = email.utils.formatdate(time.time() - 3600, usegmt=True)
    objects = {}
    for name, size in SIZES.items():
        body = os.urandom(size)
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            f'Content-Length: {size}\r\nETag: "{hashlib.md5(body).hexdigest()}"\r\n'
            f"Last-Modified: {stamp}\r\nAccept-Ranges: bytes\r\n"
            "x-amz-request-id: stand-in\r\n\r\n"
        ).encode()
        objects[f"/{BUCKET}/{name}.bin"] = (head, body)
    # HeadBucket, which s3wsgi serve asks before it listens.
    objects[f"/{BUCKET}"] = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nx-amz-request-id: stand-in\r\n\r\n",
        b"",
    )
    error = b"<Error><Code>NoSuchKey</Code><RequestId>stand-in</RequestId></Error>"
    missing = (
        "HTTP/1.1 404 Not Found\r\nContent-Type: application/xml\r\n"
        f"Content-Length: {len(error)}\r\nx-amz-request-id: stand-in\r\n\r\n"
    ).encode()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, target = head.split(b" ", 2)[:2]
                path = target.decode().split("?", 1)[0]
                if latency:
                    await asyncio.sleep(latency)
                if path in objects:
                    status, body = objects[path]
                    writer.write(status if method == b"HEAD" else status + body)
                else:
                    writer.write(missing if method == b"HEAD" else missing + error)
                await writer.drain()
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


@contextlib.contextmanager
def running(command: list[str], url: str, environ: dict[str, str] | None = None):
    """A child process, once ``url`` answers; its pid."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **run.BENCH_ENV, **(environ or {})},
        start_new_session=True,
    )
    try:
        run.wait_for(url)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the servers under test ---


def app(s3_url: str, **options: object):
    """A host app's ``/`` and S3Middleware at PREFIX: what the setups serve."""
    from s3wsgi import S3Middleware

    def host(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "8")])
        return [b"host app"]

    return S3Middleware(
        host,
        bucket=BUCKET,
        prefix=PREFIX,
        endpoint_url=s3_url,
        addressing_style="path",
        variants=False,
        **options,
    )


def application():
    """The app of a setup, from ``LATENCY_SETUP`` and ``LATENCY_S3``: for
    gunicorn and granian, which import ``latency:application``."""
    setup, s3_url = os.environ["LATENCY_SETUP"], os.environ["LATENCY_S3"]
    if setup == "gevent-boto3":
        return app(s3_url, store="boto3", server_threads=GREEN_CONNECTIONS)
    if setup == "gevent":
        return app(s3_url, server_threads=GREEN_CONNECTIONS)
    return app(s3_url, server_threads=threads())


def threads() -> int:
    """The threaded setups' threads: ``--threads``, passed on to servers."""
    return int(os.environ.get("LATENCY_THREADS", THREADS))


def server_command(setup: str, port: int, s3_url: str) -> list[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    python = [sys.executable]
    if setup == "serve":
        return [
            *python, "-m", "s3wsgi", "serve", "--bucket", BUCKET, "--prefix", PREFIX,
            "--endpoint-url", s3_url, "--addressing-style", "path",
            "--variants", "false", "--port", str(port),
        ]  # fmt: skip
    if setup in ("waitress", "cache"):
        return [*python, __file__, "--waitress", setup, "--port", str(port)]
    if setup == "granian":
        return [
            *python, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1", "--blocking-threads", str(threads()),
            "--working-dir", here, "--factory", "latency:application",
        ]  # fmt: skip
    worker = ["--threads", str(threads())] if setup == "gthread" else ["-k", "gevent"]
    return [
        *python, "-m", "gunicorn", "--workers", "1", *worker, "--bind", f"127.0.0.1:{port}",
        "--no-control-socket", "--log-level", "warning", "--keep-alive", "30",
        "--chdir", here, "latency:application()",
    ]  # fmt: skip


def serve_waitress(setup: str, port: int) -> None:
    import logging

    import waitress

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    options: dict[str, object] = {"server_threads": threads()}
    if setup == "cache":
        options["cache_max_bytes"] = CACHE_BYTES
    waitress.serve(
        app(os.environ["LATENCY_S3"], **options),
        host="127.0.0.1",
        port=port,
        threads=threads(),
        connection_limit=1000,
        _quiet=True,
    )


@contextlib.contextmanager
def setup_server(setup: str, s3_url: str, work: str):
    port = run.free_port()
    url = f"http://127.0.0.1:{port}"
    if setup == "nginx":
        s3_port = int(s3_url.rsplit(":", 1)[1])
        body = run.PROXY_SERVER.format(port=port, s3_port=s3_port, prefix=PREFIX, bucket=BUCKET)
        with run.nginx(work, body, port) as (url, pid):
            run.wait_for(url + "/")
            yield url, pid
        return
    environ = {
        "LATENCY_SETUP": setup,
        "LATENCY_S3": s3_url,
        "LATENCY_THREADS": str(threads()),
        # The s3wsgi of this checkout, whichever is installed.
        "PYTHONPATH": os.pathsep.join(filter(None, [run.REPOSITORY, os.environ.get("PYTHONPATH")])),
    }
    # s3wsgi serve has no host app: its own 404 outside the prefix answers.
    ready = url + PREFIX + "/10k.bin" if setup == "serve" else url + "/"
    with running(server_command(setup, port, s3_url), ready, environ) as pid:
        yield url, pid


# --- measuring ---


def measure(setups: list[str], seconds: float, latencies: tuple[int, ...]) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="s3wsgi-latency-") as work:
        for latency in latencies:
            s3_port = run.free_port()
            s3_url = f"http://127.0.0.1:{s3_port}"
            command = [sys.executable, __file__, "--s3", str(s3_port), "--latency", str(latency)]
            with running(command, f"{s3_url}/{BUCKET}/10k.bin") as s3_pid:
                own = run.wrk(f"{s3_url}/{BUCKET}/10k.bin", seconds, CONNECTIONS)
                print(
                    f"\nS3 stand-in, {latency} ms: {own['rps']:,.0f} req/s of its own"
                    f" (10 KiB, -c{CONNECTIONS}; the ceiling is {CONNECTIONS} / latency)",
                    flush=True,
                )
                for setup in setups:
                    with setup_server(setup, s3_url, work) as (url, pid):
                        for size in SIZES:
                            target = f"{url}{PREFIX}/{size}.bin"
                            run.wait_for(target)  # and warms a cache
                            cpu = run.cpu_seconds(pid)
                            figures = run.wrk(target, seconds, CONNECTIONS)
                            figures["cpu_ms"] = (
                                1000 * (run.cpu_seconds(pid) - cpu) / max(figures["requests"], 1)
                            )
                            figures["home_ms"] = ask(url + "/hello")[1]
                            rows.append(
                                {"latency": latency, "size": size, "setup": setup, **figures}
                            )
                            print(line(rows[-1], rows), flush=True)
                del s3_pid
    return rows


def ask(url: str) -> tuple[int, float]:
    """One GET on a new connection: its status (any) and milliseconds."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            answer.read()
            status = answer.status
    except urllib.error.HTTPError as error:
        error.read()
        status = error.code
    return status, 1000 * (time.monotonic() - started)


FLOOD_SETUPS = ("serve", "waitress", "gthread", "gevent")
FLOOD_CLIENTS = 32
FLOOD_LATENCY_MS = 200
FLOOD_THREADS = 64  # as docs/deployment.rst recommends, and s3wsgi serve's default
HELLO_EVERY = 0.02


def flood(setups: list[str], seconds: float) -> list[dict]:
    """The host app's ``/hello`` while FLOOD_CLIENTS ask S3's object."""
    rows = []
    os.environ["LATENCY_THREADS"] = str(FLOOD_THREADS)
    with tempfile.TemporaryDirectory(prefix="s3wsgi-flood-") as work:
        s3_port = run.free_port()
        s3_url = f"http://127.0.0.1:{s3_port}"
        command = [
            sys.executable, __file__, "--s3", str(s3_port), "--latency", str(FLOOD_LATENCY_MS)
        ]  # fmt: skip
        with running(command, f"{s3_url}/{BUCKET}/10k.bin"):
            print(
                f"\nflood: {FLOOD_CLIENTS} clients on one 10 KiB object, S3 {FLOOD_LATENCY_MS} ms"
                f" away, {seconds:g} s; /hello every {HELLO_EVERY * 1000:g} ms meanwhile",
                flush=True,
            )
            for setup in setups:
                with setup_server(setup, s3_url, work) as (url, _pid):
                    rows.append({"setup": setup, **flooded(url, seconds)})
                    print(flood_line(rows[-1]), flush=True)
    return rows


def flooded(url: str, seconds: float) -> dict:
    """wrk's flood on the object, and ``/hello``'s times meanwhile."""
    result: dict = {}
    flooding = threading.Thread(
        target=lambda: result.update(run.wrk(f"{url}{PREFIX}/10k.bin", seconds, FLOOD_CLIENTS))
    )
    flooding.start()
    time.sleep(1.0)  # the flood under way: every S3 turn taken
    times, statuses = [], set()
    end = time.monotonic() + seconds - 1.5
    while time.monotonic() < end:
        status, took = ask(url + "/hello")
        statuses.add(status)
        times.append(took)
        time.sleep(HELLO_EVERY)
    flooding.join()
    times.sort()
    return {
        "hello_p50": times[len(times) // 2],
        "hello_max": times[-1],
        "hello_count": len(times),
        "hello_status": ",".join(map(str, sorted(statuses))),
        **result,
    }


def flood_line(row: dict) -> str:
    met = row["hello_p50"] < 100 and row["hello_max"] < 250
    return (
        f"  {label(row['setup']):<44}"
        f" /hello p50 {row['hello_p50']:6.1f} ms  max {row['hello_max']:6.1f} ms"
        f"  ({row['hello_count']} asked, status {row['hello_status']})"
        f"  flood {row['rps']:,.0f} req/s, {row['non_2xx']} non-2xx"
        f"  {'ok' if met else 'MISSED (p50 < 100, max < 250)'}"
    )


def label(setup: str) -> str:
    return SETUPS[setup].format(t=threads())


def line(row: dict, rows: list[dict]) -> str:
    nginx = next(
        (
            each["rps"]
            for each in rows
            if each["setup"] == "nginx"
            and (each["latency"], each["size"]) == (row["latency"], row["size"])
        ),
        None,
    )
    ratio = f"{row['rps'] / nginx:5.2f}" if nginx else "    -"
    bad = row["non_2xx"] + row["socket_errors"]
    return (
        f"  {row['size']:>3} {label(row['setup']):<44} {row['rps']:>8,.0f} req/s"
        f"  p50 {row['p50']:7.1f} ms  p99 {row['p99']:7.1f} ms  x nginx {ratio}"
        f"  cpu/req {row['cpu_ms']:5.2f} ms  errors {bad}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s per run")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument("--latencies", default=",".join(map(str, LATENCIES_MS)))
    parser.add_argument("--threads", type=int, default=THREADS, help="the threaded setups'")
    parser.add_argument("--flood", action="store_true", help="the host app under a flood only")
    parser.add_argument("--s3", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--latency", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--waitress", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.s3:
        s3_stand_in(args.s3, args.latency / 1000)
        return 0
    if args.waitress:
        serve_waitress(args.waitress, args.port)
        return 0
    run.ensure_tools(("waitress", "gunicorn", "gevent", "obstore"))
    setups = args.setups.split(",")
    if "granian" in setups and not run.has_module("granian"):
        print("granian is not installed: left out (pip install granian)")
        setups.remove("granian")
    seconds = 2.0 if args.quick else args.seconds
    os.environ["LATENCY_THREADS"] = str(args.threads)
    if args.flood:
        chosen = [each for each in setups if each in FLOOD_SETUPS] or list(FLOOD_SETUPS)
        flood(chosen, max(seconds, 5.0))
        return 0
    latencies = tuple(int(each) for each in args.latencies.split(","))
    print(f"wrk -t2 -c{CONNECTIONS}, {seconds:g} s per run; x nginx: req/s against nginx's")
    measure(setups, seconds, latencies)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What metrics cost: req/s of a 10 KiB object with metrics off and on.

Usage::

    python benchmarks/observe.py                 # 5 rounds of 5 s per setup
    python benchmarks/observe.py --rounds 9 --seconds 8

Needs ``wrk`` and ``nginx`` (installed with apt-get when missing, as root),
and s3wsgi with its ``serve`` and ``metrics`` extras.

Like benchmarks/run.py, nginx on loopback plays S3 (path-style GetObject
from a folder, with ETag, ranges and conditionals), and each setup runs
in a server process of its own (waitress, 8 threads) loaded by wrk: req/s,
and the server's CPU per request (utime + stime from /proc). The setups run
in rounds, metrics off and on back to back in each, and the cost is the
median of the rounds' ratios: a neighbour's load falls on both alike. A
control pair, the same setup twice, shows how far apart two runs of one
setup come out on this machine: a cost within that is not measurable here.

Then the same setups in-process, without HTTP: the middleware called in a
loop, the answer read whole, one request at a time, timed by the thread's
CPU clock (the best of the rounds). Last, the observer's hooks alone, as a
cache hit and as an S3 read call them: the microseconds metrics add to a
request, where nothing else is measured with them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import run  # noqa: E402  (benchmarks/run.py: nginx as S3, wrk, CPU time)

BUCKET = "bench"
KEY = "10k.bin"
SIZE = 10 * 1024
PREFIX = "/s3"
THREADS = 8
CONNECTIONS = 16
TARGET = 3.0  # percent
SETUPS = {
    "off": ("fast store", {}),
    "on": ("fast store, metrics", {"metrics": True}),
    "cache-off": ("fast store, cache warm", {"cache_max_bytes": 64 << 20}),
    "cache-on": ("fast store, cache warm, metrics", {"cache_max_bytes": 64 << 20, "metrics": True}),
    # The control: the same setup twice, so its "cost" is the method's noise.
    "cache-again": ("fast store, cache warm (control)", {"cache_max_bytes": 64 << 20}),
}
PAIRS = (("off", "on"), ("cache-off", "cache-on"), ("cache-off", "cache-again"))


def host_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
    return [b"host"]


def build_app(setup: str, s3_url: str):
    from s3wsgi import S3Middleware

    return S3Middleware(
        host_app,
        bucket=BUCKET,
        prefix=PREFIX,
        endpoint_url=s3_url,
        region_name="us-east-1",
        addressing_style="path",
        store="obstore",
        variants=False,
        server_threads=THREADS,
        **SETUPS[setup][1],
    )


def serve(setup: str, port: int, s3_url: str) -> None:
    import logging

    import waitress

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    os.environ.update(run.BENCH_ENV)
    waitress.serve(
        build_app(setup, s3_url),
        host="127.0.0.1",
        port=port,
        threads=THREADS,
        connection_limit=1000,
        _quiet=True,
    )


@contextlib.contextmanager
def server(setup: str, s3_url: str):
    port = run.free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", setup, "--port", str(port), "--s3", s3_url],
        env={**os.environ, **run.BENCH_ENV},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        run.wait_for(f"{url}/")
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def measure(setup: str, s3_url: str, seconds: float, expected: bytes) -> dict:
    with server(setup, s3_url) as (url, pid):
        target = f"{url}{PREFIX}/{KEY}"
        assert run.wait_for(target) == expected, "the answer is not the object"
        run.wrk(target, 1, CONNECTIONS)  # warm-up: connections, and the cache
        before = run.cpu_seconds(pid)
        result = run.wrk(target, seconds, CONNECTIONS)
        cpu = run.cpu_seconds(pid) - before
    return {
        "rps": result["rps"],
        "cpu_ms": 1000 * cpu / max(result["requests"], 1),
        "errors": result["non_2xx"] + result["socket_errors"],
    }


def in_process(setup: str, s3_url: str, count: int) -> float:
    """Microseconds per request through the middleware alone, called in a loop."""
    os.environ.update(run.BENCH_ENV)
    options = dict(SETUPS[setup][1])
    if options.get("metrics"):
        from prometheus_client import CollectorRegistry

        options["metrics"] = CollectorRegistry()
    from s3wsgi import S3Middleware

    app = S3Middleware(
        host_app,
        bucket=BUCKET,
        prefix=PREFIX,
        endpoint_url=s3_url,
        addressing_style="path",
        store="obstore",
        variants=False,
        **options,
    )
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": f"{PREFIX}/{KEY}",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
    }

    def start_response(status, headers, exc_info=None):
        return None

    def one() -> None:
        body = app(dict(environ), start_response)
        try:
            b"".join(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    for _ in range(200):
        one()  # connections made, the cache filled, the series made
    # This thread's CPU time: what a neighbour's load does to the wall clock
    # stays out of it.
    started = time.thread_time()
    for _ in range(count):
        one()
    return (time.thread_time() - started) / count * 1e6


def hooks_alone(metrics: bool, count: int = 200_000) -> tuple[float, float]:
    """Microseconds per request of the observer's hooks alone, without the
    rest of the middleware: (a cache hit, an S3 GetObject streamed)."""
    from http import HTTPStatus

    from s3wsgi.observe.observer import Observer
    from s3wsgi.stores.base import ObjectRequest

    series = None
    if metrics:
        from prometheus_client import CollectorRegistry

        from s3wsgi.observe.metrics import for_mount

        series = for_mount(PREFIX, CollectorRegistry())
    observer = Observer(mount=PREFIX, metrics=series)
    environ = {"REQUEST_METHOD": "GET"}
    chunk = bytes(SIZE)
    request = ObjectRequest(KEY)

    class Answer:
        status = HTTPStatus.OK

        def __init__(self, body):
            self.headers = []
            self.body = body

    def get(request):
        return None

    def cache_hit() -> None:
        watched = observer.begin(environ)
        observer.cache_lookup("hit")
        observer.end(watched, Answer((chunk,)))

    def from_s3() -> None:
        watched = observer.begin(environ)
        observer.attempt(get, request, 1, max_attempts=3, attempt_seconds=18.0)
        answer = Answer(iter((chunk,)))
        observer.end(watched, answer)
        for _ in answer.body:
            pass

    figures = []
    for one in (cache_hit, from_s3):
        started = time.thread_time()
        for _ in range(count):
            one()
        figures.append((time.thread_time() - started) / count * 1e6)
    return figures[0], figures[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--serve")
    parser.add_argument("--port", type=int)
    parser.add_argument("--s3")
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.s3)
        return 0
    run.ensure_tools(modules=())  # s3wsgi and its extras: see the docstring
    with tempfile.TemporaryDirectory() as work:
        root = os.path.join(work, "root")
        os.makedirs(os.path.join(root, BUCKET))
        body = os.urandom(SIZE)
        with open(os.path.join(root, BUCKET, KEY), "wb") as file:
            file.write(body)
        with run.nginx_s3(work, root) as (s3_url, _):
            rounds: dict[tuple[str, str], list[dict[str, dict]]] = {pair: [] for pair in PAIRS}
            for number in range(args.rounds):
                print(f"round {number + 1} of {args.rounds} ...", flush=True)
                for pair in PAIRS:
                    # Each pair back to back, in turn first: a change of the
                    # machine's load falls on both.
                    runs = {}
                    for setup in pair if number % 2 else reversed(pair):
                        runs[setup] = measure(setup, s3_url, args.seconds, body)
                    rounds[pair].append(runs)
            micro = {setup: [] for setup in SETUPS}
            for _ in range(args.rounds):
                for setup in SETUPS:
                    micro[setup].append(in_process(setup, s3_url, 5000))
    hooks = {metrics: [hooks_alone(metrics) for _ in range(3)] for metrics in (False, True)}
    report(rounds, micro)
    print("\nthe observer's hooks alone, us per request (best of 3): cache hit, S3 GetObject")
    for metrics, runs in hooks.items():
        hit, s3 = (min(run[index] for run in runs) for index in (0, 1))
        print(f"  metrics {'on ' if metrics else 'off'}  {hit:5.2f}  {s3:5.2f}")
    return 0


def report(
    rounds: dict[tuple[str, str], list[dict[str, dict]]], micro: dict[str, list[float]]
) -> None:
    """Each setup's median round; then each pair's cost as the median of
    its rounds' ratios, each round's two runs made back to back."""
    median = statistics.median
    print(f"\n10 KiB object, waitress {THREADS} threads, wrk -c{CONNECTIONS}, median of rounds")
    print(f"  {'setup':<36} {'req/s':>8} {'CPU ms/req':>11} {'in-process us':>14} {'errors':>7}")
    for setup, (name, _) in SETUPS.items():
        runs = [runs[setup] for pair in PAIRS for runs in rounds[pair] if setup in runs]
        rps = median([run["rps"] for run in runs])
        cpu = median([run["cpu_ms"] for run in runs])
        errors = sum(run["errors"] for run in runs)
        print(f"  {name:<36} {rps:8.0f} {cpu:11.3f} {min(micro[setup]):14.1f} {errors:7d}")
    print(
        f"\nwhat metrics cost against the same setup without (median of the rounds' ratios;"
        f" target < {TARGET:g}%)"
    )
    for off, on in PAIRS:
        runs = rounds[off, on]
        rps_cost = 100 * (1 - median([run[on]["rps"] / run[off]["rps"] for run in runs]))
        cpu_cost = 100 * (median([run[on]["cpu_ms"] / run[off]["cpu_ms"] for run in runs]) - 1)
        us_cost = min(micro[on]) - min(micro[off])
        verdict = "met" if rps_cost < TARGET else "NOT met"
        if not SETUPS[on][1].get("metrics"):
            verdict = "the noise of the method"
        print(
            f"  {SETUPS[on][0]:<36} req/s {rps_cost:+5.1f}% ({verdict}),"
            f" CPU/req {cpu_cost:+5.1f}%, in-process {us_cost:+.1f} us/req"
        )


if __name__ == "__main__":
    sys.exit(main())

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
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

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
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
NGINX_CONF = """\
{user}
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ }}
    }}
}}
"""


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
    os.environ.update(ENVIRONMENT)
    waitress.serve(
        build_app(setup, s3_url),
        host="127.0.0.1",
        port=port,
        threads=THREADS,
        connection_limit=1000,
        _quiet=True,
    )


def find_program(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def ensure_tools() -> None:
    missing = [tool for tool in ("wrk", "nginx") if not find_program(tool)]
    if missing:
        packages = ["nginx-light" if tool == "nginx" else tool for tool in missing]
        print(f"installing {' '.join(packages)} (apt-get) ...", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 30.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextlib.contextmanager
def nginx_s3(work: str, root: str):
    port = free_port()
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as file:
        user = "user root;" if os.geteuid() == 0 else ""
        file.write(NGINX_CONF.format(user=user, work=work, root=root, port=port))
    process = subprocess.Popen(
        [find_program("nginx"), "-c", conf, "-p", work, "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/{BUCKET}/{KEY}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def server(setup: str, s3_url: str):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", setup, "--port", str(port), "--s3", s3_url],
        env={**os.environ, **ENVIRONMENT},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/")
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def wrk(url: str, seconds: float) -> tuple[float, int, int]:
    """req/s, requests, and errors of one run."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{max(round(seconds), 1)}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|timeout) (\d+)", out))
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), requests, errors


def measure(setup: str, s3_url: str, seconds: float, expected: bytes) -> dict:
    with server(setup, s3_url) as (url, pid):
        target = f"{url}{PREFIX}/{KEY}"
        assert wait_for(target) == expected, "the answer is not the object"
        wrk(target, 1)  # warm-up: connections, and the cache
        before = cpu_seconds(pid)
        rps, requests, errors = wrk(target, seconds)
        cpu = cpu_seconds(pid) - before
    return {"rps": rps, "cpu_ms": 1000 * cpu / max(requests, 1), "errors": errors}


def in_process(setup: str, s3_url: str, count: int) -> float:
    """Microseconds per request through the middleware alone, called in a loop."""
    os.environ.update(ENVIRONMENT)
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
        observer.attempt(get, request, 1)
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
    ensure_tools()
    with tempfile.TemporaryDirectory() as work:
        root = os.path.join(work, "root")
        os.makedirs(os.path.join(root, BUCKET))
        body = os.urandom(SIZE)
        with open(os.path.join(root, BUCKET, KEY), "wb") as file:
            file.write(body)
        with nginx_s3(work, root) as s3_url:
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

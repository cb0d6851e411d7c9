"""Benchmarks: s3wsgi beside a naive boto3 route and WhiteNoise, in one run.

Usage::

    python benchmarks/run.py            # the full run (about 8 minutes)
    python benchmarks/run.py --quick    # shorter runs, a 128 MiB "large" object

What it does (see benchmarks/README.md):

1. Installs what it needs when missing: ``wrk`` and ``nginx`` (Debian's
   apt-get), ``whitenoise``, ``flask`` and ``obstore`` (pip) -- benchmark
   tools, not dependencies of s3wsgi.
2. Starts the S3 server: nginx on loopback, answering path-style GetObject /
   HeadObject (``GET /bucket/key``) from a folder, with ETag, Last-Modified,
   ranges and conditionals. moto's server, used by the tests, is measured
   too and reported, but it caps the comparison (a few hundred requests per
   second, and it closes every connection), so it does not serve the runs.
3. Puts objects of 10 KiB, 200 KiB and 1 GiB in the bucket.
4. Serves each setup in its own process under waitress, with the same
   threads, and loads it with wrk: req/s, p50/p99 latency, the server
   process's CPU per request (utime + stime from /proc) and its peak RSS
   (VmHWM), with ratios against the naive route and WhiteNoise.
5. Streams the large object through s3wsgi, read as a direct boto3
   download reads it (1 MiB at a time): MB/s against that direct download,
   and the server's peak RSS.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

BUCKET = "bench"
PREFIX = "/s3"
SIZES = {"10k": 10 * 1024, "200k": 200 * 1024}
LARGE = "large.bin"
THREADS = 8  # waitress threads, for every setup
CONNECTIONS = 16  # wrk connections
SETUPS = {
    "a": ("s3wsgi, boto3 store", {"store": "boto3"}),
    "b": ("s3wsgi, fast store", {"store": "obstore"}),
    "c": ("s3wsgi, fast store, cache warm", {"store": "obstore", "cache": True}),
    "c2": ("s3wsgi, boto3 store, cache warm", {"store": "boto3", "cache": True}),
    "d": ("naive Flask route, get_object().read()", {"naive": True}),
    "e": ("WhiteNoise, local disk", {"whitenoise": True}),
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


# --- the servers under test (run in a child process: ``--serve SETUP``) ---


def build_app(setup: str, s3_url: str, root: str):
    """The WSGI app of one setup: each serves ``PREFIX/<key>`` of the bucket."""
    options = SETUPS[setup][1]
    from flask import Flask

    host = Flask("bench")

    @host.route("/")
    def home():
        return "host app"

    if options.get("naive"):
        import boto3
        from botocore.config import Config
        from flask import Response

        # What blog posts show: one client, read the whole body, return it.
        client = boto3.client(
            "s3",
            endpoint_url=s3_url,
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=THREADS),
        )

        @host.route(f"{PREFIX}/<path:key>")
        def naive(key):
            obj = client.get_object(Bucket=BUCKET, Key=key)
            return Response(obj["Body"].read(), content_type=obj["ContentType"])

        return host
    if options.get("whitenoise"):
        from whitenoise import WhiteNoise

        return WhiteNoise(host.wsgi_app, root=os.path.join(root, BUCKET), prefix=PREFIX)
    from s3wsgi import S3Middleware

    cache = {"cache_max_bytes": 256 * 1024 * 1024} if options.get("cache") else {}
    host.wsgi_app = S3Middleware(
        host.wsgi_app,
        bucket=BUCKET,
        prefix=PREFIX,
        endpoint_url=s3_url,
        region_name="us-east-1",
        addressing_style="path",
        max_pool_connections=THREADS,
        store=options["store"],
        **cache,
    )
    return host


def serve(setup: str, port: int, s3_url: str, root: str) -> None:
    import logging

    import waitress

    # waitress warns of its task queue whenever wrk's connections outnumber
    # its threads: that is the load we mean.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    os.environ.update(BENCH_ENV)
    app = build_app(setup, s3_url, root)
    waitress.serve(
        app, host="127.0.0.1", port=port, threads=THREADS, connection_limit=1000, _quiet=True
    )


# --- tools and the S3 server ---


def ensure_tools() -> None:
    missing = [tool for tool in ("wrk", "nginx") if not find_program(tool)]
    if missing:
        print(f"installing {' '.join(missing)} (apt-get) ...", flush=True)
        packages = ["nginx-light" if tool == "nginx" else tool for tool in missing]
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True)
    modules = {"whitenoise": "whitenoise", "flask": "flask", "obstore": "obstore"}
    wanted = [package for module, package in modules.items() if not has_module(module)]
    if wanted:
        print(f"installing {' '.join(wanted)} (pip) ...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *wanted], check=True)


def find_program(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                answer.read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


NGINX_CONF = """\
{user}
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    types {{ application/octet-stream bin; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        # Path-style GetObject / HeadObject: /bucket/key. nginx answers
        # ETag, Last-Modified, Range, If-Match, If-None-Match,
        # If-(Un)Modified-Since itself; the signature is not checked.
        location / {{ }}
    }}
}}
"""


@contextlib.contextmanager
def nginx_s3(work: str, root: str):
    port = free_port()
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as file:
        # As root, nginx's worker would run as nobody, who cannot read the
        # private temporary folder.
        user = "user root;" if os.geteuid() == 0 else ""
        file.write(NGINX_CONF.format(user=user, work=work, root=root, port=port))
    process = subprocess.Popen(
        [find_program("nginx"), "-c", conf, "-p", work, "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/{BUCKET}/10k.bin")
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def moto_s3():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **BENCH_ENV},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/moto-api/")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def put_objects(root: str, large_size: int) -> None:
    """The bucket's objects, as files under ``root/BUCKET``."""
    folder = os.path.join(root, BUCKET)
    os.makedirs(folder, exist_ok=True)
    for name, size in SIZES.items():
        with open(os.path.join(folder, f"{name}.bin"), "wb") as file:
            file.write(os.urandom(size))
    block = os.urandom(1024 * 1024)
    with open(os.path.join(folder, LARGE), "wb") as file:
        for _ in range(large_size // len(block)):
            file.write(block)


# --- measuring ---


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children (nginx's workers), in seconds."""
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rpartition(")")[2].split()
    total = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    with open(f"/proc/{pid}/task/{pid}/children") as file:
        children = [int(child) for child in file.read().split()]
    return total + sum(cpu_seconds(child) for child in children)


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def wrk(url: str, seconds: float, connections: int = CONNECTIONS) -> dict:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{max(round(seconds), 1)}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "p50": latency_ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        "p99": latency_ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "errors": 0,
    }
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if bad:
        result["errors"] += int(bad.group(1))
    if socket_errors:
        result["errors"] += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return result


def latency_ms(text: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


@contextlib.contextmanager
def setup_server(setup: str, s3_url: str, root: str):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", setup, "--port", str(port)]
        + ["--s3", s3_url, "--root", root],
        env={**os.environ, **BENCH_ENV, "PYTHONPATH": REPOSITORY},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/")
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def measure_setup(setup: str, size: str, s3_url: str, root: str, seconds: float) -> dict:
    """One setup, one object size, in a fresh server process."""
    with setup_server(setup, s3_url, root) as (url, pid):
        target = f"{url}{PREFIX}/{size}.bin"
        with urllib.request.urlopen(target, timeout=10) as answer:
            served = answer.read()
        with open(os.path.join(root, BUCKET, f"{size}.bin"), "rb") as file:
            if served != file.read():
                raise SystemExit(f"setup {setup} served {size}.bin wrong")
        wrk(target, max(seconds / 4, 1))  # warm: connections, clients, the cache
        before = cpu_seconds(pid)
        result = wrk(target, seconds)
        result["cpu_ms"] = (cpu_seconds(pid) - before) * 1000 / max(result["requests"], 1)
        result["rss"] = peak_rss_mib(pid)
    return result


def http_download_mbps(url: str) -> tuple[float, int]:
    """One GET read to its end in 1 MiB reads, as the direct download reads."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    started = time.perf_counter()
    connection.request("GET", parts.path)
    answer = connection.getresponse()
    total = 0
    while chunk := answer.read(1024 * 1024):
        total += len(chunk)
    connection.close()
    return total / (time.perf_counter() - started) / 1e6, total


def boto3_download_mbps(s3_url: str) -> tuple[float, int]:
    import boto3
    from botocore.config import Config

    os.environ.update(BENCH_ENV)
    client = boto3.client("s3", endpoint_url=s3_url, config=Config(s3={"addressing_style": "path"}))
    started = time.perf_counter()
    body = client.get_object(Bucket=BUCKET, Key=LARGE)["Body"]
    total = 0
    while chunk := body.read(1024 * 1024):
        total += len(chunk)
    body.close()
    return total / (time.perf_counter() - started) / 1e6, total


def measure_large(setup: str, s3_url: str, root: str) -> dict:
    with setup_server(setup, s3_url, root) as (url, pid):
        mbps, size = http_download_mbps(f"{url}{PREFIX}/{LARGE}")
        return {"mbps": mbps, "bytes": size, "rss": peak_rss_mib(pid)}


def s3_server_throughput(url: str, seconds: float) -> dict:
    return wrk(f"{url}/{BUCKET}/10k.bin", seconds)


def moto_throughput(seconds: float) -> dict:
    import boto3

    os.environ.update(BENCH_ENV)
    with moto_s3() as url:
        client = boto3.client("s3", endpoint_url=url)
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key="10k.bin", Body=os.urandom(SIZES["10k"]))
        return wrk(f"{url}/{BUCKET}/10k.bin", seconds)


# --- report ---


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, a 128 MiB object")
    parser.add_argument("--seconds", type=float, help="seconds per measured run")
    parser.add_argument("--rounds", type=int, help="rounds of every run; the median is shown")
    parser.add_argument("--setups", default=",".join(SETUPS), help="e.g. a,b,d")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--s3", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.s3, args.root)
        return 0

    seconds = args.seconds or (4.0 if args.quick else 10.0)
    rounds = args.rounds or (1 if args.quick else 3)
    large_size = (128 if args.quick else 1024) * 1024 * 1024
    setups = [s for s in args.setups.split(",") if s]
    ensure_tools()
    figures: dict = {"setups": {}, "large": {}}
    print(f"machine: {os.cpu_count()} cores; waitress threads={THREADS}; wrk -t2 -c{CONNECTIONS}")
    print(
        f"runs: {seconds:g} s each, after a warm-up, each setup in its own process;"
        f" {rounds} round(s), the median shown\n"
    )

    moto = moto_throughput(min(seconds, 5))
    with tempfile.TemporaryDirectory(prefix="s3wsgi-bench-") as work:
        root = os.path.join(work, "data")
        put_objects(root, large_size)
        with nginx_s3(work, root) as (s3_url, s3_pid):
            before = cpu_seconds(s3_pid)
            direct = s3_server_throughput(s3_url, min(seconds, 5))
            s3_cpu = (cpu_seconds(s3_pid) - before) * 1000 / direct["requests"]
            print("S3 server, 10 KiB GetObject straight from wrk:")
            print(f"  nginx (serves the runs): {direct['rps']:8.0f} req/s, {s3_cpu:.3f} ms CPU/req")
            print(
                f"  moto (the tests' server): {moto['rps']:7.0f} req/s"
                " -- too slow to serve the runs\n"
            )
            figures["s3_server"] = {"nginx": direct, "moto": moto, "nginx_cpu_ms": s3_cpu}

            measure_rounds(figures, setups, s3_url, s3_pid, root, seconds, rounds)

    report(figures, setups, large_size)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(figures, file, indent=2)
    return 0


def measure_rounds(figures, setups, s3_url, s3_pid, root, seconds, rounds) -> None:
    """Every setup at every size, and the large downloads, ``rounds`` times.

    Rounds interleave the setups, so a neighbour's load on the machine falls
    on all of them alike; the median round of each goes into ``figures``.
    """
    runs: dict = {}
    for number in range(1, rounds + 1):
        for size in SIZES:
            for setup in setups:
                s3_before = cpu_seconds(s3_pid)
                result = measure_setup(setup, size, s3_url, root, seconds)
                s3_cpu = cpu_seconds(s3_pid) - s3_before
                result["s3_cpu_ms"] = s3_cpu * 1000 / max(result["requests"], 1)
                runs.setdefault((size, setup), []).append(result)
                rps = result["rps"]
                print(f"  round {number}: {size:>4} ({setup}) {rps:8.0f} req/s", flush=True)
        mbps, total = boto3_download_mbps(s3_url)
        runs.setdefault(("large", "direct boto3"), []).append({"mbps": mbps, "bytes": total})
        mbps, total = http_download_mbps(f"{s3_url}/{BUCKET}/{LARGE}")
        runs.setdefault(("large", "direct http"), []).append({"mbps": mbps, "bytes": total})
        for setup in ("a", "b"):
            if setup in setups:
                result = measure_large(setup, s3_url, root)
                runs.setdefault(("large", setup), []).append(result)
                print(f"  round {number}: large ({setup}) {result['mbps']:8.0f} MB/s", flush=True)
    for (size, setup), results in runs.items():
        measure = "mbps" if size == "large" else "rps"
        results.sort(key=lambda result: result[measure])
        median = results[len(results) // 2]
        if size == "large":
            figures["large"][setup] = median
        else:
            figures["setups"].setdefault(size, {})[setup] = median


def report(figures: dict, setups: list[str], large_size: int) -> None:
    print()
    for size, results in figures["setups"].items():
        naive, whitenoise = results.get("d"), results.get("e")
        print(f"{size.upper()} object")
        print(
            f"  {'setup':<44}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'CPU ms/req':>11}"
            f"{'S3 CPU':>8}{'RSS MiB':>9}{'x naive':>9}{'x WN':>7}{'errors':>7}"
        )
        for setup in setups:
            r = results[setup]
            vs_naive = f"{r['rps'] / naive['rps']:.2f}" if naive else "-"
            vs_wn = f"{r['rps'] / whitenoise['rps']:.2f}" if whitenoise else "-"
            name = f"({setup}) {SETUPS[setup][0]}"
            print(
                f"  {name:<44}{r['rps']:8.0f}{r['p50']:8.2f}{r['p99']:8.2f}{r['cpu_ms']:11.3f}"
                f"{r['s3_cpu_ms']:8.3f}{r['rss']:9.1f}{vs_naive:>9}{vs_wn:>7}{r['errors']:>7}"
            )
        print()
    large = figures["large"]
    direct = large["direct boto3"]["mbps"]
    print(f"LARGE object ({large_size // 2**20} MiB), one download")
    print(f"  {'path':<44}{'MB/s':>8}{'x direct':>10}{'peak RSS MiB':>14}")
    for name, label in (
        ("direct boto3", "direct boto3 get_object, 1 MiB reads"),
        ("direct http", "direct, the client used below (http.client)"),
        ("a", "(a) through s3wsgi, boto3 store"),
        ("b", "(b) through s3wsgi, fast store"),
    ):
        if name in large:
            r = large[name]
            rss = f"{r['rss']:.1f}" if "rss" in r else "-"
            complete = "" if r["bytes"] == large_size else f"  INCOMPLETE: {r['bytes']} bytes"
            print(f"  {label:<44}{r['mbps']:8.0f}{r['mbps'] / direct:10.2f}{rss:>14}{complete}")
    print()
    print_targets(figures, setups)


def print_targets(figures: dict, setups: list[str]) -> None:
    small = figures["setups"].get("10k", {})
    large = figures["large"]
    direct = large.get("direct boto3", {}).get("mbps")
    checks = []

    def ratio(setup, other):
        if setup in small and other in small:
            return small[setup]["rps"] / small[other]["rps"]
        return None

    checks.append(("10 KiB: fast store >= 2.0x naive", ratio("b", "d"), 2.0))
    checks.append(("10 KiB: boto3 store >= 1.2x naive", ratio("a", "d"), 1.2))
    checks.append(("10 KiB: cache warm >= 1.0x WhiteNoise", ratio("c", "e"), 1.0))
    print("targets")
    for label, value, goal in checks:
        if value is None:
            print(f"  {label}: not measured")
        else:
            print(f"  {label}: {value:.2f}x  {'met' if value >= goal else 'NOT met'}")
    if "b" in small:
        cpu = small["b"]["cpu_ms"]
        print(
            f"  10 KiB: fast store CPU <= 0.5 ms/req: {cpu:.3f} ms  "
            f"{'met' if cpu <= 0.5 else 'NOT met'}"
        )
    for setup in ("a", "b"):
        if setup in large and direct:
            r = large[setup]
            speed = r["mbps"] / direct
            print(
                f"  large via ({setup}): peak RSS {r['rss']:.1f} MiB <= 100: "
                f"{'met' if r['rss'] <= 100 else 'NOT met'}; {speed:.2f}x direct >= 0.95: "
                f"{'met' if speed >= 0.95 else 'NOT met'}"
            )


if __name__ == "__main__":
    sys.exit(main())

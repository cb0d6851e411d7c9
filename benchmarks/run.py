"""Benchmarks: s3wsgi beside a naive boto3 route, WhiteNoise and nginx
``proxy_pass``, in one run.

Usage::

    python benchmarks/run.py            # the full run (about 15 minutes)
    python benchmarks/run.py --quick    # shorter runs, a 128 MiB "large" object

What it does (see benchmarks/README.md):

1. Installs what it needs when missing: ``wrk`` and ``nginx`` (Debian's
   apt-get), ``whitenoise``, ``flask``, ``waitress`` and ``gunicorn`` (pip)
   -- benchmark tools, not dependencies of s3wsgi.
2. Starts the S3 server: nginx on loopback, answering path-style GetObject /
   HeadObject (``GET /bucket/key``) from a folder, with ETag, Last-Modified,
   ranges and conditionals. moto's server, used by the tests, is measured
   too and reported, but it caps the comparison (a few hundred requests per
   second, and it closes every connection), so it does not serve the runs.
3. Puts objects of 10 KiB, 200 KiB and 1 GiB in the bucket.
4. Serves each setup in its own process(es), under waitress (one process)
   and under gunicorn (two gthread workers), with the same threads per
   process, and loads it with wrk: req/s, p50/p99 latency, the server's CPU
   per request (utime + stime from /proc), its peak RSS (VmHWM) and the
   answers that were not 2xx, with ratios against the naive route, nginx
   ``proxy_pass`` to the same S3 server, and WhiteNoise.
5. Streams the large object through s3wsgi (both stores) and nginx
   ``proxy_pass``, read as a direct boto3 download reads it (1 MiB at a
   time): MB/s against that direct download, and the server's peak RSS.
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
import statistics
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
THREADS = 8  # server threads per process, for every setup
WORKERS = 2  # gunicorn's processes
CONNECTIONS = 16  # wrk connections
BURST = 1  # seconds of one wrk run: the setups take turns
CACHE_BYTES = 64 * 1024 * 1024
SETUPS = {
    "default": ("s3wsgi, default install (fast store)", {"s3wsgi": {}}),
    "unbounded": ("s3wsgi, default, max_s3_requests=0", {"s3wsgi": {"max_s3_requests": 0}}),
    "boto3": ('s3wsgi, store="boto3"', {"s3wsgi": {"store": "boto3"}}),
    "cache": ("s3wsgi, default, 64 MiB cache, warm", {"s3wsgi": {"cache_max_bytes": CACHE_BYTES}}),
    "naive": ("naive Flask route, get_object().read()", {"naive": True}),
    "whitenoise": ("WhiteNoise, local disk", {"whitenoise": True}),
    "nginx": ("nginx proxy_pass to the S3 server", {"nginx": True}),
    "memory": ("the server's ceiling: bytes from memory", {"memory": True}),
}
SERVERS = {
    "waitress": f"waitress, 1 process x {THREADS} threads",
    "gunicorn": f"gunicorn, {WORKERS} gthread workers x {THREADS} threads",
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
    if options.get("memory"):
        # No framework, no I/O: what the WSGI server itself can answer.
        files = {}
        for name in os.listdir(os.path.join(root, BUCKET)):
            if name != LARGE:
                with open(os.path.join(root, BUCKET, name), "rb") as file:
                    files[f"{PREFIX}/{name}"] = file.read()

        def memory(environ, start_response):
            body = files.get(environ["PATH_INFO"], b"host app")
            start_response(
                "200 OK",
                [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))],
            )
            return [body]

        return memory
    if options.get("whitenoise"):
        from whitenoise import WhiteNoise

        return WhiteNoise(host.wsgi_app, root=os.path.join(root, BUCKET), prefix=PREFIX)
    from s3wsgi import S3Middleware

    # As the README tells users: the server's threads per process.
    host.wsgi_app = S3Middleware(
        host.wsgi_app,
        bucket=BUCKET,
        prefix=PREFIX,
        endpoint_url=s3_url,
        region_name="us-east-1",
        addressing_style="path",
        server_threads=THREADS,
        **options["s3wsgi"],
    )
    return host


def serve(setup: str, server: str, port: int, s3_url: str, root: str) -> None:
    import logging

    # waitress warns of its task queue whenever wrk's connections outnumber
    # its threads: that is the load we mean.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    os.environ.update(BENCH_ENV)
    if server == "waitress":
        import waitress

        app = build_app(setup, s3_url, root)
        waitress.serve(
            app, host="127.0.0.1", port=port, threads=THREADS, connection_limit=1000, _quiet=True
        )
        return
    from gunicorn.app.base import BaseApplication

    class Gunicorn(BaseApplication):
        # No preload: each worker builds its app (and S3 client) after the fork.
        def load_config(self):
            settings = {
                "bind": f"127.0.0.1:{port}",
                "workers": WORKERS,
                "worker_class": "gthread",
                "threads": THREADS,
                "keepalive": 30,
                "loglevel": "warning",
            }
            # Recent gunicorn opens a control socket, one path for all:
            # the setups' servers run at once.
            if "control_socket_disable" in self.cfg.settings:
                settings["control_socket_disable"] = True
            for name, value in settings.items():
                self.cfg.set(name, value)

        def load(self):
            return build_app(setup, s3_url, root)

    Gunicorn().run()


# --- tools and the S3 server ---


def ensure_tools(
    modules: tuple[str, ...] = ("whitenoise", "flask", "waitress", "gunicorn", "obstore"),
) -> None:
    """wrk and nginx (apt-get), and the Python ``modules`` the setups need (pip)."""
    missing = [tool for tool in ("wrk", "nginx") if not find_program(tool)]
    if missing:
        print(f"installing {' '.join(missing)} (apt-get) ...", flush=True)
        packages = ["nginx-light" if tool == "nginx" else tool for tool in missing]
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True)
    wanted = [module for module in modules if not has_module(module)]
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


def wait_for(url: str, timeout: float = 30.0) -> bytes:
    """The body of ``url``'s first answer, once a server answers there."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


NGINX_CONF = """\
{user}
worker_processes {workers};
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
{body}
}}
"""

# Path-style GetObject / HeadObject: /bucket/key. nginx answers ETag,
# Last-Modified, Range, If-Match, If-None-Match, If-(Un)Modified-Since
# itself; the signature is not checked. Its answers carry a request id, as
# S3's do: s3wsgi takes an HTML error page without one for a web server
# mistaken for S3 (a configuration mistake), not for a missing key.
S3_SERVER = """\
    server {{
        listen 127.0.0.1:{port};
        root {root};
        add_header x-amz-request-id "nginx" always;
        location / {{ }}
    }}
"""

# nginx in front of S3 as it is usually set up for a bucket's files, with
# the connections to S3 kept alive (HTTP/1.1 and an upstream keepalive
# pool), and a large body streamed rather than spooled to a temporary file.
PROXY_SERVER = """\
    upstream s3 {{
        server 127.0.0.1:{s3_port};
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location = / {{ return 200 "host app"; }}
        location {prefix}/ {{
            proxy_pass http://s3/{bucket}/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_max_temp_file_size 0;
        }}
    }}
"""


@contextlib.contextmanager
def nginx(work: str, body: str, port: int, workers: int = 1):
    """nginx with one ``server`` block, in its own folder under ``work``."""
    folder = tempfile.mkdtemp(dir=work, prefix="nginx-")
    conf = os.path.join(folder, "nginx.conf")
    with open(conf, "w") as file:
        # As root, nginx's worker would run as nobody, who cannot read the
        # private temporary folder.
        user = "user root;" if os.geteuid() == 0 else ""
        file.write(NGINX_CONF.format(user=user, workers=workers, work=folder, body=body))
    process = subprocess.Popen(
        [find_program("nginx"), "-c", conf, "-p", folder, "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def nginx_s3(work: str, root: str):
    port = free_port()
    with nginx(work, S3_SERVER.format(port=port, root=root), port) as (url, pid):
        wait_for(f"{url}/{BUCKET}/10k.bin")
        yield url, pid


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


def descendants(pid: int) -> list[int]:
    """A process and all its children's, recursively (nginx's and gunicorn's workers)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as file:
            children = [int(child) for child in file.read().split()]
    except OSError:
        return []
    return [pid] + [each for child in children for each in descendants(child)]


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children, in seconds."""
    total = 0.0
    for each in descendants(pid):
        try:
            with open(f"/proc/{each}/stat") as file:
                fields = file.read().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return total


def peak_rss_mib(pid: int) -> float:
    """The largest peak RSS of a process and its children (one worker's)."""
    peaks = [0.0]
    for each in descendants(pid):
        try:
            with open(f"/proc/{each}/status") as file:
                for line in file:
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return max(peaks)


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
        "non_2xx": 0,
        "socket_errors": 0,
    }
    # wrk counts every status of 400 and above here (its "Non-2xx or 3xx").
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if bad:
        result["non_2xx"] = int(bad.group(1))
    if socket_errors:
        result["socket_errors"] = sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return result


def latency_ms(text: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


@contextlib.contextmanager
def setup_server(setup: str, server: str, s3_url: str, root: str, work: str):
    """A setup's server, started: wait for ``url + "/"`` before using it."""
    port = free_port()
    if SETUPS[setup.partition("@")[0]][1].get("nginx"):
        workers = WORKERS if server == "gunicorn" else 1
        s3_port = urllib.parse.urlsplit(s3_url).port
        body = PROXY_SERVER.format(port=port, s3_port=s3_port, prefix=PREFIX, bucket=BUCKET)
        with nginx(work, body, port, workers) as (url, pid):
            yield url, pid
        return
    setup, _, baseline = setup.partition("@")
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", setup, "--server", server, "--port", str(port)]
        + ["--s3", s3_url, "--root", root],
        # A baseline setup imports s3wsgi from that checkout instead.
        env={**os.environ, **BENCH_ENV, "PYTHONPATH": baseline or REPOSITORY},
    )
    try:
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def check_answer(url: str, path: str, setup: str) -> None:
    with urllib.request.urlopen(url, timeout=10) as answer:
        served = answer.read()
    with open(path, "rb") as file:
        if served != file.read():
            raise SystemExit(f"setup {setup} served {os.path.basename(path)} wrong")


def measure_group(
    server: str,
    size: str,
    setups: list[str],
    s3_url: str,
    s3_pid: int,
    root: str,
    work: str,
    seconds: float,
) -> dict:
    """Every setup at one object size under one server, each in a fresh
    server, all started at once and loaded in turns of BURST seconds: a
    neighbour's load on a shared machine falls on all of them alike."""
    with contextlib.ExitStack() as stack:
        started = {
            setup: stack.enter_context(setup_server(setup, server, s3_url, root, work))
            for setup in setups
        }
        path = os.path.join(root, BUCKET, f"{size}.bin")
        for setup, (url, _) in started.items():
            wait_for(f"{url}/")
            # Each of gunicorn's workers is checked, most likely.
            for _ in range(WORKERS if server == "gunicorn" else 1):
                check_answer(f"{url}{PREFIX}/{size}.bin", path, setup)
            # Warm: connections, clients, the cache.
            wrk(f"{url}{PREFIX}/{size}.bin", max(seconds / 4, 1))
        runs: dict = {setup: [] for setup in setups}
        for turn in range(max(1, round(seconds / BURST))):
            # Each turn starts with another setup, so none always follows the same one.
            first = turn % len(setups)
            for setup in setups[first:] + setups[:first]:
                url, pid = started[setup]
                before, s3_before = cpu_seconds(pid), cpu_seconds(s3_pid)
                result = wrk(f"{url}{PREFIX}/{size}.bin", BURST)
                result["cpu"] = cpu_seconds(pid) - before
                result["s3_cpu"] = cpu_seconds(s3_pid) - s3_before
                runs[setup].append(result)
        results = {}
        for setup, bursts in runs.items():
            requests = max(sum(r["requests"] for r in bursts), 1)
            elapsed = sum(r["requests"] / r["rps"] for r in bursts if r["rps"])
            results[setup] = {
                "rps": requests / elapsed if elapsed else 0.0,
                "requests": requests,
                "p50": statistics.median(r["p50"] for r in bursts),
                "p99": statistics.median(r["p99"] for r in bursts),
                "cpu_ms": sum(r["cpu"] for r in bursts) * 1000 / requests,
                "s3_cpu_ms": sum(r["s3_cpu"] for r in bursts) * 1000 / requests,
                "non_2xx": sum(r["non_2xx"] for r in bursts),
                "socket_errors": sum(r["socket_errors"] for r in bursts),
                "rss": peak_rss_mib(started[setup][1]),
            }
    return results


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


def measure_large(setup: str, s3_url: str, root: str, work: str) -> dict:
    with setup_server(setup, "waitress", s3_url, root, work) as (url, pid):
        wait_for(f"{url}/")
        mbps, size = http_download_mbps(f"{url}{PREFIX}/{LARGE}")
        return {"mbps": mbps, "bytes": size, "rss": peak_rss_mib(pid)}


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
    parser.add_argument("--seconds", type=float, help="seconds of load per setup and size")
    parser.add_argument("--rounds", type=int, help="rounds of the large downloads (the median)")
    parser.add_argument("--setups", default=",".join(SETUPS), help="e.g. default,naive,nginx")
    parser.add_argument(
        "--servers", default=",".join(SERVERS), help="waitress, gunicorn or both (the default)"
    )
    parser.add_argument("--no-large", action="store_true", help="skip the large downloads")
    parser.add_argument(
        "--baseline",
        help="a checkout of s3wsgi (e.g. a git worktree of an earlier commit): its s3wsgi"
        " setups are loaded in turns with this one's, for before-and-after figures",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--server", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--s3", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.server, args.port, args.s3, args.root)
        return 0

    seconds = args.seconds or (3.0 if args.quick else 10.0)
    rounds = args.rounds or (1 if args.quick else 3)
    large_size = 0 if args.no_large else (128 if args.quick else 1024) * 1024 * 1024
    setups = [s for s in args.setups.split(",") if s]
    servers = [s for s in args.servers.split(",") if s]
    for name in setups:
        if name not in SETUPS:
            parser.error(f"no setup {name!r}: {', '.join(SETUPS)}")
    if args.baseline:
        baseline = os.path.abspath(args.baseline)
        setups += [f"{s}@{baseline}" for s in setups if "s3wsgi" in SETUPS[s][1]]
    for name in servers:
        if name not in SERVERS:
            parser.error(f"no server {name!r}: {', '.join(SERVERS)}")
    ensure_tools()
    figures: dict = {"runs": {}, "large": {}}
    print(
        f"machine: {os.cpu_count()} cores; {THREADS} threads per process; wrk -t2 -c{CONNECTIONS}"
    )
    print(
        f"load: {seconds:g} s per setup and size after a warm-up, in turns of {BURST} s;"
        f" large downloads: {rounds} round(s), the median shown\n"
    )

    moto = moto_throughput(min(seconds, 5))
    with tempfile.TemporaryDirectory(prefix="s3wsgi-bench-") as work:
        root = os.path.join(work, "data")
        put_objects(root, large_size)
        with nginx_s3(work, root) as (s3_url, s3_pid):
            before = cpu_seconds(s3_pid)
            direct = wrk(f"{s3_url}/{BUCKET}/10k.bin", min(seconds, 5))
            s3_cpu = (cpu_seconds(s3_pid) - before) * 1000 / direct["requests"]
            print("S3 server, 10 KiB GetObject straight from wrk:")
            print(f"  nginx (serves the runs): {direct['rps']:8.0f} req/s, {s3_cpu:.3f} ms CPU/req")
            print(
                f"  moto (the tests' server): {moto['rps']:7.0f} req/s"
                " -- too slow to serve the runs\n"
            )
            figures["s3_server"] = {"nginx": direct, "moto": moto, "nginx_cpu_ms": s3_cpu}
            measure_all(figures, setups, servers, s3_url, s3_pid, root, work, seconds, rounds)

    report(figures, setups, servers, large_size)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(figures, file, indent=2)
    return 0


def measure_all(figures, setups, servers, s3_url, s3_pid, root, work, seconds, rounds) -> None:
    """Every setup at every size under every server, then the large
    downloads ``rounds`` times (the median of each goes into ``figures``)."""
    for server in servers:
        for size in SIZES:
            results = measure_group(server, size, setups, s3_url, s3_pid, root, work, seconds)
            figures["runs"].setdefault(server, {})[size] = results
            line = ", ".join(
                f"{setup.replace('@', ' baseline ')} {r['rps']:.0f}" for setup, r in results.items()
            )
            print(f"  {server} {size}: {line} req/s", flush=True)
    if not os.path.getsize(os.path.join(root, BUCKET, LARGE)):
        return
    runs: dict = {}
    for number in range(1, rounds + 1):
        mbps, total = boto3_download_mbps(s3_url)
        runs.setdefault("direct boto3", []).append({"mbps": mbps, "bytes": total})
        mbps, total = http_download_mbps(f"{s3_url}/{BUCKET}/{LARGE}")
        runs.setdefault("direct http", []).append({"mbps": mbps, "bytes": total})
        for setup in ("default", "boto3", "nginx"):
            if setup in setups:
                result = measure_large(setup, s3_url, root, work)
                runs.setdefault(setup, []).append(result)
                print(f"  round {number}: large {setup:<10} {result['mbps']:8.0f} MB/s", flush=True)
    for name, results in runs.items():
        results.sort(key=lambda result: result["mbps"])
        figures["large"][name] = results[len(results) // 2]


def report(figures: dict, setups: list[str], servers: list[str], large_size: int) -> None:
    print()
    for server in servers:
        for size, results in figures["runs"][server].items():
            naive, nginx, whitenoise = (results.get(s) for s in ("naive", "nginx", "whitenoise"))
            print(f"{size.upper()} object, {SERVERS[server]}")
            print(
                f"  {'setup':<48}{'req/s':>7}{'p50 ms':>7}{'p99 ms':>7}{'CPU ms':>7}"
                f"{'S3 CPU':>7}{'RSS':>6}{'x naive':>8}{'x nginx':>8}{'x WN':>6}{'non-2xx':>8}"
            )
            for setup in setups:
                r = results[setup]
                ratios = [
                    f"{r['rps'] / other['rps']:.2f}" if other else "-"
                    for other in (naive, nginx, whitenoise)
                ]
                bad = r["non_2xx"] + r["socket_errors"]
                print(
                    f"  {setup_label(setup):<48}{r['rps']:7.0f}{r['p50']:7.2f}{r['p99']:7.2f}"
                    f"{r['cpu_ms']:7.3f}{r['s3_cpu_ms']:7.3f}{r['rss']:6.0f}{ratios[0]:>8}"
                    f"{ratios[1]:>8}{ratios[2]:>6}{bad:>8}"
                )
            print()
    large = figures["large"]
    if large:
        direct = large["direct boto3"]["mbps"]
        print(f"LARGE object ({large_size // 2**20} MiB), one download, waitress")
        print(f"  {'path':<44}{'MB/s':>8}{'x direct':>10}{'peak RSS MiB':>14}")
        for name, label in (
            ("direct boto3", "direct boto3 get_object, 1 MiB reads"),
            ("direct http", "direct, the client used below (http.client)"),
            ("default", "through s3wsgi, default install (fast store)"),
            ("boto3", 'through s3wsgi, store="boto3"'),
            ("nginx", "through nginx proxy_pass"),
        ):
            if name in large:
                r = large[name]
                rss = f"{r['rss']:.1f}" if "rss" in r else "-"
                complete = "" if r["bytes"] == large_size else f"  INCOMPLETE: {r['bytes']} bytes"
                print(f"  {label:<44}{r['mbps']:8.0f}{r['mbps'] / direct:10.2f}{rss:>14}{complete}")
        print()
    print_targets(figures, servers)


def setup_label(setup: str) -> str:
    name, _, baseline = setup.partition("@")
    return f"{SETUPS[name][0]} [baseline]" if baseline else SETUPS[name][0]


def print_targets(figures: dict, servers: list[str]) -> None:
    print("targets")

    def check(label: str, value: float | None, goal: float, unit: str = "x") -> None:
        if value is None:
            print(f"  {label}: not measured")
        else:
            print(f"  {label}: {value:.2f}{unit}  {'met' if value >= goal else 'NOT met'}")

    for server in servers:
        runs = figures["runs"].get(server, {})

        def ratio(size, setup, other, runs=runs):
            results = runs.get(size, {})
            if setup in results and other in results:
                return results[setup]["rps"] / results[other]["rps"]
            return None

        check(
            f"{server}, 10 KiB: default install >= 2.0x naive", ratio("10k", "default", "naive"), 2
        )
        check(
            f"{server}, 10 KiB: fast store >= 0.75x nginx proxy_pass",
            ratio("10k", "default", "nginx"),
            0.75,
        )
        check(
            f"{server}, 200 KiB: fast store >= 0.8x nginx proxy_pass",
            ratio("200k", "default", "nginx"),
            0.8,
        )
        check(
            f"{server}, 10 KiB: cache warm >= 1.5x WhiteNoise",
            ratio("10k", "cache", "whitenoise"),
            1.5,
        )
        for size in SIZES:
            bounded = ratio(size, "default", "unbounded")
            if bounded is None:
                continue
            errors = sum(
                runs[size][s]["non_2xx"] + runs[size][s]["socket_errors"]
                for s in ("default", "unbounded")
            )
            verdict = "met" if bounded >= 0.95 and errors == 0 else "NOT met"
            print(
                f"  {server}, {size}: the bound costs nothing (>= 0.95x unbounded, 0 non-2xx):"
                f" {bounded:.2f}x, {errors} non-2xx  {verdict}"
            )
    large = figures["large"]
    direct = large.get("direct boto3", {}).get("mbps")
    for setup in ("default", "boto3"):
        if setup in large and direct:
            r = large[setup]
            speed = r["mbps"] / direct
            print(
                f"  large via {setup}: {speed:.2f}x direct >= 0.95: "
                f"{'met' if speed >= 0.95 else 'NOT met'}; peak RSS {r['rss']:.1f} MiB <= 100: "
                f"{'met' if r['rss'] <= 100 else 'NOT met'}"
            )


if __name__ == "__main__":
    sys.exit(main())

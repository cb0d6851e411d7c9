"""Where an uncached request's CPU goes, by phase: one s3wsgi server (the
default store, under waitress, as in run.py) loaded by wrk, with each
phase's CPU time measured in the thread that spends it.

Usage::

    python benchmarks/phases.py                 # 10 KiB and 200 KiB, 10 s each
    python benchmarks/phases.py --sizes 10k --seconds 5 --setup boto3

The server's functions of each phase are wrapped, and every thread keeps a
stack of the phases it is in: on entering or leaving one, the thread's CPU
time since the last change (``time.thread_time()``) is charged to the phase
it was in, so each phase counts only its own time, not its callees':

- host app: Flask's ``wsgi_app``, which calls the middleware;
- middleware/objects: ``S3Middleware.__call__`` and all it calls that is not
  below (the path, the bound, conditions, checking S3's answer, the body's
  wrappers and their ``close()``);
- response building: ``responses.object_headers`` and ``Response.__call__``;
- store: the stores' ``get`` and ``head`` (obstore's or botocore's request
  included) and every read of the body from S3;
- waitress: the rest of the process's Python threads: parsing requests,
  the task queue, writing answers to sockets (from /proc, less the above);
- outside Python threads: obstore's Rust runtime (its ``tokio`` threads),
  which sends requests and reads answers without the GIL.

Wrapping costs a few microseconds per request, shown as "timing overhead"
(measured by calling the wrappers in a loop) and included in the phases.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import run  # noqa: E402  (benchmarks/run.py: its servers and measures)

PHASES = ("waitress", "host app", "middleware/objects", "response building", "store")
STATS_PATH = "/__phases"


class PhaseClock:
    """CPU time per phase, summed over threads, each phase without its callees'."""

    def __init__(self):
        self.totals = dict.fromkeys(PHASES, 0.0)
        self._local = threading.local()
        self._lock = threading.Lock()

    def enter(self, phase: str) -> None:
        local = self._local
        now = time.thread_time()
        stack = getattr(local, "stack", None)
        if stack is None:
            stack = local.stack = []
        elif stack:
            self._charge(stack[-1], now - local.mark)
        stack.append(phase)
        local.mark = now

    def leave(self) -> None:
        local = self._local
        now = time.thread_time()
        self._charge(local.stack.pop(), now - local.mark)
        local.mark = now

    def _charge(self, phase: str, seconds: float) -> None:
        with self._lock:
            self.totals[phase] += seconds

    def timed(self, phase: str, function):
        def wrapper(*args, **kwargs):
            self.enter(phase)
            try:
                return function(*args, **kwargs)
            finally:
                self.leave()

        return wrapper

    def timed_iterable(self, phase: str, iterable):
        return _TimedIterable(self, phase, iterable)


class _TimedIterable:
    """An iterable whose every ``next()`` and ``close()`` counts to ``phase``."""

    def __init__(self, clock: PhaseClock, phase: str, iterable):
        self._clock, self._phase, self._iterable = clock, phase, iterable

    def __iter__(self):
        clock, phase = self._clock, self._phase
        clock.enter(phase)
        try:
            iterator = iter(self._iterable)
        finally:
            clock.leave()
        while True:
            clock.enter(phase)
            try:
                chunk = next(iterator, None)
            finally:
                clock.leave()
            if chunk is None:
                return
            yield chunk

    def close(self):
        close = getattr(self._iterable, "close", None)
        if close is not None:
            self._clock.timed(self._phase, close)()


def instrument(app, clock: PhaseClock):
    """Wrap the phases' functions of a run.py app (Flask around S3Middleware)."""
    from s3wsgi.http import bodies, responses
    from s3wsgi.middleware import S3Middleware
    from s3wsgi.stores import shared

    for module in ("s3wsgi.stores.obstore_store", "s3wsgi.stores.boto3_store"):
        __import__(module)
        store = sys.modules[module]
        cls = store.ObstoreStore if hasattr(store, "ObstoreStore") else store.BotoStore
        for method in ("get", "head"):
            setattr(cls, method, clock.timed("store", getattr(cls, method)))
    body_iter, body_close = shared.Body.__iter__, shared.Body.close
    shared.Body.__iter__ = lambda self: iter(clock.timed_iterable("store", body_iter(self)))
    shared.Body.close = clock.timed("store", body_close)
    watched_iter = bodies.Watched.__iter__
    bodies.Watched.__iter__ = lambda self: iter(
        clock.timed_iterable("middleware/objects", watched_iter(self))
    )
    bodies.Watched.close = clock.timed("middleware/objects", bodies.Watched.close)
    responses.object_headers = clock.timed("response building", responses.object_headers)
    responses.Response.__call__ = clock.timed("response building", responses.Response.__call__)
    S3Middleware.__call__ = clock.timed("middleware/objects", S3Middleware.__call__)
    wsgi_app = clock.timed("host app", app.wsgi_app)

    def outer(environ, start_response):
        if environ["PATH_INFO"] == STATS_PATH:
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(clock.totals).encode()]
        return wsgi_app(environ, start_response)

    return outer


def overhead_per_call(clock: PhaseClock, calls: int = 100_000) -> float:
    """CPU seconds one timed call costs beyond the call itself."""
    timed = clock.timed("store", lambda: None)
    started = time.thread_time()
    for _ in range(calls):
        timed()
    spent = time.thread_time() - started
    clock.totals["store"] = 0.0
    return spent / calls


def serve(setup: str, port: int, s3_url: str, root: str) -> None:
    import logging

    import waitress

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    os.environ.update(run.BENCH_ENV)
    clock = PhaseClock()
    app = instrument(run.build_app(setup, s3_url, root), clock)
    waitress.serve(
        app, host="127.0.0.1", port=port, threads=run.THREADS, connection_limit=1000, _quiet=True
    )


def thread_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of the Python threads, and of the others (tokio's)."""
    python = other = 0.0
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            with open(f"{task}/comm") as file:
                name = file.read().strip()
            with open(f"{task}/stat") as file:
                fields = file.read().rpartition(")")[2].split()
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) / run.CLOCK_TICKS
        if name.startswith("tokio"):
            other += seconds
        else:
            python += seconds
    return python, other


def stats(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + STATS_PATH, timeout=10) as answer:
        return json.loads(answer.read())


def profile(setup: str, size: str, s3_url: str, root: str, seconds: float) -> dict:
    port = run.free_port()
    process = run.subprocess.Popen(
        [sys.executable, __file__, "--serve", setup, "--port", str(port)]
        + ["--s3", s3_url, "--root", root],
        env={**os.environ, **run.BENCH_ENV, "PYTHONPATH": run.REPOSITORY},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        run.wait_for(f"{url}/")
        target = f"{url}{run.PREFIX}/{size}.bin"
        run.check_answer(target, os.path.join(root, run.BUCKET, f"{size}.bin"), setup)
        run.wrk(target, 2)  # warm
        python_before, other_before = thread_cpu(process.pid)
        phases_before = stats(url)
        result = run.wrk(target, seconds)
        phases_after = stats(url)
        python_after, other_after = thread_cpu(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
    requests = max(result["requests"], 1)
    ms = {phase: (phases_after[phase] - phases_before[phase]) * 1000 / requests for phase in PHASES}
    python_ms = (python_after - python_before) * 1000 / requests
    ms["waitress"] = max(python_ms - sum(ms.values()), 0.0)
    ms["outside Python threads"] = (other_after - other_before) * 1000 / requests
    return {"rps": result["rps"], "cpu_ms": sum(ms.values()), "phases": ms}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(run.SIZES), help="e.g. 10k")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--setup", default="default", help="an s3wsgi setup of run.py")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--s3", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.s3, args.root)
        return 0
    if "s3wsgi" not in run.SETUPS[args.setup][1]:
        parser.error("phases are an s3wsgi setup's: default, unbounded, boto3")
    run.ensure_tools()
    sizes = [size for size in args.sizes.split(",") if size]
    with tempfile.TemporaryDirectory(prefix="s3wsgi-phases-") as work:
        root = os.path.join(work, "data")
        run.put_objects(root, 0)
        with run.nginx_s3(work, root) as (s3_url, _):
            figures = {
                size: profile(args.setup, size, s3_url, root, args.seconds) for size in sizes
            }
    overhead = overhead_per_call(PhaseClock()) * 1000
    print(f"CPU ms per request by phase ({run.SETUPS[args.setup][0]}; waitress, wrk -c16)")
    print(f"  {'phase':<26}" + "".join(f"{size:>10}" for size in sizes))
    for phase in (*PHASES, "outside Python threads"):
        cells = "".join(f"{figures[size]['phases'][phase]:10.3f}" for size in sizes)
        print(f"  {phase:<26}{cells}")
    print(f"  {'total':<26}" + "".join(f"{figures[s]['cpu_ms']:10.3f}" for s in sizes))
    print(f"  {'req/s (timed)':<26}" + "".join(f"{figures[s]['rps']:10.0f}" for s in sizes))
    print(f"  timing overhead: about {overhead:.4f} ms per timed call, ~12 calls per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""gunicorn and uWSGI run as real processes in front of served_app.py.

A :class:`Setup` names one way to run the app (server, worker model, whether
the app is loaded before the workers fork, store); :class:`ServerProcess`
starts it on a free loopback port, knows its workers, and stops it with
SIGTERM, failing if it or one of its workers is left behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import requests

import s3wsgi

HERE = Path(__file__).resolve().parent
WORKERS = 2
THREADS = 4
# A green worker's connections (--worker-connections): the requests it
# serves at once, each in a greenlet.
CONNECTIONS = 32
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Setup:
    """One way to serve the app.

    :param server: ``"gunicorn"`` or ``"uwsgi"``.
    :param workers: gunicorn's worker class (``"sync"``, ``"gthread"``,
        ``"gevent"``: CONNECTIONS greenlets per worker), or
        uWSGI's ``"processes"`` / ``"threads"`` (processes of THREADS threads).
    :param preload: the app is imported in the master, before the fork:
        gunicorn's ``--preload``, uWSGI's default (else ``--lazy-apps``).
    :param store: the middleware's ``store``.
    """

    server: str
    workers: str
    preload: bool
    store: str

    @property
    def id(self) -> str:
        parts = [self.server, self.workers]
        if self.server == "gunicorn" and self.preload:
            parts.append("preload")
        if self.server == "uwsgi" and not self.preload:
            parts.append("lazy-apps")
        return "-".join([*parts, self.store])

    @property
    def threaded(self) -> bool:
        return self.workers in ("gthread", "threads")

    @property
    def green(self) -> bool:
        return self.workers == "gevent"

    @property
    def concurrency(self) -> int:
        """The requests one worker serves at once."""
        return CONNECTIONS if self.green else THREADS if self.threaded else 1

    def command(self, port: int) -> list[str]:
        if self.server == "gunicorn":
            return gunicorn_command(self, port)
        if self.server == "granian":
            return granian_command(self, port)
        return uwsgi_command(self, port)


def gunicorn_command(setup: Setup, port: int) -> list[str]:
    command = [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS)]
    command += ["--worker-class", setup.workers, "--bind", f"127.0.0.1:{port}"]
    if setup.threaded:
        # Only with gthread: gunicorn turns a sync worker given threads into gthread.
        command += ["--threads", str(THREADS)]
    if setup.green:
        command += ["--worker-connections", str(CONNECTIONS)]
    if setup.preload:
        command.append("--preload")
        if setup.green:
            command += ["--config", str(HERE / "gevent_preload.conf.py")]
    # gunicorn 27 opens a control socket in $HOME by default: two servers at
    # once would share it, and a test leaves nothing behind.
    command += ["--no-control-socket", "--graceful-timeout", "5"]
    return [*command, "--pythonpath", str(HERE), "served_app:application"]


def granian_command(setup: Setup, port: int) -> list[str]:
    # granian's WSGI workers: processes of THREADS Python threads each, the
    # app imported in each worker (there is no preload).
    command = [sys.executable, "-m", "granian", "--interface", "wsgi"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS)]
    command += ["--blocking-threads", str(THREADS), "--log-level", "warning"]
    return [*command, "--working-dir", str(HERE), "served_app:application"]


def uwsgi_command(setup: Setup, port: int) -> list[str]:
    # pyuwsgi's entry point: uWSGI embedding this very interpreter.
    command = [str(Path(sysconfig.get_path("scripts")) / "uwsgi"), "--strict", "--master"]
    command += ["--processes", str(WORKERS)]
    if setup.threaded:
        command += ["--threads", str(THREADS)]
    if not setup.preload:
        command.append("--lazy-apps")
    # uWSGI's own HTTP on the workers' socket. --http-socket closes every
    # connection after its answer without saying so, and a client that keeps
    # connections alive sends its next request into a closed socket, hence
    # the header; --http11-socket keeps a connection even when the client
    # asks to close it (RFC 9112 §9.6), holding a worker until its 4 s
    # socket timeout.
    command += ["--http-socket", f"127.0.0.1:{port}", "--add-header", "Connection: close"]
    # --die-on-term: uWSGI 2.0 takes SIGTERM as "reload" otherwise.
    command += ["--need-app", "--die-on-term", "--disable-logging", "--worker-reload-mercy", "5"]
    return [*command, "--pythonpath", str(HERE), "--module", "served_app:application"]


GUNICORN_SETUPS = [
    Setup("gunicorn", workers, preload, store)
    # gevent: the gunicorn environment of tox.ini installs it; gunicorn 27
    # has no eventlet worker any more.
    for workers in ("sync", "gthread", "gevent")
    for preload in (False, True)
    for store in ("boto3", "obstore")
]
# granian (s3wsgi serve --server granian): its workers run THREADS threads.
GRANIAN_SETUPS = [Setup("granian", "threads", False, store) for store in ("boto3", "obstore")]
UWSGI_SETUPS = [
    Setup("uwsgi", workers, preload, store)
    for workers in ("processes", "threads")
    for preload in (False, True)
    for store in ("boto3", "obstore")
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def served_environ(bucket: str, endpoint: str, store: str, **extra: str) -> dict[str, str]:
    """This process's environment (moto's dummy credentials included), with
    the app's ``S3WSGI_*`` settings and ``extra``, and no others."""
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("S3WSGI_", "SERVED_APP_"))
    }
    environ.update(
        S3WSGI_BUCKET=bucket,
        S3WSGI_ENDPOINT_URL=endpoint,
        S3WSGI_PREFIX="/docs",
        S3WSGI_STORE=store,
        # A leaked socket or file shows in the server's log as a ResourceWarning.
        PYTHONDEVMODE="1",
        # ...where a dependency's DeprecationWarning would only be noise.
        PYTHONWARNINGS="ignore::DeprecationWarning",
        # The s3wsgi this test run imported, not another one installed: in
        # a work tree of its own, the servers test its code.
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(Path(s3wsgi.__file__).parent.parent), os.environ.get("PYTHONPATH")])
        ),
    )
    environ.update(extra)
    return environ


class ServerProcess:
    """A server running ``setup`` on a free port; its output in ``log_path``.

    :param environ: the server's whole environment (see :func:`served_environ`).
    """

    def __init__(self, setup: Setup, environ: dict[str, str], log_path: Path):
        self.setup = setup
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.seen_workers: set[int] = set()
        with open(log_path, "wb") as log:
            # A session of its own: a server that will not stop is killed
            # with its workers, and none outlives the test run.
            self.process = subprocess.Popen(
                setup.command(self.port),
                env=environ,
                cwd=HERE,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_until_it_answers()
        except BaseException:
            self._kill()
            raise

    @property
    def pid(self) -> int:
        return self.process.pid

    def _wait_until_it_answers(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.setup.id} exited at start:\n{self.log()}")
            try:
                requests.get(self.url + "/", timeout=5).close()
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.setup.id} never answered:\n{self.log()}") from None
                time.sleep(0.05)
            else:
                return

    def workers(self, count: int = WORKERS, timeout: float = 15.0) -> set[int]:
        """The master's child processes, once there are ``count`` of them
        (uWSGI's master forks its workers one after the other)."""
        deadline = time.monotonic() + timeout
        while True:
            children = child_pids(self.pid)
            if len(children) == count or time.monotonic() > deadline:
                self.seen_workers |= children
                return children
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def troubles(self) -> list[str]:
        """The log's lines that tell of a traceback, an exception or a leak.

        gunicorn's sync worker exits without closing its copy of the
        listening socket; under PYTHONDEVMODE that is one ResourceWarning
        per worker, which is gunicorn's and is left out.
        """
        listener = re.compile(
            r"unclosed <socket\.socket fd=\d+, family=\d+, type=\d+, proto=\d+, "
            rf"laddr=\('127\.0\.0\.1', {self.port}\)>"
        )
        return [
            line
            for line in self.log().splitlines()
            if re.search(r"Traceback|Exception ignored|ResourceWarning|\bERROR\b", line)
            and not listener.search(line)
            and "Enable tracemalloc" not in line
        ]

    def stop(self) -> None:
        """SIGTERM the master and wait for it; fail if it or a worker is left."""
        if self.process.poll() is None:
            self.seen_workers |= child_pids(self.pid)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._kill()
                raise AssertionError(
                    f"{self.setup.id} still running {STOP_TIMEOUT} s after SIGTERM"
                ) from None
            assert self.process.returncode == 0, f"{self.setup.id} exited {self.process.returncode}"
        left = {pid for pid in self.seen_workers if alive(pid)}
        if left:
            self._kill()
            raise AssertionError(f"{self.setup.id} left workers running: {sorted(left)}")

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)


def child_pids(pid: int) -> set[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return {int(child) for child in children.read().split()}
    except (FileNotFoundError, ProcessLookupError):
        return set()


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The state follows the command name, which is in parentheses.
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone before, or while, it was read
        return False


def usage(pid: int) -> tuple[int, int]:
    """A process's open descriptors and threads (native ones included)."""
    return len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task"))

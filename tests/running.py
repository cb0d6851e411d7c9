"""A command running in the background, for the tests that start
``s3wsgi serve``, ``s3wsgi demo`` or an example and read what it prints."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import threading
import time


class Running:
    """A command running in the background, its output read as it comes."""

    def __init__(
        self, command: list[str], environ: dict[str, str] | None = None, cwd: str | None = None
    ):
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=environ,
            cwd=cwd,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.readers = [
            threading.Thread(target=self._read, args=(stream,), daemon=True)
            for stream in (self.process.stdout, self.process.stderr)
        ]
        for reader in self.readers:
            reader.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, pattern: re.Pattern, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.output.append(line)
            match = pattern.search(line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern.pattern!r} in {self.output!r}")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Send ``signum`` and wait; the exit status. All output is then in
        ``output``."""
        self.process.send_signal(signum)
        status = self.process.wait(timeout=timeout)
        for reader in self.readers:
            reader.join(timeout=5)
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return status

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for reader in self.readers:
            reader.join(timeout=5)
        self.process.stdout.close()
        self.process.stderr.close()

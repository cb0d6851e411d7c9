"""A clock a test moves by hand, for what a mount measures by its clock
(TTLs, the breaker's cool-down, the health check's interval): the test
says when time passes instead of sleeping it out."""

from __future__ import annotations

import threading


class ManualClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

"""A bound on the server threads that S3 requests hold at once.

A request that reads S3 holds a server thread until its answer is sent, or
until S3 times out when S3 hangs. Without a bound, a hung S3 takes every
thread and the host app's own routes queue behind it. With one (below the
server's thread count) the app always keeps threads of its own, and a
claimed request over the bound answers 503 at once.

"At once" only when S3 is stuck: while S3 answers, the requests inside the
bound move on within milliseconds, so a request that finds the bound full
waits up to :data:`GRACE` seconds for a turn rather than fail a healthy
burst. It does not wait when nothing moved in the last :data:`GRACE`
seconds (no request entered or left the bound, and no chunk of a body came
from S3): S3 is then not answering, and no turn is coming soon.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Seconds without progress inside the bound that mean S3 is stuck; also the
# longest a request waits for a turn.
GRACE = 0.25


class Bulkhead:
    """At most ``limit`` holders at once (None: no bound).

    :param clock: a monotonic clock, in seconds.
    """

    def __init__(self, limit: int | None, *, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.inside = 0
        self._clock = clock
        self._turn = threading.Condition(threading.Lock())
        self._last_move = clock()

    def enter(self) -> float | None:
        """Seconds waited for a turn (then call :meth:`leave` once), or None:
        the bound is full and stays so."""
        if self.limit is None:
            return 0.0
        clock = self._clock
        with self._turn:
            started = clock()
            while self.inside >= self.limit:
                left = self._last_move + GRACE - clock()
                if left <= 0:
                    return None
                self._turn.wait(left)
            self.inside += 1
            self._last_move = clock()
            return self._last_move - started

    def moved(self) -> None:
        """A holder made progress: S3 sent a chunk of a body."""
        self._last_move = self._clock()

    def leave(self) -> None:
        if self.limit is None:
            return
        with self._turn:
            self.inside -= 1
            self._last_move = self._clock()
            self._turn.notify()

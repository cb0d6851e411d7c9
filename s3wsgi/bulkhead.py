"""A bound on the server threads that S3 requests hold at once.

A request that reads S3 holds a server thread until its answer is sent, or
until S3 times out when S3 hangs. Without a bound, a hung S3 takes every
thread and the host app's own routes queue behind it. With one (below the
server's thread count) the app always keeps threads of its own, and a
claimed request over the bound answers 503 at once.

"At once" only when S3 is stuck: while S3 answers, the requests inside the
bound move on quickly, so a request that finds the bound full waits for a
turn rather than fail a healthy burst. It waits only while something moves
inside the bound (a request enters, S3 answers one, a chunk of a body
arrives, one leaves): when nothing has moved for :meth:`Bulkhead.grace`
seconds, S3 is not answering, no turn is coming soon, and the request is
refused. The grace follows S3's pace: eight times its recent answer time,
within :data:`MIN_GRACE` and :data:`MAX_GRACE` -- so a hung S3 is noticed in
a quarter of a second where S3 answers in milliseconds, and a slow but
moving S3 is not mistaken for a hung one.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MIN_GRACE = 0.25
MAX_GRACE = 1.0
# Weight of the latest answer time in the running average.
_SMOOTHING = 0.2


class _Waiter:
    """One request waiting for a turn: its lock is released when it gets one."""

    __slots__ = ("lock", "granted")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.granted = False


class Bulkhead:
    """At most ``limit`` holders at once (None: no bound); those who wait for
    a turn get it first come, first served, handed over by the holder that
    leaves (one waiter woken, not all).

    :param clock: a monotonic clock, in seconds.
    """

    def __init__(self, limit: int | None, *, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.inside = 0
        self._clock = clock
        self._lock = threading.Lock()
        self._waiting: deque[_Waiter] = deque()
        self._last_move = clock()
        self._answer_seconds = MIN_GRACE / 8  # S3's recent answer time

    @property
    def grace(self) -> float:
        """Seconds without a move inside the bound that mean S3 is stuck."""
        return min(MAX_GRACE, max(MIN_GRACE, 8 * self._answer_seconds))

    def enter(self, max_wait: float) -> float | None:
        """Seconds waited for a turn (then call :meth:`leave` once), or None:
        the bound is full and no turn came in time.

        :param max_wait: the longest this request can afford to wait.
        """
        limit = self.limit
        if limit is None:
            return 0.0
        clock = self._clock
        started = clock()
        with self._lock:
            if self.inside < limit and not self._waiting:
                self.inside += 1
                self._last_move = started
                return 0.0
            waiter = _Waiter()
            self._waiting.append(waiter)
        while True:
            left = min(self._last_move + self.grace, started + max_wait) - clock()
            if left > 0 and waiter.lock.acquire(timeout=left):
                return clock() - started  # handed a turn by a holder that left
            with self._lock:
                if waiter.granted:
                    return clock() - started  # handed one just as the wait ended
                now = clock()
                if now >= started + max_wait or now >= self._last_move + self.grace:
                    self._waiting.remove(waiter)
                    return None
            # Something moved meanwhile: S3 answers, a turn will come.

    def moved(self) -> None:
        """A holder made progress: S3 sent a chunk of a body."""
        self._last_move = self._clock()

    def answered(self, seconds: float) -> None:
        """S3 answered a holder after ``seconds``: progress, and S3's pace."""
        self._answer_seconds += _SMOOTHING * (seconds - self._answer_seconds)
        self._last_move = self._clock()

    def leave(self) -> None:
        if self.limit is None:
            return
        with self._lock:
            self._last_move = self._clock()
            if self._waiting:
                # The turn passes to the first in line: ``inside`` stays.
                waiter = self._waiting.popleft()
                waiter.granted = True
                waiter.lock.release()
            else:
                self.inside -= 1

"""A bound on the server threads that S3 requests hold at once.

A request that reads S3 holds a server thread until its answer is sent, or
until S3 times out when S3 hangs. Without a bound, a hung S3 takes every
thread and the host app's own routes queue behind it. With one (below the
server's thread count) the app always keeps threads of its own, and a
claimed request over the bound answers 503 at once.

"At once" only when no turn is coming soon: while S3 answers, the requests
inside the bound leave quickly, so a request that finds the bound full may
wait for a turn rather than fail a healthy burst. But it holds a server
thread while it waits, and the threads over the bound are the app's. So it
waits only if the app still keeps a thread that no waiter holds, or if a
turn is expected within :data:`HOST_DELAY` at S3's usual pace (the median
of its recent answer times); and never for turns all held by bodies
waiting for their clients to take a chunk for longer than the grace (the
time between a chunk handed to the server and its asking for the next is
the client's, not S3's), which come back at those clients' pace. A waiter is refused
when no turn has come back for :attr:`Bulkhead.grace` seconds: S3 is not
answering.

The grace follows S3's pace, measured: twice the slowest of its recent
answer times (:data:`RECENT` of them), within :data:`MIN_GRACE` and
:data:`MAX_GRACE`. While the bound is full of requests that S3 answers,
one leaves at least as often as the slowest of them takes, so only a turn
that S3 holds for longer than twice its slowest recent answer (a hung S3)
ends a wait. On a busy two-core machine, 16 clients on 8 threads against
moto, S3's answers took 35 ms at the median, 120 to 320 ms at the 99th
percentile and up to 550 ms, and for up to 300 ms no turn came back while
every thread waited for the CPU: the rule before (nothing moved for eight
times the mean answer time, at least 0.25 s) refused 5 to 8% of those
requests. A waiter that wakes up late, its process not running, cannot
tell whether the holders ran either, so it does not count that time
against S3 (for :data:`MAX_GRACE` at most, so that a hung S3 on a starved
machine is refused too).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MIN_GRACE = 0.5
MAX_GRACE = 2.0
# How many of S3's latest answer times the grace and the pace follow.
RECENT = 100
# How many answers tell S3's usual pace: the first few of a process are slow,
# as each opens a connection.
KNOWN_PACE = 20
# A waiter checks this many times per grace whether it was woken on time.
_TICKS = 4
# The longest a request may expect to wait for a turn: it holds a server
# thread meanwhile, and the app's own requests may be queued behind it.
HOST_DELAY = 0.05


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

    :param waiters: how many may wait for a turn at once and still leave
        the app a server thread that none of them holds; more wait only for
        a turn expected within :data:`HOST_DELAY`.
    :param clock: a monotonic clock, in seconds.
    """

    def __init__(
        self,
        limit: int | None,
        *,
        waiters: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.limit = limit
        self.waiters = waiters
        self.inside = 0
        self.clock = clock
        self._lock = threading.Lock()
        self._waiting: deque[_Waiter] = deque()
        self._last_turn = clock()  # when a turn was last taken or given back
        self._sending: set[Turn] = set()  # holders sending a body S3 streams
        self._answers: deque[float] = deque(maxlen=RECENT)  # S3's recent answer times
        # Seconds without a turn given back that mean none is coming soon.
        self._grace = MIN_GRACE
        self._pace = 0.0  # S3's usual answer time: the median of the recent ones
        # Whether the two above follow every answer in _answers: they are
        # worked out when read (a bound full), not at each answer.
        self._paced = True

    def enter(self, max_wait: float) -> float | None:
        """Seconds waited for a turn (then call :meth:`leave` once), or None:
        the bound is full and no turn came in time.

        :param max_wait: the longest this request can afford to wait.
        """
        limit = self.limit
        if limit is None:
            return 0.0
        clock = self.clock
        started = clock()
        with self._lock:
            if self.inside < limit and not self._waiting:
                self.inside += 1
                self._last_turn = started
                return 0.0
            self._follow_pace()
            asking = self.inside - self._at_clients_pace(started)  # turns S3 ends
            place = len(self._waiting) + 1
            if not asking or (place > self.waiters and place * self._pace > HOST_DELAY * asking):
                # No turn is coming soon: waiting would hold a thread the
                # app keeps, with the app's requests queued behind it.
                return None
            waiter = _Waiter()
            self._waiting.append(waiter)
        # Since when this waiter vouches that it had the CPU: a turn not
        # given back while the waiter itself was not running says nothing.
        awake = float("-inf")
        while True:
            grace = self.grace
            until = min(max(self._last_turn, awake) + grace, started + max_wait)
            wake = min(until, clock() + grace / _TICKS)
            left = wake - clock()
            if left > 0 and waiter.lock.acquire(timeout=left):
                return clock() - started  # handed a turn by a holder that left
            with self._lock:
                if waiter.granted:
                    return clock() - started  # handed one just as the wait ended
                now = clock()
                if now - wake > grace / _TICKS and now < started + MAX_GRACE:
                    awake = now  # woken late: the process was starved
                    continue
                if (
                    now >= started + max_wait
                    or now >= max(self._last_turn, awake) + grace
                    or self._at_clients_pace(now) >= self.inside
                ):
                    self._waiting.remove(waiter)
                    return None

    @property
    def grace(self) -> float:
        """Seconds without a turn given back that mean none is coming soon."""
        with self._lock:
            self._follow_pace()
            return self._grace

    def answered(self, seconds: float) -> None:
        """S3 answered a holder after ``seconds``: its pace, which sets the grace."""
        with self._lock:
            self._answered(seconds)

    def _answered(self, seconds: float) -> None:
        """Under the lock."""
        self._answers.append(seconds)
        self._paced = False

    def _follow_pace(self) -> None:
        """The grace and the pace of S3's recent answers. Under the lock; a
        request reads them only when the bound is full, so each answer costs
        a sort of the recent ones only then."""
        if self._paced:
            return
        answers = self._answers
        self._grace = min(MAX_GRACE, max(MIN_GRACE, 2 * max(answers)))
        if len(answers) >= KNOWN_PACE:
            self._pace = sorted(answers)[len(answers) // 2]
        self._paced = True

    def sending(self, answered: float | None = None) -> Turn:
        """The holder keeps its turn while it sends a body that S3 streams;
        the turn, told of the body's chunks and of its end (then it leaves,
        instead of :meth:`leave`).

        :param answered: as :meth:`answered`, under the same lock.
        """
        turn = Turn(self)
        with self._lock:
            if answered is not None:
                self._answered(answered)
            self._sending.add(turn)
        return turn

    def sent(self, turn: Turn) -> None:
        """A body is closed: its turn leaves."""
        with self._lock:
            self._sending.discard(turn)
        self.leave()

    def _at_clients_pace(self, now: float) -> int:
        """How many holders have waited for their client to take a chunk for
        longer than the grace: their turns come back at those clients' pace.
        (Not a shorter time: on a busy machine healthy clients, the test's
        own among them, are slow to read for a few tenths of a second.)
        Under the lock."""
        self._follow_pace()
        grace = self._grace
        return sum(
            1
            for turn in self._sending
            if turn.with_client is not None and now - turn.with_client > grace
        )

    def leave(self, answered: float | None = None) -> None:
        """A holder's turn comes back.

        :param answered: as :meth:`answered`, under the same lock.
        """
        if self.limit is None and answered is None:
            return
        with self._lock:
            if answered is not None:
                self._answered(answered)
            if self.limit is None:
                return
            self._last_turn = self.clock()
            if self._waiting:
                # The turn passes to the first in line: ``inside`` stays.
                waiter = self._waiting.popleft()
                waiter.granted = True
                waiter.lock.release()
            else:
                self.inside -= 1


class Turn:
    """A holder's turn while it sends a body that S3 streams: since when it
    waits for its client to take a chunk (None: for S3, or for nothing)."""

    __slots__ = ("_bulkhead", "with_client")

    def __init__(self, bulkhead: Bulkhead):
        self._bulkhead = bulkhead
        self.with_client: float | None = None

    def to_client(self) -> None:
        self.with_client = self._bulkhead.clock()

    def from_client(self) -> None:
        self.with_client = None

    def done(self) -> None:
        self._bulkhead.sent(self)

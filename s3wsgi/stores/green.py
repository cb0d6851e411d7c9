"""The fast store under gevent or eventlet: its calls kept off the hub.

A monkey-patched process (gunicorn's ``-k gevent`` worker, or one that
called ``gevent.monkey.patch_all()`` or ``eventlet.monkey_patch()``) runs
every request in a greenlet of one OS thread. boto3 cooperates there, since
it reads through the patched socket module; obstore reads through Rust's
own sockets, and each of its calls would block the hub, so every other
request of the process, the host app's included, would wait for it.

Here each such call runs on a real OS thread of a pool, while the greenlet
that asked waits cooperatively (docs/deployment.rst, "gevent and eventlet
workers"). Elsewhere calls run as they are, at no cost.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from .shared import PerProcess

T = TypeVar("T")

# gunicorn's default --worker-connections: the requests a green worker
# serves at once when the operator did not say otherwise.
GREEN_CONNECTIONS = 1000


def hub() -> str | None:
    """``"gevent"`` or ``"eventlet"`` where this process's sockets or threads
    are monkey-patched by it, else None.

    Read from the modules already imported: a process that never imported
    gevent (or eventlet) is not patched by it, and is not made to import it.
    """
    gevent_monkey: Any = sys.modules.get("gevent.monkey")
    if gevent_monkey is not None and any(
        gevent_monkey.is_module_patched(name) for name in ("socket", "threading")
    ):
        return "gevent"
    patcher: Any = sys.modules.get("eventlet.patcher")
    if patcher is not None and any(
        patcher.is_monkey_patched(name) for name in ("socket", "thread")
    ):
        return "eventlet"
    return None


def server_concurrency() -> int | None:
    """The requests a process serves at once when it is green and the
    operator gave no ``server_threads``: gunicorn's default connections per
    green worker, not a thread count. None where the process is not green.

    What sizes the bound on S3 requests (``max_s3_requests``) in its place:
    a green worker has no threads to keep for the host app, only
    connections, and a request that waits on S3 holds only a greenlet.
    """
    return GREEN_CONNECTIONS if hub() is not None else None


Runner = Callable[[Callable[..., Any], tuple[Any, ...]], Any]


class OffHub:
    """Runs blocking calls on real OS threads where the process is green.

    :param threads: the most calls run at once; one more waits (its
        greenlet, not the hub) for a thread. At least the S3 requests
        allowed in flight, so that the bound, not the pool, decides who
        waits. eventlet's pool has its own size (``EVENTLET_THREADPOOL_SIZE``).
    """

    def __init__(self, threads: int):
        self._threads = threads
        # Decided in each process at its first call: gunicorn patches a
        # worker after the fork, and a --preload master is not patched.
        self._runner: PerProcess[Runner | None] = PerProcess(self._make_runner)

    def _make_runner(self) -> Runner | None:
        kind = hub()
        if kind == "gevent":
            pool = importlib.import_module("gevent.threadpool").ThreadPool(self._threads)
            return pool.apply  # type: ignore[no-any-return]
        if kind == "eventlet":
            execute = importlib.import_module("eventlet.tpool").execute
            return lambda function, args: execute(function, *args)
        return None

    @property
    def green(self) -> bool:
        """Whether calls are run off the hub in this process."""
        return self._runner.get() is not None

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)``, on a pool's thread if the process is green."""
        run = self._runner.get()
        if run is None:
            return function(*args)
        # The outcome is carried back whole: a pool reports an exception
        # raised on its thread as a crash (gevent prints its traceback),
        # where an S3 fault is an answer like any other here.
        failed, outcome = run(_outcome, (function, args))
        if failed:
            raise outcome
        return outcome  # type: ignore[no-any-return]


def _outcome(function: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
    """Whether ``function(*args)`` raised, and what it returned or raised."""
    try:
        return False, function(*args)
    except BaseException as error:  # re-raised in the caller, KeyboardInterrupt included
        return True, error

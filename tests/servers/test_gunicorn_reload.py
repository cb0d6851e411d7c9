"""A graceful reload of gunicorn (``kill -HUP`` of its master) under load:
new workers start, the old ones finish what they were doing and exit, and
no request fails or gets a wrong answer meanwhile."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest
from server_process import GUNICORN_SETUPS, WORKERS, ServerProcess, alive
from traffic import Tally, drive

RELOADS = 2
# Requests answered between two reloads, so each reload meets a busy server.
BETWEEN = 100


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


def more_answers(tally: Tally) -> None:
    answered = tally.total
    wait_for(lambda: tally.total >= answered + BETWEEN, f"{BETWEEN} more answers")


def reload(server: ServerProcess, tally: Tally, old: set[int]) -> set[int]:
    """HUP the master; the new workers, once the old ones have exited and
    each new one has answered."""
    os.kill(server.pid, signal.SIGHUP)
    wait_for(lambda: not any(alive(pid) for pid in old), f"old workers {sorted(old)} exit")
    new = server.workers()
    assert len(new) == WORKERS and not new & old, (old, new)
    wait_for(lambda: new <= set(tally.by_worker), f"new workers {sorted(new)} answer")
    return new


@pytest.mark.parametrize("setup", GUNICORN_SETUPS, ids=lambda setup: setup.id)
def test_a_reload_under_load_loses_no_request(start_server, setup):
    server = start_server(setup)
    generations = [server.workers()]

    def reload_twice(tally: Tally) -> None:
        for _ in range(RELOADS):
            more_answers(tally)
            generations.append(reload(server, tally, generations[-1]))
        more_answers(tally)

    # Two clients keep one connection each across both reloads, two open a
    # new connection for every request.
    tally = drive(server.url, until=lambda tally: True, meanwhile=reload_twice)

    assert tally.failures == []
    every_worker = set().union(*generations)
    assert len(every_worker) == WORKERS * (RELOADS + 1)
    assert set(tally.by_worker) <= every_worker
    assert tally.total >= BETWEEN * (RELOADS + 1)

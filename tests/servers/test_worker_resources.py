"""Open descriptors and threads of each worker stay flat under load.

After a warm-up that lets every pool (the worker's threads, the store's S3
connections, obstore's runtime) reach its size, each worker answers 1,000
more requests of every kind; its ``/proc/PID/fd`` and ``/proc/PID/task``
counts, taken when no client is connected, are then exactly what they were
(under gevent, whose thread pools retire idle threads, no more threads).
"""

from __future__ import annotations

import time

import pytest
from server_process import GUNICORN_SETUPS, WORKERS, usage
from traffic import drive

WARM_UP = 100
# Enough to show a leak of one descriptor or thread in a hundred requests.
PER_WORKER = 400


def settled_usage(workers: set[int], timeout: float = 15.0) -> dict[int, tuple[int, int]]:
    """Each worker's (descriptors, threads), once unchanged for a second:
    a worker closes a client's connection a moment after the client has."""
    deadline = time.monotonic() + timeout
    samples = [{pid: usage(pid) for pid in workers}]
    while len(samples) < 5 or any(sample != samples[-1] for sample in samples[-5:]):
        if time.monotonic() > deadline:
            raise AssertionError(f"usage never settled: {samples[-5:]}")
        time.sleep(0.25)
        samples.append({pid: usage(pid) for pid in workers})
    return samples[-1]


def load(url: str, workers: set[int], per_worker: int, *, clients: int):
    """Run ``clients`` clients until every worker has answered ``per_worker``
    requests. Half keep their connection alive for one round of requests:
    gthread serves a kept-alive connection in the worker that accepted it,
    so longer ones would leave one worker nearly idle."""
    return drive(
        url,
        until=lambda tally: all(tally.by_worker[pid] >= per_worker for pid in workers),
        keep_alive_clients=clients // 2,
        new_connection_clients=clients - clients // 2,
        rounds_per_connection=1,
        timeout=120,
    )


@pytest.mark.parametrize(
    "setup",
    [setup for setup in GUNICORN_SETUPS if not setup.preload],
    ids=lambda setup: setup.id,
)
def test_descriptors_and_threads_of_every_worker_stay_flat(start_server, setup):
    server = start_server(setup)
    workers = server.workers()
    assert len(workers) == WORKERS
    # Four times the clients of the count that follows, so that every
    # worker's thread pool has reached its size before it is counted.
    warm_up = load(server.url, workers, WARM_UP, clients=16)
    assert warm_up.failures == []
    before = settled_usage(workers)

    tally = load(server.url, workers, PER_WORKER, clients=4)

    assert tally.failures == []
    assert all(tally.by_worker[pid] >= PER_WORKER for pid in workers), tally.by_worker
    assert set(tally.by_worker) == workers  # none restarted meanwhile
    after = settled_usage(workers)
    if setup.green:
        # gevent's thread pools (its resolver's, the fast store's) retire
        # threads left idle: fewer threads after, never more.
        assert {pid: fds for pid, (fds, _) in after.items()} == {
            pid: fds for pid, (fds, _) in before.items()
        }
        assert all(after[pid][1] <= before[pid][1] for pid in workers), (before, after)
    else:
        assert after == before

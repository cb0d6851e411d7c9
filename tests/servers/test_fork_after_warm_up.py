"""An app that reads S3 while it is imported, then is forked into workers.

With ``gunicorn --preload`` (and uWSGI without ``--lazy-apps``) the app
module runs in the master; a warm-up GET there starts the store's client
before the fork. boto3's client is made again in each process. obstore's
runtime does not survive a fork, so in a worker the obstore store falls back
to the boto3 store for that process, and says so once in the ``s3wsgi``
logger: a worker keeps serving, and its log is not flooded.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
from server_process import ServerProcess, Setup
from traffic import Tally, drive

PER_WORKER = 40
FORKED_AFTER_WARM_UP = [
    Setup("gunicorn", "sync", True, "obstore"),
    Setup("gunicorn", "gthread", True, "obstore"),
    Setup("uwsgi", "processes", True, "obstore"),
]
# served_app.py logs as "LEVEL logger [pid] message".
LOG_LINE = re.compile(r"^(?P<level>[A-Z]+) s3wsgi \[(?P<pid>\d+)\] (?P<message>.*)$", re.M)


def s3wsgi_lines(log: str, level: str) -> list[tuple[int, str]]:
    return [
        (int(line["pid"]), line["message"])
        for line in LOG_LINE.finditer(log)
        if line["level"] == level
    ]


def every_worker_answers(workers: set[int]):
    """Until each worker has answered PER_WORKER requests; or, when the
    answers go wrong, until there are enough of them to tell."""

    def enough(tally: Tally) -> bool:
        served = all(tally.by_worker[pid] >= PER_WORKER for pid in workers)
        return served or len(tally.failures) >= PER_WORKER

    return enough


def served_right_by_every_worker(start_server, setup: Setup) -> tuple[ServerProcess, set[int]]:
    """The app warmed up before the fork, then each worker's answers to
    ``PER_WORKER`` requests on new connections, all right; the server
    stopped (its log complete) and its workers."""
    server = start_server(setup, SERVED_APP_WARM_UP="1")
    workers = server.workers()
    tally = drive(
        server.url,
        until=every_worker_answers(workers),
        keep_alive_clients=0,
        new_connection_clients=4,
        timeout=60,
    )
    server.stop()
    assert not tally.failures, f"{len(tally.failures)} wrong answers, e.g. {tally.failures[:3]}"
    assert all(tally.by_worker[pid] >= PER_WORKER for pid in workers), tally.by_worker
    return server, workers


@pytest.mark.parametrize("setup", FORKED_AFTER_WARM_UP, ids=lambda setup: setup.id)
def test_obstore_used_before_the_fork_falls_back_to_boto3_once_per_worker(start_server, setup):
    server, workers = served_right_by_every_worker(start_server, setup)
    fallbacks = Counter(
        pid
        for pid, message in s3wsgi_lines(server.log(), "WARNING")
        if "boto3" in message and "fork" in message.lower()
    )
    # One line in each worker, however many requests it answered; none in
    # the master, whose obstore works.
    assert fallbacks == Counter(dict.fromkeys(workers, 1)), server.log()


@pytest.mark.parametrize(
    "setup",
    [Setup(setup.server, setup.workers, True, "boto3") for setup in FORKED_AFTER_WARM_UP],
    ids=lambda setup: setup.id,
)
def test_boto3_used_before_the_fork_serves_in_every_worker_silently(start_server, setup):
    server, workers = served_right_by_every_worker(start_server, setup)
    assert s3wsgi_lines(server.log(), "WARNING") == []

"""A green process reading S3 through the fast store while S3 hangs::

    python green_reader.py gevent|eventlet ENDPOINT BUCKET

It patches the standard library with gevent or eventlet, as a green server
does, then reads READS keys at once, each in a greenlet, while a ticker
greenlet notes how late each of its 50 ms sleeps wakes: the hub's longest
stall. It prints what it saw as JSON.
"""

from __future__ import annotations

import sys

HUB = sys.argv[1]
if HUB == "gevent":
    from gevent import monkey

    monkey.patch_all()
else:
    import eventlet

    eventlet.monkey_patch()

import json  # noqa: E402
import time  # noqa: E402

from s3wsgi.options import Options  # noqa: E402
from s3wsgi.stores import base, green  # noqa: E402
from s3wsgi.stores.obstore_store import ObstoreStore  # noqa: E402

READS = 8
READ_TIMEOUT = 2.0
TICK = 0.05

if HUB == "gevent":
    import gevent

    spawn, sleep = gevent.spawn, gevent.sleep

    def wait(threads):
        gevent.joinall(threads)
        return [thread.value for thread in threads]
else:
    spawn, sleep = eventlet.spawn, eventlet.sleep

    def wait(threads):
        return [thread.wait() for thread in threads]


store = ObstoreStore(
    sys.argv[3],
    base.Connection(endpoint_url=sys.argv[2], connect_timeout=1, read_timeout=READ_TIMEOUT),
)
stalls = [0.0]
done = False


def tick():
    while not done:
        started = time.monotonic()
        sleep(TICK)
        stalls.append(time.monotonic() - started - TICK)


def read(n):
    try:
        store.get(base.ObjectRequest(f"hung-{n}.txt"))
    except base.UpstreamError as error:
        return error.status
    return 200


ticker = spawn(tick)
started = time.monotonic()
statuses = wait([spawn(read, n) for n in range(READS)])
elapsed = time.monotonic() - started
done = True
wait([ticker])
print(
    json.dumps(
        {
            "hub": green.hub(),
            "server_concurrency": green.server_concurrency(),
            "bound": Options(bucket="any-bucket").s3_request_bound,
            "statuses": statuses,
            "elapsed": elapsed,
            "longest_stall": max(stalls),
        }
    )
)

"""The plan's success table under concurrency, with real threads and processes: 10 threads x 100
appends and 4 processes on one SQLite ledger all succeed with contiguous offsets, and kill -9
during appends loses no acknowledged event. Payloads are distinct (identical ones share a content
id and collapse into one event). Seeds are printed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

from channel_events import CHANNEL, created_channel, event

from chronik.domains.channels import service
from chronik.domains.channels.eventlog import EventLog
from chronik.domains.channels.reconstruct import Reconstructor
from chronik.ledger import open_ledger

TESTS = os.path.dirname(__file__)


def worker_event(worker: int, n: int) -> dict:
    """A distinct event of one worker: a signed state on the shared channel, or its own message."""
    unique = worker * 100_000 + n
    if n % 2:
        return event("state-signed", unique)
    return event("message-sent", unique, peer_id=f"peer-{worker}")


def worker_events(worker: int, count: int) -> list[dict]:
    return [worker_event(worker, n) for n in range(count)]


def test_ten_threads_append_a_hundred_each(sqlite_url):
    with open_ledger(sqlite_url) as ledger:
        log = EventLog(ledger)
        log.append(created_channel())
        results: dict[int, list[int]] = {}
        errors: list[BaseException] = []

        def run(worker: int) -> None:
            try:
                results[worker] = [log.append(item) for item in worker_events(worker, 100)]
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=run, args=(worker,)) for worker in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        offsets = sorted(offset for found in results.values() for offset in found)
        assert offsets == list(range(1, 1001))  # 100% success, contiguous, none twice
        assert len(log) == 1001 and [e.offset for e in log.read_from(0)] == list(range(1001))
        assert Reconstructor(ledger).channel(CHANNEL).state["events"] == 501
        assert ledger.verify().ok


PROCESS_WORKER = """
import sys, json
sys.path.insert(0, {tests!r})
from channel_events import event, created_objective, hexid
from test_channels_concurrency import worker_events
from chronik.ledger import open_ledger
from chronik.domains.channels.eventlog import EventLog
worker = int(sys.argv[1])
objective = hexid(f"objective of worker {{worker}}")
with open_ledger({url!r}) as ledger:
    log = EventLog(ledger)
    offsets = [log.append(created_objective(worker, objective=objective)),
               log.append(event("objective-approved", worker, objective=objective))]
    offsets += [log.append(item) for item in worker_events(worker, 48)]
    offsets += log.append_many(worker_events(worker + 10, 50))
    print(json.dumps(offsets))
"""


def test_four_processes_append_with_contiguous_offsets(sqlite_url):
    with open_ledger(sqlite_url) as ledger:
        EventLog(ledger).append(created_channel())
    code = PROCESS_WORKER.format(tests=TESTS, url=sqlite_url)
    workers = [subprocess.Popen([sys.executable, "-c", code, str(worker)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for worker in range(4)]
    import json

    offsets = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        offsets += json.loads(out)
    assert sorted(offsets) == list(range(1, 401))
    with open_ledger(sqlite_url) as ledger:
        log = EventLog(ledger)
        assert len(log) == 401 and ledger.verify().ok and service.verify_ids(ledger).ok
        assert [e.offset for e in log.read_from(0)] == list(range(401))
        statuses = [s["status"] for s in service.objectives(ledger)]
        assert statuses == ["Approved"] * 4


KILLED_WRITER = """
import sys
sys.path.insert(0, {tests!r})
from test_channels_concurrency import worker_event, worker_events
from chronik.ledger import open_ledger
from chronik.domains.channels.eventlog import EventLog
from chronik.domains.channels import contentid
with open_ledger({url!r}) as ledger:
    log = EventLog(ledger)
    for n in range(100_000):
        batch = [worker_event({worker}, n)] if n % 3 else worker_events({worker} * 1000 + n, 5)
        offsets = log.append_many(batch)
        for value, offset in zip(batch, offsets):
            print(offset, contentid.event_id(value["event_name"], value["payload"]), flush=True)
"""


def test_kill_9_during_appends_loses_no_acknowledged_event(sqlite_url):
    seed = int(os.environ.get("CHRONIK_TEST_SEED", time.time_ns() % 2**32))
    print(f"seed={seed}")
    rng = random.Random(seed)
    with open_ledger(sqlite_url) as ledger:
        EventLog(ledger).append(created_channel())
    acknowledged: dict[str, int] = {}
    for round_number in range(3):
        code = KILLED_WRITER.format(tests=TESTS, url=sqlite_url, worker=7 + round_number)
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        first = child.stdout.readline()  # appending has begun
        time.sleep(rng.uniform(0.05, 0.5))
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL, err
        for line in (first + out).splitlines():
            parts = line.split()
            if len(parts) == 2:  # a line cut by the kill was not acknowledged
                acknowledged[parts[1]] = int(parts[0])
    assert acknowledged, "the writer acknowledged nothing before it was killed"
    with open_ledger(sqlite_url) as ledger:
        log = EventLog(ledger)
        recorded = {item.id: item.offset for item in log.read_from(0)}
        lost = {event_id for event_id in acknowledged if event_id not in recorded}
        assert not lost, f"seed={seed}: {len(lost)} acknowledged events lost"
        assert all(recorded[event_id] == offset for event_id, offset in acknowledged.items())
        assert sorted(recorded.values()) == list(range(len(recorded)))
        assert ledger.verify().ok and service.verify_ids(ledger).ok
        assert log.append(event("channel-finalized", 1)) == len(recorded)  # and it goes on

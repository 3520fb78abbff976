"""One process appends continuously while another runs 20 retention cycles: every acknowledged
event appears exactly once across archive and live, gzip CRCs check, verify --include-archive
passes."""

from __future__ import annotations

import multiprocessing
import os
import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from retention_testing import URLS, archived_positions, everything, live_positions

from chronik.ledger import open_ledger
from chronik.lifecycle import archive, retention
from chronik.model import NewEvent

CYCLES = 20


def _append_until(url: str, stop, acked_path: str, seed: int) -> None:
    rng = random.Random(seed)
    ledger = open_ledger(url)
    with open(acked_path, "a") as acked:
        i = 0
        while not stop.is_set():
            stream = f"{rng.choice(['order', 'log', 'keep'])}:{rng.randrange(6)}"
            event_id = f"0190a000-0000-7000-8000-{i:012x}"
            ledger.append(stream, [NewEvent(type="happened", data={"i": i}, id=event_id)])
            acked.write(event_id + "\n")  # written only after the append was acknowledged
            acked.flush()
            i += 1
    ledger.close()


def _retention_cycles(url: str, cycles: int, done) -> None:
    ledger = open_ledger(url)
    later = datetime.now(UTC) + timedelta(days=1)
    for _ in range(cycles):
        retention.apply_retention(ledger, now=later)
        time.sleep(0.02)
    ledger.close()
    done.set()


@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
def test_retention_under_load(kind, tmp_path, seed):
    url = URLS[kind](tmp_path)
    ledger = open_ledger(url)
    retention.set_policy(ledger, "order", max_count=2)
    retention.set_policy(ledger, "log", max_age_s=0, keep_latest=False)
    ledger.append("keep:0", [NewEvent(type="first", data={})])
    ledger.close()
    acked_path = str(tmp_path / "acked.txt")
    context = multiprocessing.get_context("fork")
    stop, done = context.Event(), context.Event()
    appender = context.Process(target=_append_until, args=(url, stop, acked_path, seed))
    appender.start()
    time.sleep(0.2)
    cycler = context.Process(target=_retention_cycles, args=(url, CYCLES, done))
    cycler.start()
    cycler.join(90)
    stop.set()
    appender.join(30)
    assert cycler.exitcode == 0 and appender.exitcode == 0

    ledger = open_ledger(url)
    with open(acked_path) as acked:
        acked_ids = [line.strip() for line in acked if line.strip()]
    events = everything(ledger)
    ids = [e.id for e in events]
    assert len(ids) == len(set(ids)), "an event appears twice"
    assert set(acked_ids) <= set(ids), "an acknowledged event was lost"
    archived, live = archived_positions(ledger), live_positions(ledger)  # gzip CRCs checked here
    assert sorted(archived + live) == list(range(1, ledger.head().position + 1))
    assert len(archived) > 0 and len(set(archived) & set(live)) == 0
    report = archive.verify_chain(ledger, include_archive=True)
    assert report.ok, report.problems
    print(f"{kind}: {len(acked_ids)} acknowledged appends, {len(archived)} archived in "
          f"{len(archive.manifests(ledger.store))} segments, {len(live)} live")
    ledger.close()
    assert os.path.exists(acked_path)

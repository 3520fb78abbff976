"""kill -9 during retention at each named point, then reopen: nothing lost, nothing doubled once
the next run finishes, and retention simply runs again."""

from __future__ import annotations

import os
import random
import signal
from datetime import UTC, datetime, timedelta

import pytest
from retention_testing import URLS, archived_positions, everything, fill, live_positions, reopen

from chronik.ledger import open_ledger
from chronik.lifecycle import archive, retention

POINTS = ["archive_written", "archive_fsynced", "manifest_written", "mid_delete", "deleted", "done"]
LATER = datetime.now(UTC) + timedelta(days=1)


@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
@pytest.mark.parametrize("point", POINTS)
def test_kill_during_retention(kind, point, tmp_path, seed):
    rng = random.Random(seed)
    url = URLS[kind](tmp_path)
    ledger = open_ledger(url)
    fill(ledger, rng, 200)
    retention.set_policy(ledger, "order", max_count=1)
    retention.set_policy(ledger, "log", max_age_s=60, keep_latest=False)
    expected = list(ledger.read_all())
    ledger.close()

    pid = os.fork()
    if pid == 0:  # the child: run retention and die at `point`
        def crash(at: str) -> None:
            if at == point:
                os.kill(os.getpid(), signal.SIGKILL)
        try:
            child = open_ledger(url)
            retention.apply_retention(child, now=LATER, crash=crash, remove_batch=7)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"not killed at {point}"

    ledger = reopen(url)
    # no loss: every event is live or in a recorded, sound segment; the view has no duplicate
    assert everything(ledger) == expected
    report = archive.verify_chain(ledger, include_archive=True)
    assert report.ok, report.problems
    # run again: finishes the interrupted run; afterwards each event is in exactly one place
    retention.apply_retention(ledger, now=LATER)
    archived, live = archived_positions(ledger), live_positions(ledger)
    assert sorted(archived + live) == list(range(1, 201)), "an event is lost or doubled"
    assert everything(ledger) == expected
    assert archive.verify_chain(ledger, include_archive=True).ok
    assert archive.verify_chain(ledger, include_archive=False).ok
    assert not [p for p in archive.archive_dir(ledger).iterdir() if p.name.endswith(".tmp")]
    assert retention.apply_retention(ledger, now=LATER).archived == 0
    ledger.close()

"""Projections: read model and checkpoint in one write, rebuild, parked events, and a
projection process killed with SIGKILL at random points that still applies every event once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import chronik
from chronik import Filter, NewEvent
from chronik.derive import CircuitBreaker, Projection, ProjectionRunner, RetryPolicy, list_projections

sys.path.insert(0, str(Path(__file__).parent))
from counting_projection import Counts, expected_model  # noqa: E402
from delivery_testing import store_url  # noqa: E402

CHILD = Path(__file__).parent / "projection_child.py"


def append_numbered(ledger: chronik.Ledger, start: int, count: int) -> None:
    for n in range(start, start + count):
        ledger.append(f"order:{n % 7}", [NewEvent("placed", {"n": n})])


def test_projection_catch_up_live_and_status(open_ledger) -> None:
    ledger = open_ledger()
    append_numbered(ledger, 0, 100)
    runner = ProjectionRunner(ledger, Counts())
    status = runner.run_until_head()
    assert (status.position, status.lag, status.generation) == (100, 0, 1)
    assert runner.model.to_dict() == expected_model(ledger.read_all())
    append_numbered(open_ledger(), 100, 5)
    assert runner.run_until(105, timeout_s=10)
    assert runner.model.to_dict() == expected_model(ledger.read_all())
    assert [s.name for s in list_projections(ledger)] == ["counts"]


def test_rebuild_starts_a_new_generation(open_ledger) -> None:
    ledger = open_ledger()
    append_numbered(ledger, 0, 30)
    runner = ProjectionRunner(ledger, Counts())
    runner.run_until_head()
    status = runner.rebuild()
    assert (status.position, status.generation) == (30, 2)
    assert runner.model.to_dict() == expected_model(ledger.read_all())
    assert ledger.store.aux_range("model:counts:1") == []  # the old generation is gone


def test_version_change_requires_rebuild(ledger) -> None:
    append_numbered(ledger, 0, 3)
    ProjectionRunner(ledger, Counts()).run_until_head()
    newer = Counts(version=2)
    with pytest.raises(chronik.ValidationError, match="rebuild"):
        ProjectionRunner(ledger, newer).run_until_head()
    assert ProjectionRunner(ledger, newer).rebuild().version == 2


def test_failed_event_changes_are_discarded_parked_and_replayed_once(ledger, virtual_time) -> None:
    append_numbered(ledger, 0, 5)
    broken = {3}

    def apply(model, event):
        model.put(f"seen:{event.position}", model.get(f"seen:{event.position}", 0) + 1)
        if event.position in broken:
            raise RuntimeError("cannot project this one")

    projection = Projection("fragile", apply, filter=Filter(categories=["order"]))
    runner = ProjectionRunner(ledger, projection, retry=RetryPolicy(attempts=3),
                              breaker=CircuitBreaker(failure_threshold=10), sleep=virtual_time.sleep)
    assert runner.run_until_head().parked == 1
    # The failed attempts' writes were discarded: position 3 is not in the read model.
    assert runner.model.get("seen:3") is None and runner.model.get("seen:4") == 1
    broken.clear()
    [outcome] = runner.replay_parked()
    assert outcome.ok and runner.model.get("seen:3") == 1 and runner.parked() == []
    assert runner.replay_parked() == [] and runner.model.get("seen:3") == 1


def test_bad_projections_are_refused(ledger) -> None:
    with pytest.raises(chronik.ValidationError, match="handler"):
        Projection("nothing")
    with pytest.raises(chronik.ValidationError, match="projection.name"):
        Projection("bad name", lambda model, event: None)
    runner = ProjectionRunner(ledger, Projection("p", lambda model, event: model.put(event.id, object())))
    ledger.append("order:1", [NewEvent("placed")])
    runner.retry = RetryPolicy(attempts=1)
    runner.run_until_head()
    assert "not JSON" in runner.parked()[0].error


@pytest.mark.parametrize(("kind", "kills"), [("sqlite", 50), ("jsonl", 25)])
def test_projection_killed_at_random_points_applies_every_event_once(tmp_path, kind, kills) -> None:
    seed = int(os.environ.get("CHRONIK_KILL_SEED", random.randrange(2**32)))
    print(f"kill test seed: {seed} (rerun with CHRONIK_KILL_SEED={seed})")
    rng = random.Random(seed)
    url = store_url(kind, tmp_path)
    env = {**os.environ, "COUNTING_APPLY_DELAY_S": "0.0004"}
    with chronik.open_ledger(url) as ledger:
        append_numbered(ledger, 0, 1500)
        progressed = 0  # rounds in which the child committed at least one batch before dying
        for round_ in range(kills):
            before = ledger.store.aux_get("projection", "counts")
            child = subprocess.Popen([sys.executable, str(CHILD), url], stdout=subprocess.PIPE, env=env)
            assert child.stdout.readline().strip() == b"ready"
            time.sleep(rng.uniform(0, 0.15))
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            if before != ledger.store.aux_get("projection", "counts"):
                progressed += 1
            append_numbered(ledger, 10_000 + round_ * 10, rng.randrange(0, 20))
        print(f"{kills} kills, {progressed} after some progress")
        assert progressed >= kills // 5, "the kills should land while the projection works"
        runner = ProjectionRunner(ledger, Counts())
        status = runner.run_until_head()
        assert status.position == ledger.head().position
        model = runner.model.to_dict()
        applied = {key: value for key, value in model.items() if key.startswith("applied:")}
        assert all(value == 1 for value in applied.values()), "an event was applied twice"
        assert len(applied) == ledger.head().position, "an event was missed"
        assert model == expected_model(ledger.read_all())

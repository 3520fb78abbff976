"""Projections: read model and checkpoint in one write, rebuild, parked events, and a
projection process killed with SIGKILL mid-batch, again and again, that still applies every
event once."""

from __future__ import annotations

import json
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


# The kill test: each round appends a backlog, starts the child, waits until it has committed a
# first batch of it (so it is catching up), waits a random 0..KILL_DELAY_S more and kills it.
# Batches are small (commits are a large share of the child's time) and apply has no delay, so
# the kills land mid-batch and often inside a commit. After each kill the committed read model
# must be exactly the fold of the events up to the checkpoint: a read model written apart from
# its checkpoint (docs/testing.md, "Projections") shows as keys past the checkpoint, or, after
# the restart, as an event applied twice.
KILL_BACKLOG = (400, 1000)
KILL_DELAY_S = 0.015


def checkpoint_of(store) -> int:
    raw = store.aux_get("projection", "counts")
    return 0 if raw is None else json.loads(raw)["position"]


def append_backlog(ledger: chronik.Ledger, appended: list[tuple[str, int]], count: int) -> None:
    """`count` events, ten per append; appended[p - 1] is (stream, n) of position p."""
    while count > 0:
        stream, numbers = f"order:{len(appended) % 7}", range(len(appended), len(appended) + min(count, 10))
        result = ledger.append(stream, [NewEvent("placed", {"n": n}) for n in numbers])
        assert result.first_position == len(appended) + 1
        appended.extend((stream, n) for n in numbers)
        count -= len(numbers)


def check_model_matches_checkpoint(store, appended: list[tuple[str, int]], start: int, head: int) -> int:
    """The committed read model is the fold of exactly the events up to its checkpoint: each
    position of (start, checkpoint] applied once, none after it, and the per-stream sums of the
    events up to it. Returns the checkpoint."""
    meta = json.loads(store.aux_get("projection", "counts"))
    position, kind = meta["position"], f"model:counts:{meta['generation']}"
    applied = dict(store.aux_range(kind, f"applied:{start + 1:08d}", f"applied:{head + 1:08d}"))
    expected = {f"applied:{p:08d}": b"1" for p in range(start + 1, position + 1)}
    assert applied == expected, (
        f"read model and checkpoint disagree: checkpoint {position}, applied in ({start}, {head}]: "
        f"{len(applied)} keys, {len(expected.keys() - applied.keys())} missing up to the checkpoint, "
        f"{sum(1 for key in applied if int(key[8:]) > position)} past it, "
        f"{sum(1 for value in applied.values() if value != b'1')} applied more than once")
    sums: dict[str, int] = {}
    for stream, n in appended[:position]:
        sums[f"sum:{stream}"] = sums.get(f"sum:{stream}", 0) + n
    assert {key: int(value) for key, value in store.aux_range(kind, "sum:", "sum;")} == sums, \
        f"the per-stream sums are not those of the events up to checkpoint {position}"
    return position


@pytest.mark.parametrize(("kind", "kills"), [("sqlite", 30), ("jsonl", 20)])
def test_projection_killed_mid_batch_applies_every_event_once(tmp_path, kind, kills) -> None:
    seed = int(os.environ.get("CHRONIK_KILL_SEED", random.randrange(2**32)))
    print(f"kill test seed: {seed} (rerun with CHRONIK_KILL_SEED={seed})")
    rng = random.Random(seed)
    url = store_url(kind, tmp_path)
    env = {**os.environ, "COUNTING_APPLY_DELAY_S": "0", "COUNTING_BATCH_EVENTS": "10"}
    appended: list[tuple[str, int]] = []
    mid_batch = 0  # kills after which the checkpoint lies strictly inside the round's backlog
    with chronik.open_ledger(url) as ledger:
        store = ledger.store
        for _round in range(kills):
            start = checkpoint_of(store)
            append_backlog(ledger, appended, rng.randrange(*KILL_BACKLOG))
            head = ledger.head().position
            child = subprocess.Popen([sys.executable, str(CHILD), url], stdout=subprocess.PIPE, env=env)
            try:
                assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
                deadline = time.monotonic() + 30
                while checkpoint_of(store) == start:  # not catching up yet
                    assert child.poll() is None and time.monotonic() < deadline, "the child never committed"
                    time.sleep(0.0005)
                time.sleep(rng.uniform(0, KILL_DELAY_S))
                os.kill(child.pid, signal.SIGKILL)
            finally:
                child.kill()
                child.wait()
            position = check_model_matches_checkpoint(store, appended, start, head)
            mid_batch += start < position < head
        print(f"{kind}: {kills} kills, {mid_batch} landed mid-batch (checkpoint strictly between the "
              f"round's start and head)")
        assert mid_batch >= kills // 2, "the kills should land while the projection catches up"
        runner = ProjectionRunner(ledger, Counts())
        status = runner.run_until_head()
        assert status.position == ledger.head().position == len(appended)
        model = runner.model.to_dict()
        applied = {key: value for key, value in model.items() if key.startswith("applied:")}
        assert all(value == 1 for value in applied.values()), "an event was applied twice"
        assert len(applied) == ledger.head().position, "an event was missed"
        assert model == expected_model(ledger.read_all())

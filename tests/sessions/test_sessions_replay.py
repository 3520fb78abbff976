"""Replay: the real system's result shape, to a sequence number (inclusive; past the head = the
head), and live == replayed for every k (the plan's "state reconstruction matches real-time
observations"), with snapshots taken by the reducer's policy along the way; and, as properties,
replay == fold and resume never raises, for any valid sequence of operations."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from event_streams import operations, random_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chronik
from chronik.derive.snapshots import SNAPSHOT_KIND
from chronik.domains.sessions import resume as resume_rules
from chronik.domains.sessions import service
from chronik.domains.sessions.reducer import (
    INSTANCE_REDUCER,
    SNAPSHOT_EVERY,
    fold,
    fold_event,
    plan_final_state,
)
from chronik.domains.sessions.settings import Settings
from chronik.errors import ValidationError
from chronik.stores import open_store

EMITS = 2 * SNAPSHOT_EVERY + 50  # enough for two snapshots by policy


def test_the_result_has_the_real_systems_shape(ledger):
    instance = service.register(ledger, "odin").instance_id
    service.emit(ledger, instance, "epic_started", {"epic_id": "epic-003", "feature_name": "oauth"})
    service.emit(ledger, instance, "checkpoint_created", {"checkpoint_id": "cp-1", "state": {"step": 4}})
    result = service.replay(ledger, instance)
    assert result.success and result.events_replayed == 3 and result.duration_ms >= 0
    final = result.final_state
    assert list(final)[:5] == ["last_epic", "last_event_type", "latest_timestamp", "total_events_replayed",
                               "checkpoint_state"]
    assert final["last_epic"] == "epic-003" and final["last_event_type"] == "checkpoint_created"
    assert final["total_events_replayed"] == 3
    assert final["checkpoint_state"]["checkpoint_id"] == "cp-1" and final["checkpoint_state"]["state"] == {"step": 4}
    assert final["epics"]["epic-003"]["status"] == "started"


def test_to_sequence_num_is_inclusive_and_past_the_head_is_the_head(ledger):
    instance = service.register(ledger, "odin").instance_id
    for index in range(5):
        service.emit(ledger, instance, "commit_created", {"commit_sha": f"c{index}"})
    assert service.replay(ledger, instance, 3).final_state["commits"]["count"] == 2
    assert service.replay(ledger, instance, 3).events_replayed == 3
    assert service.replay(ledger, instance, 600).final_state == service.replay(ledger, instance).final_state
    assert service.replay(ledger, instance, 0).events_replayed == 0
    for bad in (-1, "3", 2.5, True):
        with pytest.raises(ValidationError) as caught:
            service.replay(ledger, instance, bad)
        assert caught.value.field == "to_sequence_num"
    with pytest.raises(ValidationError):
        service.replay(ledger, "ghost")


def test_live_equals_replayed_for_every_k(tmp_path, seed):
    rng = random.Random(seed)
    url = "sqlite:///" + str(tmp_path / "live.db").lstrip("/") + "?durability=relaxed"
    with chronik.Ledger(open_store(url)) as ledger:
        instance = service.register(ledger, "odin").instance_id
        stream = f"instance:{instance}"
        live_by_pack = {1: service.state(ledger, instance)}
        folded = fold(ledger.read_stream(stream))
        live_by_fold = {1: folded}
        for _ in range(EMITS):
            event_type, data = random_event(rng)
            result = service.emit(ledger, instance, event_type, data)
            live_by_pack[result.sequence_num] = service.state(ledger, instance)
            recorded = next(ledger.read_stream(stream, start=result.sequence_num, limit=1))
            folded = fold_event(folded, recorded)
            live_by_fold[result.sequence_num] = folded
        snapshots = ledger.store.aux_range(SNAPSHOT_KIND)
        assert snapshots, "the policy took no snapshot along the way"
        for k in range(1, EMITS + 2):
            replayed = service.replay(ledger, instance, k).final_state
            assert replayed == plan_final_state(live_by_pack[k]) == plan_final_state(live_by_fold[k]), k
        without = ledger.replay(stream, INSTANCE_REDUCER, include_snapshots=False).state
        assert without == live_by_fold[EMITS + 1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operations, max_size=40))
def test_replay_equals_fold_and_resume_never_raises(steps):
    with chronik.open_ledger("memory:") as ledger:
        quick = Settings(heartbeat_interval_s=0, stale_timeout_s=1)
        instance = service.register(ledger, "odin").instance_id
        for step in steps:
            if step[0] == "emit":
                service.emit(ledger, instance, step[1], step[2])
            elif step[0] == "heartbeat":
                service.heartbeat(ledger, instance, settings=quick)
            else:
                service.sweep_stale(ledger, quick, now=datetime.now(UTC) + timedelta(days=1))
        stream = f"instance:{instance}"
        events = list(ledger.read_stream(stream))
        state = None
        for event in events:  # every prefix's state can be summarised
            state = fold_event(state or INSTANCE_REDUCER.initial(), event)
            summary = resume_rules.summary(state)
            assert isinstance(summary["sentence"], str) and isinstance(summary["next_steps"], list)
        assert ledger.replay(stream, INSTANCE_REDUCER).state == fold(events) == state
        assert service.resume(ledger, instance)["sequence_num"] == len(events)

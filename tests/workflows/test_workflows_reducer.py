"""Reducer properties over random action sequences (hypothesis): the fold is pure, replay equals
the fold of the stream, snapshot + tail equals a full replay at every version, snapshots are
written at versions 10, 20, 30 as events are appended, and the state at a time T is the fold of
the events that happened at or before T, with times in mixed offsets."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone

import hypothesis.strategies as st
from hypothesis import given, settings
from workflow_testing import RELEASE, SteppingClock

import chronik
from chronik.derive.snapshots import list_snapshots
from chronik.domains.workflows import service
from chronik.domains.workflows.events import stream_of
from chronik.domains.workflows.reducer import WORKFLOW_REDUCER, fold, fold_event
from chronik.errors import ValidationError
from chronik.stores import open_store

STEPS = ("build", "review", "deploy", "x")
MOVES = st.sampled_from(["complete_step", "fail_step", "approve_gate", "reject_gate", "pause_workflow",
                         "resume_workflow", "rollback_step", "retry_step", "annotate", "capture_insight",
                         "create_snapshot", "start_child_workflow"])


def _fields(move: str, step: str, n: int) -> dict:
    return {"complete_step": {"step_id": step}, "fail_step": {"step_id": step, "error": f"e{n}"},
            "approve_gate": {"gate_id": step, "approver": "ann", "role": "lead"},
            "reject_gate": {"gate_id": step, "approver": "bob"}, "pause_workflow": {}, "resume_workflow": {},
            "rollback_step": {"step_id": step, "reason": "r"}, "annotate": {"text": f"note {n}"},
            "capture_insight": {"insight": f"i{n}"}, "create_snapshot": {}}[move]


def play(ledger: chronik.Ledger, moves: list[tuple[str, str]]) -> int:
    """Record the random moves that are legal (illegal ones are refused and write nothing)."""
    service.start(ledger, RELEASE, "wf")
    for n, (move, step) in enumerate(moves):
        try:
            if move == "retry_step":
                service.retry(ledger, "wf", step, max_retries=5)
            elif move == "start_child_workflow":
                service.start_child(ledger, "wf", f"child-{n}")
            else:
                service.record(ledger, "wf", move, **_fields(move, step, n))
        except ValidationError:
            pass
    return ledger.head().position


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(MOVES, st.sampled_from(STEPS)), min_size=1, max_size=40))
def test_replay_is_the_pure_fold_and_snapshots_plus_tail_equal_a_full_replay(moves):
    with chronik.Ledger(open_store("memory:"), clock=SteppingClock()) as ledger:
        play(ledger, moves)
        stream = stream_of("wf")
        events = list(ledger.read_stream(stream))
        # purity: the same events give the same state, and folding changes no input
        first = fold(events)
        frozen = copy.deepcopy(first)
        assert fold(events) == first
        for event in events[:5]:
            fold_event(first, event)
        assert first == frozen
        # replay == fold, and snapshot + tail == full replay at every version
        assert ledger.replay(stream, WORKFLOW_REDUCER).state == first
        for version in range(len(events) + 1):
            with_snapshots = ledger.replay(stream, WORKFLOW_REDUCER, to_version=version)
            full = ledger.replay(stream, WORKFLOW_REDUCER, to_version=version, include_snapshots=False)
            assert with_snapshots.state == full.state == fold(events[:version])


def test_snapshots_are_written_at_10_20_30_as_events_are_appended(ledger):
    service.start(ledger, None, "long", name="long")
    for n in range(29):
        service.record(ledger, "long", "annotate", text=f"note {n}")
    versions = sorted(item.snapshot.version for item in list_snapshots(ledger, WORKFLOW_REDUCER, stream_of("long")))
    assert versions == [10, 20, 30]
    replayed = ledger.replay(stream_of("long"), WORKFLOW_REDUCER, include_snapshots=True)
    assert (replayed.from_snapshot, replayed.events_applied) == (30, 0)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: m - m % 15), min_size=3,
                max_size=12),
       st.integers(min_value=0, max_value=14 * 60))
def test_state_at_time_is_the_fold_of_events_that_happened_by_then_with_mixed_offsets(offsets, probe_minutes):
    """Events happen every 37 minutes but are written in random offsets, so text order is not
    time order; the state at T must count exactly the events at or before the instant T."""
    base = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    with chronik.Ledger(open_store("memory:"), clock=SteppingClock()) as ledger:
        instants = [base + timedelta(minutes=37 * n) for n in range(len(offsets))]
        texts = [instant.astimezone(timezone(timedelta(minutes=offset))).isoformat()
                 for instant, offset in zip(instants, offsets, strict=True)]
        service.start(ledger, None, "legacy", name="legacy", occurred_at=texts[0])
        for n, text in enumerate(texts[1:]):
            service.record(ledger, "legacy", "annotate", text=f"n{n}", occurred_at=text)
        probe = base + timedelta(minutes=probe_minutes)
        expected = sum(1 for instant in instants if instant <= probe)
        found = service.state(ledger, "legacy", at=probe.astimezone(timezone(timedelta(hours=-5))).isoformat())
        assert found["version"] == expected
        assert len(found["annotations"]) == max(0, expected - 1)
        assert found == {**ledger.replay(stream_of("legacy"), WORKFLOW_REDUCER, to_version=expected).state,
                         "version": expected}

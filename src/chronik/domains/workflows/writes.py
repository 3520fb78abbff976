"""How workflow events are written: checked against the state at append time, appended with the
version that state was read at (so a concurrent writer makes the append retry on the new
state, never fold an illegal transition), several streams at once when one action touches
more than one workflow, and snapshots saved as the events are appended: at every multiple of
10 of a stream's version, and wherever a `create_snapshot` marker lands.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import msgspec

from chronik.derive.replay import ReplayResult
from chronik.domains import meters
from chronik.domains.workflows.events import stream_of
from chronik.domains.workflows.reducer import SNAPSHOT_EVERY, WORKFLOW_REDUCER, State, fold_event, illegal
from chronik.errors import ConcurrencyError, NotFound, ValidationError
from chronik.ledger import Ledger
from chronik.model import Event, NewEvent

MAX_ATTEMPTS = 20  # appends that lost a race with another writer of the same workflows
ILLEGAL_FIX = "read the workflow's state (`chronik workflow show ID`) and record what that state allows"


class Recorded(msgspec.Struct, frozen=True, kw_only=True):
    """What an action recorded on a workflow."""

    workflow_id: str
    action: str
    version: int
    status: str | None
    also: dict[str, int] = {}  # other workflows written in the same append: id -> version


class Current(msgspec.Struct, frozen=True):
    """A workflow's state and the stream version it is at."""

    state: State
    version: int


def archived_prefix(ledger: Ledger, stream: str) -> bool:
    """True when retention moved the stream's first events to the archive (or all of them, or
    the stream is new): then its state is folded with the archived events first."""
    first = next(ledger.read_stream(stream, limit=1), None)
    return first is None or first.version > 1


def replayed(ledger: Ledger, workflow_id: str, to_version: int | None = None) -> ReplayResult:
    """The workflow's replay, right also when its early events are archived (docs/workflows.md)."""
    stream = stream_of(workflow_id)
    started = time.perf_counter()
    result = ledger.replay(stream, WORKFLOW_REDUCER, to_version=to_version,
                           include_archive=archived_prefix(ledger, stream))
    meters.observe("chronik_workflow_replay_seconds", "Workflow replays: how long each took",
                   time.perf_counter() - started)
    if result.from_snapshot is not None:
        _count_snapshot("used")
    if result.warnings:  # a snapshot found stale or corrupt was skipped
        _count_snapshot("skipped", len(result.warnings))
    return result


def _count_snapshot(outcome: str, amount: int = 1) -> None:
    meters.count("chronik_workflow_snapshots", "Workflow snapshots created, used by a replay, or "
                 "skipped (stale or corrupt)", "outcome", outcome, amount)


for _outcome in ("created", "used", "skipped"):  # every outcome shown from the start, at 0
    _count_snapshot(_outcome, 0)


def events(ledger: Ledger, workflow_id: str) -> Iterator[Event]:
    """Every event of the workflow in version order, archived ones first."""
    stream = stream_of(workflow_id)
    live = ledger.read_stream(stream)
    if not archived_prefix(ledger, stream):
        return live
    from chronik.lifecycle.archive import with_archive

    return with_archive(ledger, live, stream)


def current(ledger: Ledger, workflow_id: str, must_exist: bool = True) -> Current:
    replayed_now = replayed(ledger, workflow_id)
    if must_exist and replayed_now.version == 0:
        raise NotFound(f"no workflow {workflow_id!r} has been started")
    return Current(replayed_now.state, replayed_now.version)


def refuse_illegal(state: State, action: str, data: dict[str, Any]) -> None:
    problem = illegal(state, action, data)
    if problem is not None:
        raise ValidationError(problem[0], f"{action} refused: {problem[1]}", ILLEGAL_FIX)


def folded(state: State, workflow_id: str, version: int, action: str, data: dict[str, Any]) -> State:
    """The state `action` would lead to (to see, before writing, what else it implies)."""
    probe = Event(position=0, stream=stream_of(workflow_id), version=version + 1, type=action, id="",
                  time=data.get("occurred_at") or "9999-12-31T23:59:59.999999Z", data=data, meta={},
                  prev="", hash="")
    return fold_event(state, probe)


Planner = Callable[[Ledger], dict[str, tuple[list[NewEvent], int]]]


def append_planned(ledger: Ledger, plan: Planner) -> dict[str, int]:
    """Run `plan` (which reads states, refuses what is illegal and returns stream -> (events,
    version read)) and append what it returns atomically; on a conflict, plan again. Returns
    each stream's new version."""
    for _attempt in range(MAX_ATTEMPTS):
        batches = plan(ledger)
        if not batches:
            return {}
        started = time.perf_counter()
        try:
            results = ledger.append_many({stream: (events, version) for stream, (events, version) in batches.items()})
        except ConcurrencyError:
            continue
        meters.observe("chronik_workflow_append_seconds", "Workflow event writes: durable append latency",
                       time.perf_counter() - started)
        for stream, (events, version) in batches.items():
            save_snapshots(ledger, stream, version, results[stream].version, events)
        return {stream: result.version for stream, result in results.items()}
    raise ConcurrencyError("workflow", "a quiet moment to record the action", None)


def save_snapshots(ledger: Ledger, stream: str, before: int, after: int, events: Sequence[NewEvent]) -> None:
    """Snapshot at each multiple of SNAPSHOT_EVERY in (before, after] and at each marker."""
    versions = set(range((before // SNAPSHOT_EVERY + 1) * SNAPSHOT_EVERY, after + 1, SNAPSHOT_EVERY))
    versions.update(before + index + 1 for index, event in enumerate(events) if event.type == "create_snapshot")
    for version in sorted(versions):
        ledger.snapshot(stream, WORKFLOW_REDUCER, to_version=version)
        _count_snapshot("created")


def new_event(action: str, data: Mapping[str, Any], meta: dict[str, Any] | None = None,
              event_id: str | None = None) -> NewEvent:
    return NewEvent(action, dict(data), meta or {}, event_id)

"""Backfill from the legacy state table, and the shadow comparison of the dual-write period.

Each row becomes the event sequence that reproduces it: start_workflow at `started_at` (with a
definition made of the steps done and the current step, the current step a gate when the row is
rejected), complete_step per step done, the event of its status (fail_step, pause_workflow,
reject_gate, cancel_workflow) and a closing `annotate` at `updated_at`. The sequence is folded
in memory and the state compared with the row field by field (status, current_step,
steps_completed, parent_workflow_id, started_at, updated_at): a row with any difference is
inconsistent, reported, and not imported. Event ids are derived from the workflow id and the
event's place, so a second run finds every workflow already there and writes nothing.

The original had no separate `initialized` status at start: a legacy `running` row with no step
done is the same as chronik's `initialized` (no step recorded yet).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import msgspec

from chronik.domains.workflows import writes
from chronik.domains.workflows.compat.legacy_table import Row, legacy_instant, read_rows, row_of
from chronik.domains.workflows.events import STATUSES, check_data, check_workflow_id, stream_of
from chronik.domains.workflows.reducer import State, illegal, initial
from chronik.errors import ValidationError
from chronik.ledger import Ledger
from chronik.model import NewEvent

ID_NAMESPACE = uuid.UUID("5b7c1f2e-93a4-4c0d-8e61-2f4a9d3b7c15")
WORKFLOWS_PER_APPEND = 50  # rows written in one atomic multi-stream append
COMPARED = ("status", "current_step", "steps_completed", "parent_workflow_id", "started_at", "updated_at")
Mode = Literal["import", "dry_run", "validate_only"]


class Difference(msgspec.Struct, frozen=True):
    workflow_id: str
    field: str
    legacy: Any
    replayed: Any


class BackfillReport(msgspec.Struct, frozen=True, kw_only=True):
    mode: str
    rows: int
    imported: int  # workflows written (dry run: that would be written)
    events: int  # events written (or that would be)
    already_imported: int
    skipped_existing: list[str]  # workflows in the ledger that the backfill did not write (live ones)
    inconsistent: list[str]
    differences: list[Difference]


def event_id(workflow_id: str, index: int, action: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"backfill:{workflow_id}:{index}:{action}"))


def plan_events(row: Row) -> list[tuple[str, dict[str, Any]]]:
    """The (action, data) sequence that reproduces `row`; ValidationError naming the field
    when the row cannot be reproduced at all."""
    if row.status not in STATUSES:
        raise ValidationError("status", f"{row.status!r} is not a workflow status")
    started, updated = _time(row.started_at, "started_at"), _time(row.updated_at or row.started_at, "updated_at")
    steps = list(row.steps_completed)
    if row.current_step is not None and row.current_step not in steps:
        steps.append(row.current_step)
    definition = {"name": row.name or row.workflow_id,
                  "steps": [{"id": step, **({"gate": True} if row.status == "rejected" and step == row.current_step
                                            else {})} for step in steps]}
    start = {"name": row.name or row.workflow_id, "definition": definition if steps or row.status == "completed"
             else None, "parent_workflow_id": row.parent_workflow_id, "occurred_at": started}
    planned = [("start_workflow", {key: value for key, value in start.items() if value is not None})]
    planned += [("complete_step", {"step_id": step, "occurred_at": started}) for step in row.steps_completed]
    current = row.current_step
    closing: dict[str, tuple[str, dict[str, Any]]] = {"failed": ("fail_step", {"step_id": current, "error": row.extra.get("error", "failed (legacy)")}),
               "paused": ("pause_workflow", {}),
               "rejected": ("reject_gate", {"gate_id": current, "approver": row.extra.get("approver", "legacy")}),
               "cancelled": ("cancel_workflow", {"reason": row.extra.get("reason", "cancelled (legacy)"),
                                                 "cancelled_by": row.extra.get("cancelled_by", "legacy")})}
    if row.status in closing:
        action, data = closing[row.status]
        if row.status in ("failed", "rejected") and current is None:
            raise ValidationError("current_step", f"a {row.status} workflow needs the step it stopped at")
        planned.append((action, {**data, "occurred_at": updated}))
    planned.append(("annotate", {"text": "backfilled from the legacy state table", "author": "backfill",
                                 "occurred_at": updated}))
    return planned


def _time(text: str | None, field: str) -> str:
    moment = legacy_instant(text)
    if moment is None:
        raise ValidationError(field, f"{text!r} is not a time")
    return moment.isoformat()


def replayed(row: Row, planned: list[tuple[str, dict[str, Any]]]) -> tuple[list[NewEvent], State]:
    """The events, checked one by one against the state so far, and the state they lead to."""
    state, events = initial(), []
    for index, (action, data) in enumerate(planned):
        checked = check_data(action, data)
        problem = illegal(state, action, checked)
        if problem is not None:
            raise ValidationError("status", f"{action} cannot follow: {problem[1]}")
        events.append(writes.new_event(action, checked, {"backfill": {"source": "legacy_state_table"}},
                                       event_id(row.workflow_id, index, action)))
        state = writes.folded(state, row.workflow_id, index, action, checked)
    return events, state


def differences(row: Row, state: State) -> list[Difference]:
    """Field by field, where the state differs from the row."""
    found = []
    for field in COMPARED:
        legacy: Any = getattr(row, field)
        ours: Any = state.get(field)
        if field == "status" and legacy == "running" and ours == "initialized" and not row.steps_completed:
            continue
        if field in ("started_at", "updated_at"):
            same = legacy_instant(legacy) == legacy_instant(ours)
        else:
            same = legacy == ours
        if not same:
            found.append(Difference(row.workflow_id, field, legacy, ours))
    started, updated = legacy_instant(row.started_at), legacy_instant(row.updated_at)
    if started and updated and updated < started:
        found.append(Difference(row.workflow_id, "updated_at", row.updated_at, f"before started_at {row.started_at}"))
    return found


def check_row(row: Row) -> tuple[list[NewEvent], list[Difference]]:
    try:
        check_workflow_id(row.workflow_id)
        events, state = replayed(row, plan_events(row))
    except ValidationError as exc:
        # The definition is made of the row's steps: a problem in it is a problem of steps_completed.
        field = "steps_completed" if exc.field.startswith("definition") else exc.field
        return [], [Difference(row.workflow_id, field, getattr(row, field, None), exc.problem)]
    return events, differences(row, state)


def backfill(ledger: Ledger, source: str, workflow_id: str | None, mode: Mode) -> BackfillReport:
    rows = [row_of(raw) for raw in read_rows(source)]
    if workflow_id is not None:
        rows = [row for row in rows if row.workflow_id == workflow_id]
    found: list[Difference] = []
    inconsistent, skipped, ready = [], [], []
    already = 0
    for row in rows:
        events, diffs = check_row(row)
        existing = next(ledger.read_stream(stream_of(row.workflow_id), limit=1), None) if not diffs else None
        if existing is not None and mode == "validate_only":
            diffs = differences(row, writes.current(ledger, row.workflow_id).state)
        if diffs:
            found += diffs
            inconsistent.append(row.workflow_id)
        elif existing is not None:
            if existing.id == events[0].id:
                already += 1
            else:
                skipped.append(row.workflow_id)
        else:
            ready.append((row.workflow_id, events))
    if mode == "import":
        for first in range(0, len(ready), WORKFLOWS_PER_APPEND):
            _write(ledger, ready[first:first + WORKFLOWS_PER_APPEND])
    return BackfillReport(mode=mode, rows=len(rows), imported=len(ready) if mode != "validate_only" else 0,
                          events=sum(len(events) for _, events in ready) if mode != "validate_only" else 0,
                          already_imported=already, skipped_existing=skipped, inconsistent=inconsistent,
                          differences=found)


def _write(ledger: Ledger, chunk: list[tuple[str, list[NewEvent]]]) -> None:
    # Expect no stream: a workflow started live meanwhile makes the append retry, and the plan
    # then leaves that workflow out (it is the live one, not the legacy row's).
    def plan(ledger: Ledger) -> dict[str, tuple[list[NewEvent], int]]:
        return {stream_of(workflow_id): (events, 0) for workflow_id, events in chunk
                if next(ledger.read_stream(stream_of(workflow_id), limit=1), None) is None}

    writes.append_planned(ledger, plan)


def shadow(ledger: Ledger, source: str) -> list[Difference]:
    """Every row compared with the ledger's replayed state (a missing workflow is a difference)."""
    found: list[Difference] = []
    for row in (row_of(raw) for raw in read_rows(source)):
        current = writes.current(ledger, row.workflow_id, must_exist=False)
        if current.version == 0:
            found.append(Difference(row.workflow_id, "workflow_id", row.workflow_id, "missing in the ledger"))
        else:
            found += differences(row, current.state)
    return found

"""The workflow use cases over a `chronik.Ledger`: one function per thing a person or a runner
asks. Interfaces (cli.py) call these and only format what they return.

    start(ledger, definition="release.toml", workflow_id="wf-1")  -> Recorded (status initialized)
    record(ledger, "wf-1", "complete_step", step_id="build")      -> Recorded (any action but start,
                                                                     child start and cancel)
    start_child(ledger, "wf-1", "wf-1.a", definition=...)         -> Recorded (both streams at once)
    cancel(ledger, "wf-1", reason=..., cancelled_by=...)          -> Cancelled (the cascade, with counts)
    retry(ledger, "wf-1", "build")                                -> Recorded (the next attempt)
    state(ledger, "wf-1", at_event=None, at=None)                 -> dict (time travel by occurred_at)
    diff(ledger, "wf-1", a, b), history(ledger, "wf-1"), workflows(ledger, status=None)

Every append is checked against the state at that moment (writes.py): an illegal transition is
refused with ValidationError naming the state, and nothing is written. A child whose action
ends it (completed, rejected, cancelled) records child_workflow_complete on its parent in the
same atomic append.
"""

from __future__ import annotations

import secrets
import threading
from datetime import datetime
from typing import Any

import msgspec

from chronik import codec
from chronik.domains.workflows import writes
from chronik.domains.workflows.cascade import Cancelled, plan_cancel
from chronik.domains.workflows.compat import backfill as legacy_backfill
from chronik.domains.workflows.compat import legacy_events
from chronik.domains.workflows.compat.backfill import BackfillReport, Difference
from chronik.domains.workflows.compat.importer import LegacyImport, import_events
from chronik.domains.workflows.definitions import load_definition
from chronik.domains.workflows.events import (
    DEFAULT_MAX_RETRIES,
    STATUSES,
    STREAM_CATEGORY,
    TERMINAL,
    Definition,
    check_data,
    check_workflow_id,
    stream_of,
)
from chronik.domains.workflows.reducer import WORKFLOW_REDUCER, State, fold, occurred_at
from chronik.domains.workflows.writes import Recorded, current, folded, new_event, refuse_illegal
from chronik.errors import ValidationError
from chronik.ledger import Ledger
from chronik.model import NewEvent

__all__ = ["MirrorReport", "mirror_legacy", "events_of", "snapshots_of", "export", "Recorded", "Cancelled", "LegacyImport", "import_legacy", "BackfillReport", "Difference", "backfill",
           "shadow", "start", "start_child", "record", "cancel", "retry", "state", "diff",
           "history", "workflows", "warn_unsigned"]

RETENTION_DAYS = 90
# Actions with their own function: they write more than one event or need more than the data.
OWN_FUNCTION = {"start_workflow": "start", "start_child_workflow": "start_child", "cancel_workflow": "cancel"}


def warn_unsigned(ledger: Ledger) -> str | None:
    """The warning to show when this ledger signs nothing (no keyring with an active key)."""
    if ledger.signer is not None:
        return None
    return "workflow events are not signed: no keyring is configured (see `chronik keys --help`)"


def default_retention(ledger: Ledger) -> None:
    """The category `workflow` keeps 90 days of events (then `chronik retention apply` archives
    them), unless the operator set its policy."""
    from chronik.lifecycle.retention import policy_of, set_policy

    if policy_of(ledger, STREAM_CATEGORY) is None:
        set_policy(ledger, STREAM_CATEGORY, max_age_s=RETENTION_DAYS * 86_400)


def _fields(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def start(ledger: Ledger, definition: str | Definition | dict[str, Any] | None = None,
          workflow_id: str | None = None, name: str | None = None, started_by: str | None = None,
          occurred_at: str | None = None) -> Recorded:
    """Start a workflow (an id is made when none is given). With a definition it completes when
    its last step is done; without one only a `final` complete_step completes it."""
    workflow_id = check_workflow_id(workflow_id) if workflow_id is not None else f"wf-{secrets.token_hex(6)}"
    loaded = None if definition is None else msgspec.to_builtins(load_definition(definition))
    if loaded is None and name is None:
        raise ValidationError("definition", "is missing, and so is a name",
                              "give a definition (file or module:attribute) or at least a name")
    data = check_data("start_workflow", _fields({"definition": loaded, "name": name, "started_by": started_by,
                                                 "occurred_at": occurred_at}))

    def plan(ledger: Ledger) -> dict[str, tuple[list[NewEvent], int]]:
        found = current(ledger, workflow_id, must_exist=False)
        refuse_illegal(found.state, "start_workflow", data)
        return {stream_of(workflow_id): ([new_event("start_workflow", data)], found.version)}

    versions = writes.append_planned(ledger, plan)
    default_retention(ledger)
    return Recorded(workflow_id=workflow_id, action="start_workflow", version=versions[stream_of(workflow_id)],
                    status=current(ledger, workflow_id).state["status"])


def start_child(ledger: Ledger, parent_id: str, child_id: str, definition: str | Definition | dict[str, Any] | None = None,
                name: str | None = None, started_by: str | None = None) -> Recorded:
    """Start `child_id` as a child of `parent_id`: start_child_workflow on the parent and
    start_workflow (recording its parent) on the child, in one atomic append."""
    check_workflow_id(parent_id, "parent_id")
    check_workflow_id(child_id, "child_id")
    loaded = None if definition is None else msgspec.to_builtins(load_definition(definition))
    on_parent = check_data("start_child_workflow", _fields({"child_workflow_id": child_id, "name": name}))
    on_child = check_data("start_workflow", _fields({"definition": loaded, "name": name or child_id,
                                                     "parent_workflow_id": parent_id, "started_by": started_by}))

    def plan(ledger: Ledger) -> dict[str, tuple[list[NewEvent], int]]:
        parent = current(ledger, parent_id)
        child = current(ledger, child_id, must_exist=False)
        refuse_illegal(parent.state, "start_child_workflow", on_parent)
        refuse_illegal(child.state, "start_workflow", on_child)
        return {stream_of(parent_id): ([new_event("start_child_workflow", on_parent)], parent.version),
                stream_of(child_id): ([new_event("start_workflow", on_child)], child.version)}

    versions = writes.append_planned(ledger, plan)
    return Recorded(workflow_id=child_id, action="start_workflow", version=versions[stream_of(child_id)],
                    status=current(ledger, child_id).state["status"], also={parent_id: versions[stream_of(parent_id)]})


def record(ledger: Ledger, workflow_id: str, action: str, **fields: Any) -> Recorded:
    """Record one action on a workflow after checking its fields and that the workflow's state
    allows it. A child that this ends is reported to its parent in the same append."""
    check_workflow_id(workflow_id)
    if action in OWN_FUNCTION:
        raise ValidationError("action", f"{action} is recorded by {OWN_FUNCTION[action]}()",
                              f"call service.{OWN_FUNCTION[action]}")
    data = check_data(action, _fields(fields))

    statuses: list[str] = []  # the status the written event leads to (no second replay)

    def plan(ledger: Ledger) -> dict[str, tuple[list[NewEvent], int]]:
        found = current(ledger, workflow_id)
        refuse_illegal(found.state, action, data)
        batches = {stream_of(workflow_id): ([new_event(action, data)], found.version)}
        after = folded(found.state, workflow_id, found.version, action, data)
        batches.update(_tell_parent(ledger, found.state, after))
        statuses[:] = [after["status"]]
        return batches

    versions = writes.append_planned(ledger, plan)
    stream = stream_of(workflow_id)
    return Recorded(workflow_id=workflow_id, action=action, version=versions[stream], status=statuses[0],
                    also={key.partition(":")[2]: value for key, value in versions.items() if key != stream})


def _tell_parent(ledger: Ledger, before: State, after: State) -> dict[str, tuple[list[NewEvent], int]]:
    """child_workflow_complete on the parent when this action ends a child it waits for."""
    parent_id = after["parent_workflow_id"]
    if parent_id is None or before["status"] in TERMINAL or after["status"] not in TERMINAL:
        return {}
    parent = current(ledger, parent_id, must_exist=False)
    child = parent.state["children"].get(after["workflow_id"])
    if child is None or child["status"] != "running":
        return {}
    data = check_data("child_workflow_complete", {"child_workflow_id": after["workflow_id"], "status": after["status"]})
    return {stream_of(parent_id): ([new_event("child_workflow_complete", data)], parent.version)}


def cancel(ledger: Ledger, workflow_id: str, reason: str, cancelled_by: str) -> Cancelled:
    """Cancel a workflow and, depth first, its running children, recording each one's cleanup
    (steps interrupted, gates released, children cancelled), all in one atomic append."""
    check_workflow_id(workflow_id)
    check_data("cancel_workflow", {"reason": reason, "cancelled_by": cancelled_by})
    planned: list[Cancelled] = []

    def plan(ledger: Ledger) -> dict[str, tuple[list[NewEvent], int]]:
        batches, outcome = plan_cancel(ledger, workflow_id, reason, cancelled_by)
        parent_id = outcome.parent_workflow_id
        if parent_id is not None:
            before = current(ledger, workflow_id).state
            batches.update(_tell_parent(ledger, before, {**before, "status": "cancelled"}))
        planned[:] = [outcome]
        return batches

    writes.append_planned(ledger, plan)
    return planned[0]


def retry(ledger: Ledger, workflow_id: str, step_id: str, max_retries: int = DEFAULT_MAX_RETRIES,
          backoff_delay: float = 0.0) -> Recorded:
    """retry_step for the failed step, as its next attempt (refused past max_retries)."""
    attempt = current(ledger, check_workflow_id(workflow_id)).state["retries"].get(step_id, 0) + 1
    return record(ledger, workflow_id, "retry_step", step_id=step_id, retry_attempt=attempt,
                  max_retries=max_retries, backoff_delay=backoff_delay)


def state(ledger: Ledger, workflow_id: str, at_event: int | None = None, at: str | datetime | None = None
          ) -> dict[str, Any]:
    """The workflow's state: now, after its event number `at_event`, or at the time `at` (every
    event that happened, by occurred_at, at or before it; times compared as instants)."""
    check_workflow_id(workflow_id)
    if at_event is not None and at is not None:
        raise ValidationError("at", "cannot be combined with at_event", "give one of the two")
    if at is not None:
        moment = codec.parse_time(at, "at")
        events = [event for event in writes.events(ledger, workflow_id)
                  if codec.parse_time(occurred_at(event), "occurred_at") <= moment]
        result = fold(events)
        version = events[-1].version if events else 0
    else:
        if at_event is not None and (isinstance(at_event, bool) or not isinstance(at_event, int) or at_event < 0):
            raise ValidationError("at_event", f"{at_event!r} is not an event number", "use 0 or more")
        replayed = writes.replayed(ledger, workflow_id, to_version=at_event)
        result, version = replayed.state, replayed.version
    if result["status"] is None and at is None and at_event is None:
        current(ledger, workflow_id)  # NotFound
    return {**result, "version": version}


def diff(ledger: Ledger, workflow_id: str, a: Any, b: Any) -> dict[str, Any]:
    """What changed between two points (event numbers, "latest", at:TIME) and which events did it."""
    found = ledger.diff(stream_of(check_workflow_id(workflow_id)), WORKFLOW_REDUCER, a, b)
    return msgspec.to_builtins(found)


def history(ledger: Ledger, workflow_id: str) -> list[dict[str, Any]]:
    """A readable timeline: each event with when it happened, its action and what it said."""
    current(ledger, check_workflow_id(workflow_id))
    return [{"version": event.version, "occurred_at": occurred_at(event), "recorded_at": event.time,
             "action": event.type, "data": {k: v for k, v in event.data.items() if k != "occurred_at"},
             "signed": event.sig is not None}
            for event in writes.events(ledger, workflow_id)]


def workflows(ledger: Ledger, status: str | None = None) -> list[dict[str, Any]]:
    """Every workflow with its status, name, current step and last change (filtered by status)."""
    if status is not None and status not in STATUSES:
        raise ValidationError("status", f"{status!r} is not a workflow status", "use one of " + ", ".join(STATUSES))
    listed = []
    for info in ledger.streams(STREAM_CATEGORY):
        found = writes.replayed(ledger, info.stream.partition(":")[2]).state
        if status is None or found["status"] == status:
            listed.append({"workflow_id": found["workflow_id"], "name": found["name"], "status": found["status"],
                           "current_step": found["current_step"], "parent_workflow_id": found["parent_workflow_id"],
                           "events": info.version, "updated_at": found["updated_at"]})
    return listed


def import_legacy(ledger: Ledger, source: str | list[dict[str, Any]], legacy_key_file: str | None = None,
                  key: bytes | None = None) -> LegacyImport:
    """Import the original system's events (a JSON/JSON Lines file, or the objects), verifying
    each signature with the legacy key (`key`, else the file, else $CHRONIK_WORKFLOW_LEGACY_KEY).
    A bad signature is refused naming the event, and its workflow is not imported."""
    raw = legacy_events.read_events(source) if isinstance(source, str) else list(source)
    if key is None:
        key = legacy_events.legacy_key(legacy_key_file)
    return import_events(ledger, raw, key)


def backfill(ledger: Ledger, source: str, all_rows: bool = False, workflow_id: str | None = None,
             dry_run: bool = False, validate_only: bool = False) -> BackfillReport:
    """Backfill workflows from the legacy state table (JSON, CSV or postgresql://...?table=NAME):
    every row (`all_rows`) or one (`workflow_id`). `dry_run` writes nothing and says what it
    would; `validate_only` compares rows with what is (or would be) in the ledger."""
    if all_rows == (workflow_id is not None):
        raise ValidationError("workflow_id", "give either all rows or one workflow id", "use --all or --id ID")
    if dry_run and validate_only:
        raise ValidationError("validate_only", "cannot be combined with dry_run", "choose one of the two")
    if workflow_id is not None:
        check_workflow_id(workflow_id)
    mode: legacy_backfill.Mode = "dry_run" if dry_run else "validate_only" if validate_only else "import"
    return legacy_backfill.backfill(ledger, source, workflow_id, mode)


def shadow(ledger: Ledger, source: str) -> list[Difference]:
    """The dual-write check: every legacy row against the ledger's replayed state."""
    return legacy_backfill.shadow(ledger, source)


class MirrorReport(msgspec.Struct, frozen=True, kw_only=True):
    target: str
    position: int  # the mirror's checkpoint: every workflow event up to it is in the table
    head: int
    events: int  # workflow events applied by this run
    rows: int  # rows written by this run (a workflow changed by several events of a batch: once)


def mirror_legacy(ledger: Ledger, target: str, follow: bool = False,
                  stop: threading.Event | None = None) -> MirrorReport:
    """Keep the legacy state table (FILE.json or postgresql://...?table=NAME) current from the
    ledger (compat/legacy_mirror.py): every workflow event up to the head, then, with `follow`,
    each new one until `stop` is set. Resumes where the last run stopped."""
    from chronik.derive.projections import ProjectionRunner
    from chronik.domains.workflows.compat import legacy_mirror

    table = legacy_mirror.open_target(target)
    mirror = legacy_mirror.LegacyTableMirror(table)
    runner = ProjectionRunner(ledger, mirror)
    try:
        if follow:
            stop_event = stop or threading.Event()

            def stop_when_asked() -> None:
                stop_event.wait()
                runner.stop()

            threading.Thread(target=stop_when_asked, daemon=True, name="chronik-mirror-stop").start()
            runner.run()
        status = runner.status() if follow else runner.run_until_head()
    finally:
        table.close()
    return MirrorReport(target=target, position=status.position, head=status.head, events=runner.applied,
                        rows=mirror.rows_written)


def events_of(ledger: Ledger, workflow_id: str, limit: int = 100, offset: int = 0, action: str | None = None
              ) -> dict[str, Any]:
    """A page of a workflow's events (the original's events endpoint: limit, offset, action)."""
    timeline = history(ledger, workflow_id)
    if action is not None:
        check_data_action(action)
        timeline = [item for item in timeline if item["action"] == action]
    if limit < 1 or limit > 1000:
        raise ValidationError("limit", f"{limit} is out of range", "use 1 to 1000")
    if offset < 0:
        raise ValidationError("offset", f"{offset} is negative", "use 0 or more")
    return {"workflow_id": workflow_id, "total": len(timeline), "events": timeline[offset:offset + limit]}


def check_data_action(action: str) -> str:
    from chronik.domains.workflows.events import ACTIONS

    if action not in ACTIONS:
        raise ValidationError("action", f"{action!r} is not a workflow action", "use one of " + ", ".join(ACTIONS))
    return action


def snapshots_of(ledger: Ledger, workflow_id: str) -> list[dict[str, Any]]:
    """The saved snapshots of a workflow: version, status (ok, stale, corrupt) and when made."""
    from chronik.derive.snapshots import list_snapshots

    current(ledger, check_workflow_id(workflow_id))
    return [{"version": item.snapshot.version if item.snapshot else None, "status": item.status,
             "created": item.snapshot.created if item.snapshot else None, "detail": item.detail}
            for item in list_snapshots(ledger, WORKFLOW_REDUCER, stream_of(workflow_id))]


def export(ledger: Ledger, workflow_id: str, format: str = "json") -> str:
    """A workflow's timeline as JSON or CSV text."""
    import csv
    import io
    import json

    timeline = history(ledger, workflow_id)
    if format == "json":
        return json.dumps(timeline, sort_keys=True)
    if format != "csv":
        raise ValidationError("format", f"{format!r} is not an export format",
                              "use json or csv (PDF: chronik report --workflow ID --pdf FILE)")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["version", "occurred_at", "recorded_at", "action", "data", "signed"])
    for item in timeline:
        writer.writerow([item["version"], item["occurred_at"], item["recorded_at"], item["action"],
                         json.dumps(item["data"], sort_keys=True), item["signed"]])
    return out.getvalue()

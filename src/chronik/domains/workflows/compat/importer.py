"""Importing the original's events: each signature checked over the event as read, each event
converted (deterministic id, `occurred_at` from the legacy time, leftovers kept in meta) and
checked against the workflow's state as it would be after the events before it. A workflow with
a refused event (bad signature, signed without a key to check, bad fields, an illegal
transition) is imported not at all, so no history is written with a hole in it; the others are
written one workflow per atomic append. Importing again writes nothing new.
"""

from __future__ import annotations

from typing import Any

import msgspec

from chronik.domains.workflows import writes
from chronik.domains.workflows.compat import legacy_events
from chronik.domains.workflows.events import check_data, check_workflow_id, stream_of
from chronik.domains.workflows.reducer import illegal
from chronik.errors import ValidationError
from chronik.ledger import Ledger
from chronik.model import NewEvent


class Refused(msgspec.Struct, frozen=True):
    event_id: str
    workflow_id: str
    reason: str


class LegacyImport(msgspec.Struct, frozen=True, kw_only=True):
    """What an import did: events written per workflow, signatures verified or absent, refusals."""

    imported: dict[str, int]  # workflow id -> events written
    already_imported: int  # events found in the ledger from an earlier run
    verified: list[str]  # legacy event ids whose signature verified
    unsigned: list[str]  # legacy event ids without a signature (v1 events)
    refused: list[Refused]
    workflows_refused: list[str]


def import_events(ledger: Ledger, raw_events: list[dict[str, Any]], key: bytes | None) -> LegacyImport:
    verified: list[str] = []
    unsigned: list[str] = []
    refused: list[Refused] = []
    by_workflow: dict[str, list[dict[str, Any]]] = {}
    for raw in raw_events:
        problem = legacy_events.problem_of(raw)
        status = legacy_events.signature_status(raw, key)
        legacy_id, workflow_id = str(raw.get("event_id")), str(raw.get("workflow_id"))
        if problem is None and status == "mismatch":
            problem = "signature does not match (HMAC-SHA256 under the legacy key)"
        elif problem is None and status == "no key":
            problem = (f"is signed, but no legacy key was given (--legacy-key-file or "
                       f"${legacy_events.LEGACY_KEY_ENV})")
        if problem is not None:
            refused.append(Refused(legacy_id, workflow_id, problem))
        else:
            (verified if status == "verified" else unsigned).append(legacy_id)
        by_workflow.setdefault(workflow_id, []).append(raw)
    bad = {item.workflow_id for item in refused}
    imported: dict[str, int] = {}
    already = 0
    for workflow_id, events in by_workflow.items():
        if workflow_id in bad:
            continue
        try:
            written, found = _append(ledger, workflow_id, events)
        except ValidationError as exc:
            refused.append(Refused(exc.field, workflow_id, exc.problem))
            bad.add(workflow_id)
            continue
        already += found
        if written:
            imported[workflow_id] = written
    return LegacyImport(imported=imported, already_imported=already, verified=verified, unsigned=unsigned,
                        refused=refused, workflows_refused=sorted(bad))


def _append(ledger: Ledger, workflow_id: str, events: list[dict[str, Any]]) -> tuple[int, int]:
    """Write what is not yet written (planned again on a conflict); (written, found already)."""
    check_workflow_id(workflow_id)
    counts = [0, 0]

    def plan(ledger: Ledger) -> dict[str, tuple[list[NewEvent], int]]:
        planned, already, version = _convert(ledger, workflow_id, events)
        counts[:] = [len(planned), already]
        return {stream_of(workflow_id): (planned, version)} if planned else {}

    writes.append_planned(ledger, plan)
    return counts[0], counts[1]


def _convert(ledger: Ledger, workflow_id: str, events: list[dict[str, Any]]) -> tuple[list[NewEvent], int, int]:
    """The events still to write (after those an earlier run wrote), each checked in turn, and
    the version the workflow was read at."""
    found = writes.current(ledger, workflow_id, must_exist=False)
    existing = {event.id for event in ledger.read_stream(stream_of(workflow_id))} if found.version else set()
    state, version = found.state, found.version
    planned: list[NewEvent] = []
    already = 0
    for raw in events:
        new_id = legacy_events.event_id(raw["event_id"])
        if new_id in existing:
            already += 1
            continue
        try:
            fields, extra = legacy_events.fields_of(raw)
            data = check_data(raw["action"], fields)
        except ValidationError as exc:
            raise ValidationError(raw["event_id"], f"event {raw['event_id']}: {exc}") from None
        problem = illegal(state, raw["action"], data)
        if problem is not None:
            raise ValidationError(raw["event_id"], f"event {raw['event_id']}: {raw['action']} refused: {problem[1]}")
        legacy = {"event_id": raw["event_id"], "timestamp": str(raw["timestamp"]),
                  "event_version": raw.get("event_version"),
                  "signature": "verified" if raw.get("signature") else "unsigned"}
        if extra:
            legacy["data"] = extra
        planned.append(writes.new_event(raw["action"], data, {"legacy": legacy}, new_id))
        state = writes.folded(state, workflow_id, version, raw["action"], data)
        version += 1
    return planned, already, found.version

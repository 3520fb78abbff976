"""What an audit report says, gathered from a ledger (report_pdf.py lays it out on paper).

The ledger is verified first (chain, hashes, versions, signatures with the ledger's keyring),
then the events of the period (optionally one category, or one workflow) are read once to count
activity per day and per type, the workflow failures with their errors, and the gate decisions
with who made them in which role. Workflow statuses come from replaying each workflow; retention
policies and archive segments from the lifecycle records.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import msgspec

from chronik import codec
from chronik.domains.workflows import service
from chronik.domains.workflows.events import STREAM_CATEGORY, check_workflow_id, stream_of
from chronik.domains.workflows.reducer import occurred_at
from chronik.errors import ValidationError
from chronik.integrity.verify import verify_ledger
from chronik.ledger import Ledger
from chronik.lifecycle.archive import list_segments
from chronik.lifecycle.retention import policies
from chronik.model import Filter

MAX_LISTED = 200  # failures, decisions, problems listed in a report (counts stay complete)


class Verification(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    checked: int
    first_bad_position: int | None
    first_bad_kind: str | None
    problems: list[str]
    checks: list[tuple[str, str, str]]  # name, status, detail
    key_ids: list[str]
    anchor: str | None


class ReportData(msgspec.Struct, frozen=True, kw_only=True):
    generated_at: str
    ledger: str
    since: str | None
    category: str | None
    workflow_id: str | None
    verification: Verification
    head_position: int
    head_hash: str
    events: int
    by_day: dict[str, int]
    by_type: dict[str, int]
    by_status: dict[str, int]
    failures: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    retention: list[dict[str, Any]]
    archives: list[dict[str, Any]]
    timeline: list[dict[str, Any]]  # the workflow's events (per-workflow report)
    workflow: dict[str, Any] | None  # its state (per-workflow report)


def gather(ledger: Ledger, since: str | None = None, category: str | None = None,
           workflow_id: str | None = None, now: datetime | None = None) -> ReportData:
    now = now or datetime.now(UTC)
    start = None if since is None else codec.format_time(codec.parse_time(since, "since", now))
    checked = verify_ledger(ledger, keyring=ledger.keyring)
    verification = Verification(
        ok=checked.ok, checked=checked.checked, first_bad_position=checked.first_bad_position,
        first_bad_kind=checked.first_bad_kind,
        problems=[f"position {p.position}: {p.kind}: {p.detail}" for p in checked.problems[:MAX_LISTED]],
        checks=[(check.name, check.status, check.detail) for check in checked.checks],
        key_ids=ledger.keyring.kids if ledger.keyring is not None else [],
        anchor=None if checked.anchor is None else f"position {checked.anchor.position}")
    if workflow_id is not None:
        check_workflow_id(workflow_id)
        selected = Filter(streams=[stream_of(workflow_id)], since=start)
    else:
        selected = Filter(categories=[category] if category else None, since=start)
    by_day: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    timeline: list[dict[str, Any]] = []
    count = 0
    for event in ledger.read_all(filter=selected):
        count += 1
        by_day[event.time[:10]] += 1
        by_type[event.type] += 1
        if event.category != STREAM_CATEGORY:
            continue
        wid = event.stream.partition(":")[2]
        if event.type == "fail_step" and len(failures) < MAX_LISTED:
            failures.append({"workflow_id": wid, "step_id": event.data.get("step_id"),
                             "error": event.data.get("error"), "at": occurred_at(event)})
        elif event.type in ("approve_gate", "reject_gate") and len(decisions) < MAX_LISTED:
            decisions.append({"workflow_id": wid, "gate_id": event.data.get("gate_id"),
                              "decision": "approved" if event.type == "approve_gate" else "rejected",
                              "approver": event.data.get("approver"), "role": event.data.get("role"),
                              "at": occurred_at(event)})
        if workflow_id is not None:
            timeline.append({"version": event.version, "at": occurred_at(event), "action": event.type,
                             "data": {k: v for k, v in event.data.items() if k != "occurred_at"},
                             "signature": "signed" if event.sig else "unsigned"})
    if category not in (None, STREAM_CATEGORY) and workflow_id is None:
        by_status: Counter[str] = Counter()
        workflow = None
    elif workflow_id is not None:
        workflow = service.state(ledger, workflow_id)
        by_status = Counter({workflow["status"]: 1})
    else:
        by_status = Counter(item["status"] for item in service.workflows(ledger))
        workflow = None
    head = ledger.head()
    return ReportData(
        generated_at=codec.format_time(now), ledger=ledger.url, since=start, category=category,
        workflow_id=workflow_id, verification=verification, head_position=head.position, head_hash=head.hash,
        events=count, by_day=dict(sorted(by_day.items())), by_type=dict(by_type.most_common()),
        by_status=dict(sorted(by_status.items())), failures=failures, decisions=decisions,
        retention=[msgspec.to_builtins(policy) for policy in policies(ledger)],
        archives=[{"name": m.name, "first_position": m.first_position, "last_position": m.last_position,
                   "count": m.count, "created": m.created, "removed": m.removed} for m in list_segments(ledger)],
        timeline=timeline, workflow=workflow)


def check_pdf_target(pdf: str | None) -> str:
    if not pdf:
        raise ValidationError("pdf", "is missing", "name the PDF file to write, e.g. --pdf audit.pdf")
    return pdf

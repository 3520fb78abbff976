"""Cancellation with cleanup: cancelling a workflow cancels its running children first (depth
first, to any depth), and each cancel_workflow event records the cleanup done for that
workflow: the step interrupted, the gates released, the children cancelled (with their ids).
The plan is one batch per workflow, each expecting the version its state was read at, so the
whole cascade is one atomic multi-stream append: all cancelled, or (on a conflict) none.
"""

from __future__ import annotations

from typing import Any

import msgspec

from chronik.domains.workflows.events import TERMINAL, check_data, stream_of
from chronik.domains.workflows.reducer import State
from chronik.domains.workflows.writes import current, new_event, refuse_illegal
from chronik.errors import ValidationError
from chronik.ledger import Ledger
from chronik.model import NewEvent

MAX_DEPTH = 64  # a parent link cycle (only a foreign writer could make one) stops here


class WorkflowCleanup(msgspec.Struct, frozen=True, kw_only=True):
    workflow_id: str
    depth: int  # 0: the workflow asked to be cancelled, 1: its children, ...
    steps_interrupted: int
    gates_released: int
    children_cancelled: int


class Cancelled(msgspec.Struct, frozen=True, kw_only=True):
    """What a cancellation did: every workflow cancelled (children first) and the totals."""

    workflow_id: str
    parent_workflow_id: str | None
    workflows: list[WorkflowCleanup]
    totals: dict[str, int]


Batches = dict[str, tuple[list[NewEvent], int]]


def _interrupted(state: State) -> int:
    step = state["current_step"]
    if step is None or step in state["steps_completed"]:
        return 0
    gate = state["gates"].get(step)
    return 0 if gate is not None else 1


def plan_cancel(ledger: Ledger, workflow_id: str, reason: str, cancelled_by: str) -> tuple[Batches, Cancelled]:
    found = current(ledger, workflow_id)
    refuse_illegal(found.state, "cancel_workflow", {"reason": reason, "cancelled_by": cancelled_by})
    batches: Batches = {}
    done: list[WorkflowCleanup] = []
    _cancel_tree(ledger, workflow_id, found.state, found.version, reason, cancelled_by, None, 0, batches, done)
    totals = {key: sum(getattr(item, key) for item in done)
              for key in ("steps_interrupted", "gates_released", "children_cancelled")}
    totals["workflows_cancelled"] = len(done)
    return batches, Cancelled(workflow_id=workflow_id, parent_workflow_id=found.state["parent_workflow_id"],
                              workflows=done, totals=totals)


def _cancel_tree(ledger: Ledger, workflow_id: str, state: State, version: int, reason: str, cancelled_by: str,
                 root: str | None, depth: int, batches: Batches, done: list[WorkflowCleanup]) -> None:
    if depth > MAX_DEPTH:
        raise ValidationError("workflow_id", f"children of {workflow_id!r} nest deeper than {MAX_DEPTH}",
                              "check the parent links of these workflows")
    children = []
    for child_id, child in state["children"].items():
        if child["status"] != "running" or stream_of(child_id) in batches:
            continue
        found = current(ledger, child_id, must_exist=False)
        if found.state["status"] is None or found.state["status"] in TERMINAL:
            continue
        _cancel_tree(ledger, child_id, found.state, found.version, reason, cancelled_by, root or workflow_id,
                     depth + 1, batches, done)
        children.append(child_id)
    interrupted = _interrupted(state)
    released = sum(1 for gate in state["gates"].values() if gate["status"] == "pending")
    cleanup = {"steps_interrupted": interrupted, "gates_released": released,
               "children_cancelled": len(children), "children": children}
    fields: dict[str, Any] = {"reason": reason, "cancelled_by": cancelled_by, "cleanup": cleanup}
    if root is not None:
        fields["cascaded_from"] = root
    data = check_data("cancel_workflow", fields)
    batches[stream_of(workflow_id)] = ([new_event("cancel_workflow", data)], version)
    done.append(WorkflowCleanup(workflow_id=workflow_id, depth=depth, steps_interrupted=interrupted,
                                gates_released=released, children_cancelled=len(children)))

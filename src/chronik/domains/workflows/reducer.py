"""A workflow's state as a pure fold of its events (stream `workflow:ID`).

The state holds the 7 statuses' one, the definition, steps completed and the current step,
gates (pending, approved, rejected, by whom and in which role), retries per step, rollbacks,
annotations and insights, children and their outcomes, errors and the cancellation cleanup.

`illegal(state, action, data)` says why an action is not allowed in a state (naming the state),
or None. The service refuses such an append; the reducer, should one reach a stream anyway (an
import, a foreign writer), records it under `refused` and leaves everything else unchanged, so
an illegal transition is never folded silently. Completion is explicit: the last step of the
definition is done, or an event says `final`; `complete_step` without a next step never ends a
workflow by accident (the original's defect). `create_snapshot` is a marker: the state is the
same object after it.

Nothing here reads a clock, a file or the network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from chronik.derive.reducer import Reducer
from chronik.domains.workflows.events import TERMINAL
from chronik.model import Event

REDUCER_NAME = "workflow"
REDUCER_VERSION = 1
SNAPSHOT_EVERY = 10
RECENT = 50  # annotations, insights, errors, refused events kept in the state

State = dict[str, Any]
Problem = tuple[str, str]  # (field, why)
ACTIVE = frozenset({"initialized", "running"})


def initial() -> State:
    return {"workflow_id": None, "name": None, "status": None, "definition": None, "parent_workflow_id": None,
            "started_at": None, "updated_at": None, "finished_at": None, "steps_completed": [],
            "current_step": None, "results": {}, "failed_step": None, "gates": {}, "retries": {},
            "rollbacks": [], "annotations": [], "insights": [], "children": {}, "errors": [],
            "paused_from": None, "cancellation": None, "refused": []}


def occurred_at(event: Event) -> str:
    """When it happened in the domain: the legacy time of a backfilled event, else the ledger's."""
    given = event.data.get("occurred_at")
    return given if isinstance(given, str) else event.time


def _steps(state: State) -> list[dict[str, Any]]:
    definition = state["definition"]
    return list(definition["steps"]) if definition else []


def _step(state: State, step_id: str) -> dict[str, Any] | None:
    return next((step for step in _steps(state) if step["id"] == step_id), None)


def _next_step(state: State, done: list[str]) -> str | None:
    return next((step["id"] for step in _steps(state) if step["id"] not in done), None)


# ---------------------------------------------------------------- legality


def illegal(state: State, action: str, data: dict[str, Any]) -> Problem | None:
    """Why `action` may not happen to a workflow in `state`, or None when it may."""
    status = state["status"]
    wid = state["workflow_id"]
    if action == "start_workflow":
        return None if status is None else ("workflow_id", f"workflow {wid!r} already exists ({status})")
    if status is None:
        return ("workflow_id", "the workflow has not been started")
    if action in ("annotate", "capture_insight", "create_snapshot"):
        return None
    where = f"workflow {wid!r} is {status}"
    check = _CHECKS.get(action)
    return check(state, data, where) if check else None


def _active(where: str, action: str, state: State) -> Problem | None:
    if state["status"] in ACTIVE:
        return None
    return ("action", f"{where}: {action} needs a running workflow")


def _check_complete(state: State, data: dict[str, Any], where: str) -> Problem | None:
    step_id = data["step_id"]
    if (found := _active(where, "complete_step", state)) is not None:
        return found
    if step_id in state["steps_completed"]:
        return ("step_id", f"step {step_id!r} is already completed")
    if state["definition"]:
        step = _step(state, step_id)
        if step is None:
            return ("step_id", f"step {step_id!r} is not in the definition {state['definition']['name']!r}")
        if step.get("gate"):
            return ("step_id", f"step {step_id!r} is a gate: it is done by approve_gate")
        if step_id != state["current_step"]:
            return ("step_id", f"step {step_id!r} is not the current step ({state['current_step']!r})")
    if state["failed_step"] == step_id:
        return ("step_id", f"step {step_id!r} failed: record retry_step before completing it")
    return None


def _check_fail(state: State, data: dict[str, Any], where: str) -> Problem | None:
    if (found := _active(where, "fail_step", state)) is not None:
        return found
    if data["step_id"] in state["steps_completed"]:
        return ("step_id", f"step {data['step_id']!r} is already completed")
    return None


def _check_gate(action: str) -> Callable[[State, dict[str, Any], str], Problem | None]:
    def check(state: State, data: dict[str, Any], where: str) -> Problem | None:
        if (found := _active(where, action, state)) is not None:
            return found
        gate = state["gates"].get(data["gate_id"])
        gate_status = gate["status"] if gate else "not open"
        if gate_status != "pending":
            return ("gate_id", f"gate {data['gate_id']!r} is {gate_status}, not pending")
        return None
    return check


def _check_pause(state: State, data: dict[str, Any], where: str) -> Problem | None:
    return _active(where, "pause_workflow", state)


def _check_resume(state: State, data: dict[str, Any], where: str) -> Problem | None:
    return None if state["status"] == "paused" else ("action", f"{where}, not paused: nothing to resume")


def _check_rollback(state: State, data: dict[str, Any], where: str) -> Problem | None:
    if state["status"] not in ("initialized", "running", "failed"):
        return ("action", f"{where}: rollback_step needs a running or failed workflow")
    if data["step_id"] not in state["steps_completed"]:
        return ("step_id", f"step {data['step_id']!r} is not completed, so it cannot be rolled back")
    return None


def _check_cancel(state: State, data: dict[str, Any], where: str) -> Problem | None:
    return ("action", f"{where}: it cannot be cancelled") if state["status"] in TERMINAL else None


def _check_retry(state: State, data: dict[str, Any], where: str) -> Problem | None:
    if state["status"] != "failed":
        return ("action", f"{where}, not failed: there is nothing to retry")
    if state["failed_step"] != data["step_id"]:
        return ("step_id", f"step {data['step_id']!r} did not fail (the failed step is {state['failed_step']!r})")
    if data["retry_attempt"] > data.get("max_retries", 3):
        return ("retry_attempt", f"attempt {data['retry_attempt']} is past max_retries "
                                      f"{data.get('max_retries', 3)}")
    previous = state["retries"].get(data["step_id"], 0)
    if data["retry_attempt"] != previous + 1:
        return ("retry_attempt", f"step {data['step_id']!r} was retried {previous} times: "
                                      f"the next attempt is {previous + 1}")
    return None


def _check_child(state: State, data: dict[str, Any], where: str) -> Problem | None:
    if (found := _active(where, "start_child_workflow", state)) is not None:
        return found
    if data["child_workflow_id"] in state["children"]:
        return ("child_workflow_id", f"child {data['child_workflow_id']!r} was already started")
    return None


def _check_child_done(state: State, data: dict[str, Any], where: str) -> Problem | None:
    child = state["children"].get(data["child_workflow_id"])
    if child is None:
        return ("child_workflow_id", f"{data['child_workflow_id']!r} is not a child of {state['workflow_id']!r}")
    if child["status"] != "running":
        return ("child_workflow_id", f"child {data['child_workflow_id']!r} already ended ({child['status']})")
    return None


_CHECKS: dict[str, Callable[[State, dict[str, Any], str], Problem | None]] = {
    "complete_step": _check_complete, "fail_step": _check_fail, "approve_gate": _check_gate("approve_gate"),
    "reject_gate": _check_gate("reject_gate"), "pause_workflow": _check_pause,
    "resume_workflow": _check_resume, "rollback_step": _check_rollback, "cancel_workflow": _check_cancel,
    "retry_step": _check_retry, "start_child_workflow": _check_child, "child_workflow_complete": _check_child_done,
}


# ---------------------------------------------------------------- folding


def fold_event(state: State, event: Event) -> State:
    """The state after `event` (a new dict; `state` is not changed)."""
    if event.type == "create_snapshot":
        return state
    handler = HANDLERS.get(event.type)
    if handler is None:
        return state
    try:
        problem = illegal(state, event.type, event.data)
        if problem is None:
            return handler({**state, "updated_at": occurred_at(event)}, event)
    except (KeyError, TypeError, AttributeError) as exc:
        # Appended by other means without the fields the pack checks: kept out of the state,
        # and recorded as refused, so a replay never fails on it and never hides it.
        problem = ("data", f"malformed {event.type}: {type(exc).__name__} {exc}")
    refused = {"version": event.version, "action": event.type, "field": problem[0], "problem": problem[1]}
    return {**state, "refused": [*state["refused"], refused][-RECENT:]}


def fold(events: Iterable[Event], state: State | None = None) -> State:
    state = initial() if state is None else state
    for event in events:
        state = fold_event(state, event)
    return state


def _advance(state: State, done: list[str], when: str) -> State:
    """Steps `done`; the next step of the definition becomes current (a gate opens as pending);
    after the last one the workflow is completed."""
    state = {**state, "steps_completed": done, "status": "running"}
    if not state["definition"]:
        return state
    following = _next_step(state, done)
    state["current_step"] = following
    if following is None:
        return {**state, "status": "completed", "finished_at": when}
    step = _step(state, following)
    if step and step.get("gate") and following not in state["gates"]:
        state["gates"] = {**state["gates"], following: {"status": "pending", "opened_at": when}}
    return state


def _start(state: State, event: Event) -> State:
    data = event.data
    definition = data.get("definition")
    name = data.get("name") or (definition or {}).get("name")
    state = {**state, "workflow_id": event.stream.partition(":")[2], "name": name, "status": "initialized",
             "definition": definition, "parent_workflow_id": data.get("parent_workflow_id"),
             "started_at": occurred_at(event)}
    if definition:
        state = _advance(state, [], occurred_at(event))
        state["status"] = "initialized" if definition["steps"] else "completed"
    return state


def _complete(state: State, event: Event) -> State:
    data, when = event.data, occurred_at(event)
    state = {**state, "results": {**state["results"], data["step_id"]: data.get("result")}}
    state = _advance(state, [*state["steps_completed"], data["step_id"]], when)
    if not state["definition"]:  # without a definition, the event names what comes next
        state["current_step"] = data.get("next_step")
    if data.get("final"):
        state = {**state, "status": "completed", "finished_at": when, "current_step": None}
    return state


def _fail(state: State, event: Event) -> State:
    error = {"step_id": event.data["step_id"], "error": event.data["error"], "at": occurred_at(event),
             "retryable": event.data.get("retryable", True), "version": event.version}
    return {**state, "status": "failed", "failed_step": event.data["step_id"], "current_step": event.data["step_id"],
            "errors": [*state["errors"], error][-RECENT:]}


def _gate(outcome: str) -> Callable[[State, Event], State]:
    def decide(state: State, event: Event) -> State:
        data, when = event.data, occurred_at(event)
        gate = {**state["gates"][data["gate_id"]], "status": outcome, "approver": data["approver"],
                "role": data.get("role"), "at": when}
        note = data.get("comment") if outcome == "approved" else data.get("reason")
        if note is not None:
            gate["comment" if outcome == "approved" else "reason"] = note
        state = {**state, "gates": {**state["gates"], data["gate_id"]: gate}}
        if outcome == "rejected":
            return {**state, "status": "rejected", "finished_at": when}
        return _advance(state, [*state["steps_completed"], data["gate_id"]], when)
    return decide


def _pause(state: State, event: Event) -> State:
    return {**state, "status": "paused", "paused_from": state["status"]}


def _resume(state: State, event: Event) -> State:
    return {**state, "status": state["paused_from"] or "running", "paused_from": None}


def _rollback(state: State, event: Event) -> State:
    step_id = event.data["step_id"]
    done = [step for step in state["steps_completed"] if step != step_id]
    rollback = {"step_id": step_id, "reason": event.data["reason"], "at": occurred_at(event)}
    results = {key: value for key, value in state["results"].items() if key != step_id}
    return {**state, "steps_completed": done, "current_step": step_id, "status": "running", "failed_step": None,
            "results": results, "rollbacks": [*state["rollbacks"], rollback]}


def _cancel(state: State, event: Event) -> State:
    data, when = event.data, occurred_at(event)
    cleanup = data.get("cleanup") or {}
    children = dict(state["children"])
    for child in cleanup.get("children", []):
        if child in children:
            children[child] = {**children[child], "status": "cancelled"}
    gates = {gate_id: ({**gate, "status": "released"} if gate["status"] == "pending" else gate)
             for gate_id, gate in state["gates"].items()}
    cancellation = {"reason": data["reason"], "cancelled_by": data["cancelled_by"], "at": when,
                    "cleanup": {key: cleanup.get(key, 0) for key in
                                ("steps_interrupted", "gates_released", "children_cancelled")}}
    if data.get("cascaded_from"):
        cancellation["cascaded_from"] = data["cascaded_from"]
    return {**state, "status": "cancelled", "finished_at": when, "children": children, "gates": gates,
            "cancellation": cancellation}


def _retry(state: State, event: Event) -> State:
    data = event.data
    retries = {**state["retries"], data["step_id"]: data["retry_attempt"]}
    return {**state, "status": "running", "failed_step": None, "retries": retries, "current_step": data["step_id"]}


def _child(state: State, event: Event) -> State:
    child = {"status": "running", "started_at": occurred_at(event)}
    return {**state, "children": {**state["children"], event.data["child_workflow_id"]: child}}


def _child_done(state: State, event: Event) -> State:
    child_id = event.data["child_workflow_id"]
    child = {**state["children"][child_id], "status": event.data["status"], "ended_at": occurred_at(event)}
    return {**state, "children": {**state["children"], child_id: child}}


def _note(section: str) -> Callable[[State, Event], State]:
    def note(state: State, event: Event) -> State:
        item = {key: value for key, value in event.data.items() if key != "occurred_at"}
        item.update(at=occurred_at(event), version=event.version)
        return {**state, section: [*state[section], item][-RECENT:]}
    return note


HANDLERS: dict[str, Callable[[State, Event], State]] = {
    "start_workflow": _start, "complete_step": _complete, "fail_step": _fail,
    "approve_gate": _gate("approved"), "reject_gate": _gate("rejected"), "pause_workflow": _pause,
    "resume_workflow": _resume, "rollback_step": _rollback, "cancel_workflow": _cancel, "retry_step": _retry,
    "start_child_workflow": _child, "child_workflow_complete": _child_done,
    "annotate": _note("annotations"), "capture_insight": _note("insights"),
}


class WorkflowReducer(Reducer):
    """The workflow state; snapshots every 10 events (saved as events are appended, service.py)."""

    name = REDUCER_NAME
    version = REDUCER_VERSION
    snapshot_every = SNAPSHOT_EVERY
    keep_snapshots = 100  # time travel to any of the last 1,000 events starts from a snapshot

    def initial(self) -> State:
        return initial()

    def apply(self, state: State, event: Event) -> State:
        return fold_event(state, event)


WORKFLOW_REDUCER = WorkflowReducer()

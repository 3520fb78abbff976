"""An instance's state as a pure fold of its events (stream `instance:ID`).

The state holds what the real system's replay returned (last epic, last event type, latest
timestamp, events replayed, the checkpoint's state) and what resuming needs: every epic with its
status, times and durations, the latest test result per test type of each epic, commits and PRs,
deployments with their health, the latest checkpoints, tasks spawned and not finished, errors,
the PRD and the context window. Lists that could grow without end keep their last few entries
and a count, so a state stays small whatever the instance did.

`fold_event` is a module-level function of (state, event) with one handler per type; nothing here
reads a clock, a file or the network, so replay, snapshots and the live state always agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from chronik.derive.reducer import Reducer
from chronik.model import Event

REDUCER_NAME = "session-instance"
REDUCER_VERSION = 1
SNAPSHOT_EVERY = 200
RECENT = 10  # recent commits, errors, requested features kept in the state
MAX_OPEN_TASKS = 200
MAX_PRS = 50
TEXT_CHARS = 300  # messages and summaries are cut to this in the state (the event keeps all)

State = dict[str, Any]
Handler = Callable[[State, Event], State]
INSTANCE_TYPES = frozenset({"instance_registered", "instance_heartbeat", "instance_stale", "instance_closed"})


def initial() -> State:
    return {"v": REDUCER_VERSION, "instance_id": None, "project": None, "registered_at": None, "state": None,
            "last_heartbeat": None, "last_event_type": None, "last_work_event_type": None,
            "latest_timestamp": None, "sequence": 0, "total_events": 0, "last_epic": None, "epics": {},
            "commits": {"count": 0, "recent": []}, "prs": {}, "deployments": {},
            "checkpoints": {"latest_created": None, "latest_loaded": None, "latest": None},
            "open_tasks": {}, "tasks": {"spawned": 0, "finished": 0, "failed": 0},
            "errors": {"count": 0, "recent": []}, "prd": None, "context": None,
            "features_requested": {"count": 0, "recent": []}, "counts": {}}


def fold_event(state: State, event: Event) -> State:
    """The state after `event` (a new dict; `state` is not changed)."""
    state = {**state, "sequence": event.version, "total_events": state["total_events"] + 1,
             "last_event_type": event.type, "latest_timestamp": event.time,
             "counts": {**state["counts"], event.type: state["counts"].get(event.type, 0) + 1}}
    if event.type not in INSTANCE_TYPES:
        state["last_work_event_type"] = event.type
        if state["state"] == "stale":
            state["state"] = "active"  # any work is a sign of life
    handler = HANDLERS.get(event.type)
    if handler is None:
        return state
    try:
        return handler(state, event)
    except (KeyError, TypeError, AttributeError):
        # Not an event the pack checked (appended to the stream by other means, without its
        # required fields): counted above, and otherwise left out, so a replay never fails on it.
        return state


def fold(events: Iterable[Event], state: State | None = None) -> State:
    state = initial() if state is None else state
    for event in events:
        state = fold_event(state, event)
    return state


def _key(data: dict[str, Any], name: str) -> str:
    """A required name field (epic_id, pr_url, service, ...): a string, else KeyError."""
    value = data[name]
    if not isinstance(value, str):
        raise KeyError(name)
    return value


def _cut(text: Any) -> Any:
    return text[:TEXT_CHARS] if isinstance(text, str) else text


def _picked(data: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: _cut(data[name]) for name in names if data.get(name) is not None}


def _recent(section: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    return {"count": section["count"] + 1, "recent": [*section["recent"], item][-RECENT:]}


# ---------------------------------------------------------------- instance


def _registered(state: State, event: Event) -> State:
    return {**state, "instance_id": event.stream.partition(":")[2], "project": event.data.get("project"),
            "registered_at": event.time, "state": "active"}


def _heartbeat(state: State, event: Event) -> State:
    state = {**state, "last_heartbeat": event.time}
    if state["state"] != "closed":
        state["state"] = "active"
    if event.data.get("context_percent") is not None:
        state["context"] = {**(state["context"] or {}), "percent_used": event.data["context_percent"],
                            "sequence": event.version}
    return state


def _stale(state: State, event: Event) -> State:
    return state if state["state"] == "closed" else {**state, "state": "stale"}


def _closed(state: State, event: Event) -> State:
    return {**state, "state": "closed"}


# ---------------------------------------------------------------- epics and tests


def _epic(state: State, epic_id: str) -> dict[str, Any]:
    return dict(state["epics"].get(epic_id) or {"status": None, "tests": {}, "validation": None})


def _with_epic(state: State, epic_id: str, epic: dict[str, Any], last: bool = False) -> State:
    state = {**state, "epics": {**state["epics"], epic_id: epic}}
    if last:
        state["last_epic"] = epic_id
    return state


def _planned(state: State, event: Event) -> State:
    epic_id = _key(event.data, "epic_id")
    epic = _epic(state, epic_id)
    if epic["status"] is None:
        epic["status"] = "planned"
    epic.update(_picked(event.data, "feature_name", "estimated_hours", "priority"), planned_at=event.time)
    return _with_epic(state, epic_id, epic)


def _started(state: State, event: Event) -> State:
    epic_id = _key(event.data, "epic_id")
    epic = _epic(state, epic_id)
    epic.update(status="started", started_at=event.time, started_sequence=event.version, finished_at=None,
                error=None, **_picked(event.data, "feature_name", "estimated_hours", "spawned_by",
                                      "acceptance_criteria_count"))
    return _with_epic(state, epic_id, epic, last=True)


def _finished(status: str) -> Handler:
    def finish(state: State, event: Event) -> State:
        epic_id = _key(event.data, "epic_id")
        epic = _epic(state, epic_id)
        epic.update(status=status, finished_at=event.time, finished_sequence=event.version,
                    **_picked(event.data, "duration_hours", "files_changed", "tests_passed", "pr_url",
                              "validation_confidence", "error", "failed_step"))
        if event.data.get("issues_encountered"):
            epic["issues_encountered"] = event.data["issues_encountered"][:RECENT]
        state = _with_epic(state, epic_id, epic, last=True)
        ended = [task for task, info in state["open_tasks"].items() if info.get("epic_id") == epic_id]
        return _tasks_ended(state, ended, failed=status == "failed")
    return finish


def _test(status: str) -> Handler:
    def test(state: State, event: Event) -> State:
        data = event.data
        epic_id = _key(data, "epic_id")
        epic = _epic(state, epic_id)
        result: dict[str, Any] = {"status": status, "sequence": event.version, "at": event.time}
        if status != "running":
            passed, failed = data.get("passed_count", 0), data.get("failed_count", 0)
            result.update(passed=passed, failed=failed, total=passed + failed)
        result.update(_picked(data, "coverage_percent", "duration_seconds", "test_count", "error"))
        if data.get("failing_tests"):
            result["failing_tests"] = data["failing_tests"][:RECENT]
        test_type = data.get("test_type")
        epic["tests"] = {**epic["tests"], test_type if isinstance(test_type, str) else "all": result}
        return _with_epic(state, epic_id, epic)
    return test


def _validation(status: str) -> Handler:
    def validation(state: State, event: Event) -> State:
        epic_id = _key(event.data, "epic_id")
        epic = _epic(state, epic_id)
        epic["validation"] = {"status": status, "sequence": event.version,
                              **_picked(event.data, "validation_confidence", "reason")}
        return _with_epic(state, epic_id, epic)
    return validation


# ---------------------------------------------------------------- git and deployments


def _commit(state: State, event: Event) -> State:
    item = {"commit_sha": _key(event.data, "commit_sha"), "sequence": event.version,
            **_picked(event.data, "message", "branch", "epic_id")}
    return {**state, "commits": _recent(state["commits"], item)}


def _pr(status: str) -> Handler:
    def pr(state: State, event: Event) -> State:
        url = _key(event.data, "pr_url")
        entry = {**state["prs"].get(url, {}), "status": status, "sequence": event.version,
                 **_picked(event.data, "pr_number", "title", "branch", "epic_id", "merge_commit")}
        prs = {key: value for key, value in state["prs"].items() if key != url}
        prs[url] = entry  # newest last
        while len(prs) > MAX_PRS:
            prs.pop(next(iter(prs)))
        return {**state, "prs": prs}
    return pr


def _deployment(status: str) -> Handler:
    def deployment(state: State, event: Event) -> State:
        service = _key(event.data, "service")
        entry = {"status": status, "sequence": event.version, "at": event.time,
                 **_picked(event.data, "health_status", "port", "response_time_ms", "git_commit",
                           "docker_image", "environment", "error", "epic_id")}
        return {**state, "deployments": {**state["deployments"], service: entry}}
    return deployment


# ---------------------------------------------------------------- work state and planning


def _context(state: State, event: Event) -> State:
    return {**state, "context": {"sequence": event.version,
                                 **_picked(event.data, "percent_used", "tokens_used", "tokens_max")}}


def _checkpoint(kind: str) -> Handler:
    def checkpoint(state: State, event: Event) -> State:
        entry = {**event.data, "event_type": event.type, "sequence_num": event.version, "timestamp": event.time}
        return {**state, "checkpoints": {**state["checkpoints"], f"latest_{kind}": entry, "latest": entry}}
    return checkpoint


def _task_spawned(state: State, event: Event) -> State:
    tasks = {**state["open_tasks"], _key(event.data, "task_id"): {
        "sequence": event.version, "at": event.time,
        **_picked(event.data, "epic_id", "description", "agent_type", "model")}}
    while len(tasks) > MAX_OPEN_TASKS:
        tasks.pop(next(iter(tasks)))
    return {**state, "open_tasks": tasks,
            "tasks": {**state["tasks"], "spawned": state["tasks"]["spawned"] + 1}}


def _tasks_ended(state: State, task_ids: list[str], failed: bool) -> State:
    ended = [task for task in task_ids if task in state["open_tasks"]]
    if not ended:
        return state
    key = "failed" if failed else "finished"
    return {**state, "open_tasks": {k: v for k, v in state["open_tasks"].items() if k not in ended},
            "tasks": {**state["tasks"], key: state["tasks"][key] + len(ended)}}


def _tool_result(state: State, event: Event) -> State:
    task = event.data.get("task_id")
    return state if task is None else _tasks_ended(state, [task], failed=bool(event.data.get("is_error")))


def _error(state: State, event: Event) -> State:
    item = {"message": _cut(_key(event.data, "message")), "sequence": event.version, "at": event.time,
            **_picked(event.data, "error_type", "epic_id", "tool_name")}
    state = {**state, "errors": _recent(state["errors"], item)}
    task = event.data.get("task_id")
    return state if task is None else _tasks_ended(state, [task], failed=True)


def _feature(state: State, event: Event) -> State:
    item = {"sequence": event.version, **_picked(event.data, "feature_name", "priority")}
    return {**state, "features_requested": _recent(state["features_requested"], item)}


def _prd(state: State, event: Event) -> State:
    return {**state, "prd": {"sequence": event.version, "at": event.time,
                             **_picked(event.data, "epic_id", "prd_version", "summary")}}


HANDLERS: dict[str, Handler] = {
    "instance_registered": _registered, "instance_heartbeat": _heartbeat, "instance_stale": _stale,
    "instance_closed": _closed, "epic_planned": _planned, "epic_started": _started,
    "epic_completed": _finished("completed"), "epic_failed": _finished("failed"),
    "test_started": _test("running"), "test_passed": _test("passed"), "test_failed": _test("failed"),
    "validation_passed": _validation("passed"), "validation_failed": _validation("failed"),
    "commit_created": _commit, "pr_created": _pr("open"), "pr_merged": _pr("merged"),
    "deployment_started": _deployment("started"), "deployment_completed": _deployment("completed"),
    "deployment_failed": _deployment("failed"), "context_window_updated": _context,
    "checkpoint_created": _checkpoint("created"), "checkpoint_loaded": _checkpoint("loaded"),
    "task_spawned": _task_spawned, "tool_result": _tool_result, "error": _error,
    "feature_requested": _feature, "prd_updated": _prd,
}


def plan_final_state(state: State) -> dict[str, Any]:
    """The real system's final_state (last_epic, last_event_type, latest_timestamp,
    total_events_replayed, checkpoint_state), followed by the rest of the state."""
    latest = state["checkpoints"]["latest"]
    head = {"last_epic": state["last_epic"], "last_event_type": state["last_event_type"],
            "latest_timestamp": state["latest_timestamp"], "total_events_replayed": state["total_events"],
            "checkpoint_state": latest}
    return {**head, **{key: value for key, value in state.items() if key not in head}}


class InstanceState(Reducer):
    """The instance fold as a chronik Reducer (replay, snapshots, projections)."""

    name = REDUCER_NAME
    version = REDUCER_VERSION
    snapshot_every = SNAPSHOT_EVERY

    def initial(self) -> State:
        return initial()

    def apply(self, state: State, event: Event) -> State:
        return fold_event(state, event)


INSTANCE_REDUCER = InstanceState()

"""Where an instance left off: facts drawn from its state, and a table of rules that turn them
into next steps and one sentence in the plan's style ("Epic complete! 5/8 tests passed. PRD
updated. Ready for next epic.").

The rules are data: each is a name, the conditions on facts under which it applies, the words it
adds to the sentence and the next step it suggests, in table order. Adding a rule is adding a
row; each row has its own test. Pure: the summary depends on the state alone.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import msgspec

from chronik.domains.sessions.reducer import State

HEALTHY = frozenset({"healthy", "ok", "up", "passing", "green"})
CONTEXT_HIGH_PERCENT = 80
LISTED = 10  # items per finished / failed / open list

Condition = tuple[str, str, Any]  # (fact, operator, value)
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, ">": lambda a, b: a is not None and a > b,
    ">=": lambda a, b: a is not None and a >= b, "in": lambda a, b: a in b,
}


class Rule(msgspec.Struct, frozen=True):
    name: str
    when: tuple[Condition, ...]
    says: str | None  # words for the sentence (a template over the facts)
    suggests: str | None  # a next step (a template over the facts)


RULES: tuple[Rule, ...] = (
    Rule("nothing_recorded", (("has_work", "==", False), ("instance_state", "!=", "closed")),
         "Nothing recorded yet.", "Emit epic_started when work on an epic begins."),
    Rule("instance_closed", (("instance_state", "==", "closed"),),
         "Instance closed.", "Register a new instance to continue this work."),
    Rule("epic_failed", (("last_epic_status", "==", "failed"),),
         "Epic {last_epic} failed{epic_error_suffix}.",
         "Find why {last_epic} failed, fix it and start it again (epic_started)."),
    Rule("epic_complete", (("last_epic_status", "==", "completed"),), "Epic complete!", None),
    Rule("epic_in_progress", (("last_epic_status", "==", "started"),),
         "Epic {last_epic} in progress.", "Continue {last_epic}{feature_suffix}."),
    Rule("tests_counted", (("tests_total", ">", 0),), "{tests_passed}/{tests_total} tests passed.", None),
    Rule("tests_failing", (("last_test_status", "==", "failed"),),
         "Tests failing.", "Fix the {tests_failed} failing tests of {last_epic}{failing_suffix}."),
    Rule("tests_running", (("last_test_status", "==", "running"),),
         "Tests running.", "Check the result of the test run of {last_epic}."),
    Rule("validation_failed", (("validation_status", "==", "failed"),),
         "Validation failed.", "Address what failed the validation of {last_epic}."),
    Rule("prd_updated", (("prd_updated", "==", True),), "PRD updated.", None),
    Rule("prd_pending", (("last_epic_status", "==", "completed"), ("prd_updated", "==", False)),
         None, "Update the PRD for {last_epic}."),
    Rule("deployment_failed", (("failed_deployments", ">", 0),),
         "Deployment of {failed_deployment} failed.", "Fix and redeploy {failed_deployment}."),
    Rule("deployment_unhealthy", (("unhealthy_deployments", ">", 0),),
         "{unhealthy_deployment} is {unhealthy_status}.", "Check the health of {unhealthy_deployment}."),
    Rule("pr_open", (("open_prs", ">", 0),), "PR open.", "Get {first_open_pr} reviewed and merged."),
    Rule("tasks_open", (("open_tasks", ">", 0),),
         "{open_tasks} spawned task(s) not finished.", "Check on the spawned tasks: {open_task_ids}."),
    Rule("errors_in_epic", (("last_epic_status", "==", "started"), ("errors_in_epic", ">", 0)),
         "{errors_in_epic} error(s) since it started.", "Look at the last error: {last_error}."),
    Rule("checkpoint_to_load", (("last_epic_status", "==", "started"), ("checkpoint_kind", "==", "created")),
         None, "Resume from checkpoint {checkpoint_id} (then emit checkpoint_loaded)."),
    Rule("context_high", (("context_percent", ">=", CONTEXT_HIGH_PERCENT),),
         "Context window {context_percent}% full.", "Save a checkpoint before the context runs out."),
    Rule("ready_for_next", (("last_epic_status", "==", "completed"), ("blockers", "==", 0)),
         "Ready for next epic.", "Start the next epic{next_planned_suffix}."),
    Rule("planned_next", (("last_epic_status", "in", (None, "planned")), ("next_planned", "!=", None)),
         "Epic {next_planned} planned.", "Start {next_planned}."),
    Rule("no_epic_yet", (("has_work", "==", True), ("last_epic", "==", None), ("next_planned", "==", None)),
         None, "Emit epic_started for the epic you are working on."),
)


def applies(rule: Rule, facts: dict[str, Any]) -> bool:
    return all(OPERATORS[op](facts.get(fact), value) for fact, op, value in rule.when)


def facts_of(state: State) -> dict[str, Any]:
    """Everything the rules may ask about, from an instance's state (every key always present)."""
    epics = state["epics"]
    last_epic = state["last_epic"]
    epic = epics.get(last_epic) or {"status": None, "tests": {}, "validation": None}
    results = list(epic["tests"].values())
    finished_results = [r for r in results if r.get("status") in ("passed", "failed")]
    passed = sum(r.get("passed", 0) for r in finished_results)
    total = sum(r.get("total", 0) for r in finished_results)
    newest_test = max(results, key=lambda r: r.get("sequence", 0), default=None)
    failing = newest_test.get("failing_tests", []) if newest_test else []
    since = epic.get("started_sequence") or 0
    prd = state["prd"]
    open_prs = [url for url, pr in state["prs"].items() if pr["status"] == "open"]
    deployments = state["deployments"]
    failed_deployments = [name for name, d in deployments.items() if d["status"] == "failed"]
    unhealthy = [(name, d["health_status"]) for name, d in deployments.items()
                 if d["status"] == "completed" and str(d.get("health_status", "")).lower() not in HEALTHY]
    tasks = list(state["open_tasks"])
    errors = [e for e in state["errors"]["recent"] if e["sequence"] > since]
    planned = [name for name, e in epics.items() if e["status"] == "planned"]
    checkpoint = state["checkpoints"]["latest"] or {}
    validation = epic.get("validation") or {}
    last_test_status = newest_test.get("status") if newest_test else None
    blockers = (len(failed_deployments) + len(tasks) + (last_test_status == "failed")
                + (validation.get("status") == "failed"))
    return {
        "has_work": state["last_work_event_type"] is not None, "instance_state": state["state"],
        "last_epic": last_epic, "last_epic_status": epic["status"],
        "feature_suffix": f" ({epic['feature_name']})" if epic.get("feature_name") else "",
        "epic_error_suffix": f": {epic['error']}" if epic.get("error") else "",
        "tests_passed": passed, "tests_total": total, "tests_failed": total - passed,
        "last_test_status": last_test_status,
        "failing_suffix": f" ({', '.join(failing[:3])})" if failing else "",
        "validation_status": validation.get("status"),
        "prd_updated": prd is not None and prd["sequence"] > since and (
            last_epic is None or prd.get("epic_id") in (None, last_epic)),
        "open_prs": len(open_prs), "first_open_pr": open_prs[0] if open_prs else None,
        "failed_deployments": len(failed_deployments),
        "failed_deployment": failed_deployments[0] if failed_deployments else None,
        "unhealthy_deployments": len(unhealthy),
        "unhealthy_deployment": unhealthy[0][0] if unhealthy else None,
        "unhealthy_status": unhealthy[0][1] if unhealthy else None,
        "open_tasks": len(tasks), "open_task_ids": ", ".join(tasks[:5]),
        "errors_in_epic": len(errors), "last_error": errors[-1]["message"] if errors else None,
        "checkpoint_id": checkpoint.get("checkpoint_id"),
        "checkpoint_kind": (checkpoint.get("event_type") or "_").rpartition("_")[2] or None,
        "context_percent": (state["context"] or {}).get("percent_used"),
        "next_planned": planned[0] if planned else None,
        "next_planned_suffix": f": {planned[0]}" if planned else "",
        "blockers": blockers,
    }


def summary(state: State, rules: tuple[Rule, ...] = RULES) -> dict[str, Any]:
    """Where the instance stands, what finished, what failed, what is open, the next steps and
    the sentence. Never raises for a state the reducer made."""
    facts = facts_of(state)
    matched = [rule for rule in rules if applies(rule, facts)]
    words = [_fill(rule.says, facts) for rule in matched if rule.says]
    steps = [_fill(rule.suggests, facts) for rule in matched if rule.suggests]
    return {
        "instance_id": state["instance_id"], "project": state["project"], "state": state["state"],
        "sequence_num": state["sequence"], "latest_timestamp": state["latest_timestamp"],
        "last_event_type": state["last_event_type"], "last_heartbeat": state["last_heartbeat"],
        "where": {"last_epic": facts["last_epic"], "epic_status": facts["last_epic_status"],
                  "tests_passed": facts["tests_passed"], "tests_total": facts["tests_total"],
                  "checkpoint_id": facts["checkpoint_id"], "context_percent": facts["context_percent"]},
        "finished": _finished(state), "failed": _failed(state), "open": _open(state),
        "next_steps": steps, "sentence": " ".join(words), "rules": [rule.name for rule in matched],
    }


def _fill(template: str, facts: dict[str, Any]) -> str:
    return template.format_map(facts)


def _finished(state: State) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        {"kind": "epic", "id": name, **_some(e, "finished_at", "duration_hours", "pr_url")}
        for name, e in state["epics"].items() if e["status"] == "completed"]
    items += [{"kind": "pr", "id": url} for url, pr in state["prs"].items() if pr["status"] == "merged"]
    items += [{"kind": "deployment", "id": name, **_some(d, "health_status", "port")}
              for name, d in state["deployments"].items() if d["status"] == "completed"]
    return items[-LISTED:]


def _failed(state: State) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [{"kind": "epic", "id": name, **_some(e, "error", "failed_step")}
                                   for name, e in state["epics"].items() if e["status"] == "failed"]
    for name, epic in state["epics"].items():
        for test_type, result in epic["tests"].items():
            if result.get("status") == "failed":
                items.append({"kind": "tests", "id": name, "test_type": test_type,
                              **_some(result, "failed", "total", "failing_tests")})
        if (epic.get("validation") or {}).get("status") == "failed":
            items.append({"kind": "validation", "id": name, **_some(epic["validation"], "reason")})
    items += [{"kind": "deployment", "id": name, **_some(d, "error")}
              for name, d in state["deployments"].items() if d["status"] == "failed"]
    items += [{"kind": "error", "id": str(e["sequence"]), "message": e["message"]}
              for e in state["errors"]["recent"][-3:]]
    return items[-LISTED:]


def _open(state: State) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [{"kind": "epic", "id": name, "status": e["status"]}
                                   for name, e in state["epics"].items() if e["status"] in ("started", "planned")]
    items += [{"kind": "task", "id": task, **_some(info, "epic_id", "description")}
              for task, info in state["open_tasks"].items()]
    items += [{"kind": "pr", "id": url} for url, pr in state["prs"].items() if pr["status"] == "open"]
    return items[-LISTED:]


def _some(source: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: source[name] for name in names if source.get(name) is not None}

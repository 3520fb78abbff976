"""Resume: one case per rule of the table, with the sentence it produces, including the plan's
own "Epic complete! 5/8 tests passed. PRD updated. Ready for next epic.", and a check that
every rule of the table has its case here."""

from __future__ import annotations

import pytest

from chronik.domains.sessions import service
from chronik.domains.sessions.resume import RULES

E3 = {"epic_id": "epic-003", "feature_name": "authentication-oauth"}

# rule name -> (events to emit, the sentence, a next step that must be suggested or None)
CASES = {
    "nothing_recorded": ([], "Nothing recorded yet.", "Emit epic_started when work on an epic begins."),
    "instance_closed": ([("close", {})], "Instance closed.", "Register a new instance to continue this work."),
    "epic_failed": ([("epic_started", E3), ("epic_failed", {"epic_id": "epic-003", "error": "CORS blocked"})],
                    "Epic epic-003 failed: CORS blocked.",
                    "Find why epic-003 failed, fix it and start it again (epic_started)."),
    "epic_complete": ([("epic_started", E3), ("epic_completed", {"epic_id": "epic-003"})],
                      "Epic complete! Ready for next epic.", "Update the PRD for epic-003."),
    "epic_in_progress": ([("epic_started", E3)], "Epic epic-003 in progress.",
                         "Continue epic-003 (authentication-oauth)."),
    "tests_counted": ([("epic_started", E3), ("test_passed", {"epic_id": "epic-003", "passed_count": 45,
                                                              "test_type": "unit"}),
                       ("test_passed", {"epic_id": "epic-003", "passed_count": 8, "failed_count": 2,
                                        "test_type": "e2e"})],
                      "Epic epic-003 in progress. 53/55 tests passed.", None),
    "tests_failing": ([("epic_started", E3), ("test_failed", {"epic_id": "epic-003", "passed_count": 3,
                                                              "failed_count": 2, "failing_tests": ["t_login"]})],
                      "Epic epic-003 in progress. 3/5 tests passed. Tests failing.",
                      "Fix the 2 failing tests of epic-003 (t_login)."),
    "tests_running": ([("epic_started", E3), ("test_started", {"epic_id": "epic-003", "test_type": "unit"})],
                      "Epic epic-003 in progress. Tests running.",
                      "Check the result of the test run of epic-003."),
    "validation_failed": ([("epic_started", E3), ("validation_failed", {"epic_id": "epic-003",
                                                                        "reason": "2 criteria unmet"})],
                          "Epic epic-003 in progress. Validation failed.",
                          "Address what failed the validation of epic-003."),
    "prd_updated": ([("epic_started", E3), ("epic_completed", {"epic_id": "epic-003"}),
                     ("prd_updated", {"epic_id": "epic-003"})],
                    "Epic complete! PRD updated. Ready for next epic.", "Start the next epic."),
    "prd_pending": ([("epic_started", E3), ("epic_completed", {"epic_id": "epic-003"})],
                    "Epic complete! Ready for next epic.", "Update the PRD for epic-003."),
    "deployment_failed": ([("deployment_failed", {"service": "supervisor-mcp", "error": "port in use"})],
                          "Deployment of supervisor-mcp failed.", "Fix and redeploy supervisor-mcp."),
    "deployment_unhealthy": ([("deployment_done", {"service": "supervisor-mcp", "port": 8081,
                                                   "health_status": "degraded"})],
                             "supervisor-mcp is degraded.", "Check the health of supervisor-mcp."),
    "pr_open": ([("pr_created", {"pr_url": "https://github.com/project/pull/123"})], "PR open.",
                "Get https://github.com/project/pull/123 reviewed and merged."),
    "tasks_open": ([("task_spawned", {"task_id": "task-7", "epic_id": "epic-009"})],
                   "1 spawned task(s) not finished.", "Check on the spawned tasks: task-7."),
    "errors_in_epic": ([("epic_started", E3), ("error", {"message": "token refresh failed"})],
                       "Epic epic-003 in progress. 1 error(s) since it started.",
                       "Look at the last error: token refresh failed."),
    "checkpoint_to_load": ([("epic_started", E3), ("checkpoint_created", {"checkpoint_id": "cp-12"})],
                           "Epic epic-003 in progress.", "Resume from checkpoint cp-12 (then emit checkpoint_loaded)."),
    "context_high": ([("context_window_updated", {"percent_used": 91})], "Context window 91% full.",
                     "Save a checkpoint before the context runs out."),
    "ready_for_next": ([("epic_planned", {"epic_id": "epic-004"}), ("epic_started", E3),
                        ("epic_completed", {"epic_id": "epic-003"})],
                       "Epic complete! Ready for next epic.", "Start the next epic: epic-004."),
    "planned_next": ([("epic_planned", {"epic_id": "epic-004"})], "Epic epic-004 planned.", "Start epic-004."),
    "no_epic_yet": ([("user_message", {"content": "hi"})], "", "Emit epic_started for the epic you are working on."),
}


def resumed(ledger, events):
    instance = service.register(ledger, "odin").instance_id
    for event_type, data in events:
        if event_type == "close":
            service.close(ledger, instance)
        else:
            service.emit(ledger, instance, event_type, data)
    return service.resume(ledger, instance)


def test_every_rule_has_a_case():
    assert set(CASES) == {rule.name for rule in RULES}


@pytest.mark.parametrize("rule", list(CASES))
def test_rule(ledger, rule):
    events, sentence, step = CASES[rule]
    summary = resumed(ledger, events)
    assert rule in summary["rules"]
    assert summary["sentence"] == sentence
    if step is not None:
        assert step in summary["next_steps"]


def test_the_plans_own_sentence(ledger):
    summary = resumed(ledger, [
        ("epic_started", {**E3, "estimated_hours": 60}),
        ("test_passed", {"epic_id": "epic-003", "test_type": "unit", "passed_count": 5, "failed_count": 3}),
        ("epic_completed", {"epic_id": "epic-003", "duration_hours": 58.5, "files_changed": 23}),
        ("prd_updated", {"epic_id": "epic-003", "prd_version": "1.4"}),
    ])
    assert summary["sentence"] == "Epic complete! 5/8 tests passed. PRD updated. Ready for next epic."
    assert summary["where"] == {"last_epic": "epic-003", "epic_status": "completed", "tests_passed": 5,
                                "tests_total": 8, "checkpoint_id": None, "context_percent": None}
    assert summary["finished"][0]["kind"] == "epic" and summary["finished"][0]["id"] == "epic-003"
    assert summary["failed"] == [] and summary["open"] == []


def test_without_events_the_plans_gap_is_visible(ledger):
    # The plan's "Continue testing" case: only commands were logged, no epic events.
    summary = resumed(ledger, [("tool_use", {"tool_name": "pytest"})])
    assert summary["sentence"] == "" and summary["rules"] == ["no_epic_yet"]


def test_the_summary_lists_what_finished_failed_and_is_open(ledger):
    summary = resumed(ledger, [
        ("epic_started", {"epic_id": "epic-001", "feature_name": "a"}), ("epic_completed", {"epic_id": "epic-001"}),
        ("epic_started", {"epic_id": "epic-002", "feature_name": "b"}),
        ("epic_failed", {"epic_id": "epic-002", "error": "timeout"}),
        ("pr_created", {"pr_url": "u1"}), ("pr_merged", {"pr_url": "u1"}), ("pr_created", {"pr_url": "u2"}),
        ("task_spawned", {"task_id": "t1"}), ("task_spawned", {"task_id": "t2"}),
        ("tool_result", {"tool_name": "agent", "task_id": "t1"}),
        ("epic_started", {"epic_id": "epic-003", "feature_name": "c"}),
    ])
    assert {(i["kind"], i["id"]) for i in summary["finished"]} == {("epic", "epic-001"), ("pr", "u1")}
    assert ("epic", "epic-002") in {(i["kind"], i["id"]) for i in summary["failed"]}
    assert {(i["kind"], i["id"]) for i in summary["open"]} == {("epic", "epic-003"), ("task", "t2"), ("pr", "u2")}

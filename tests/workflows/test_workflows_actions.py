"""One test per action and one per illegal transition: each action changes the state as the
original's reducer did (with chronik's fixes), and an illegal one is refused at append time with
an error naming the state, writing nothing."""

from __future__ import annotations

import pytest
from workflow_testing import RELEASE

from chronik.domains.workflows import service
from chronik.domains.workflows.events import stream_of
from chronik.errors import NotFound, ValidationError


def started(ledger, workflow_id="wf-1", definition=RELEASE):
    service.start(ledger, definition, workflow_id)
    return workflow_id


def state(ledger, workflow_id="wf-1"):
    return service.state(ledger, workflow_id)


def test_start_workflow_is_initialized_with_its_definition_and_first_step(ledger):
    recorded = service.start(ledger, RELEASE, "wf-1", started_by="ann")
    assert (recorded.version, recorded.status) == (1, "initialized")
    found = state(ledger)
    assert found["current_step"] == "build" and found["definition"]["name"] == "release"
    assert found["started_at"] == "2026-11-22T08:01:00.000000Z"


def test_complete_step_advances_and_opens_the_gate_after_it(ledger):
    started(ledger)
    service.record(ledger, "wf-1", "complete_step", step_id="build", result={"artifact": "x.tar"})
    found = state(ledger)
    assert found["status"] == "running" and found["steps_completed"] == ["build"]
    assert found["current_step"] == "review" and found["gates"]["review"]["status"] == "pending"
    assert found["results"] == {"build": {"artifact": "x.tar"}}


def test_last_step_completes_the_workflow(ledger):
    started(ledger)
    service.record(ledger, "wf-1", "complete_step", step_id="build")
    service.record(ledger, "wf-1", "approve_gate", gate_id="review", approver="ann", role="lead")
    assert service.record(ledger, "wf-1", "complete_step", step_id="deploy").status == "completed"
    assert state(ledger)["finished_at"] is not None


def test_complete_step_without_next_step_never_completes_by_accident(ledger):
    service.start(ledger, None, "adhoc", name="ad hoc")
    assert service.record(ledger, "adhoc", "complete_step", step_id="one").status == "running"
    assert service.record(ledger, "adhoc", "complete_step", step_id="two", next_step="three").status == "running"
    assert state(ledger, "adhoc")["current_step"] == "three"
    assert service.record(ledger, "adhoc", "complete_step", step_id="three", final=True).status == "completed"


def test_fail_step_records_the_error(ledger):
    started(ledger)
    assert service.record(ledger, "wf-1", "fail_step", step_id="build", error="disk full").status == "failed"
    found = state(ledger)
    assert found["failed_step"] == "build" and found["errors"][0]["error"] == "disk full"


def test_approve_gate_records_approver_and_role(ledger):
    started(ledger)
    service.record(ledger, "wf-1", "complete_step", step_id="build")
    service.record(ledger, "wf-1", "approve_gate", gate_id="review", approver="ann", role="lead", comment="ok")
    gate = state(ledger)["gates"]["review"]
    assert (gate["status"], gate["approver"], gate["role"], gate["comment"]) == ("approved", "ann", "lead", "ok")
    assert state(ledger)["current_step"] == "deploy"


def test_reject_gate_rejects_the_workflow(ledger):
    started(ledger)
    service.record(ledger, "wf-1", "complete_step", step_id="build")
    recorded = service.record(ledger, "wf-1", "reject_gate", gate_id="review", approver="bob", reason="no tests")
    assert recorded.status == "rejected"
    assert state(ledger)["gates"]["review"]["reason"] == "no tests"


def test_pause_and_resume_return_to_the_status_before(ledger):
    started(ledger)
    assert service.record(ledger, "wf-1", "pause_workflow", reason="freeze").status == "paused"
    assert service.record(ledger, "wf-1", "resume_workflow").status == "initialized"


def test_rollback_step_makes_it_current_again(ledger):
    started(ledger)
    service.record(ledger, "wf-1", "complete_step", step_id="build")
    service.record(ledger, "wf-1", "rollback_step", step_id="build", reason="bad artifact")
    found = state(ledger)
    assert found["steps_completed"] == [] and found["current_step"] == "build"
    assert found["rollbacks"][0]["reason"] == "bad artifact"


def test_cancel_workflow_records_who_and_why(ledger):
    started(ledger)
    cancelled = service.cancel(ledger, "wf-1", reason="obsolete", cancelled_by="ann")
    assert cancelled.totals["workflows_cancelled"] == 1 and cancelled.workflows[0].steps_interrupted == 1
    found = state(ledger)
    assert found["status"] == "cancelled" and found["cancellation"]["cancelled_by"] == "ann"


def test_retry_step_counts_attempts_up_to_max_retries(ledger):
    started(ledger)
    for attempt in (1, 2):
        service.record(ledger, "wf-1", "fail_step", step_id="build", error="flaky")
        recorded = service.retry(ledger, "wf-1", "build", max_retries=2, backoff_delay=0.5 * attempt)
        assert recorded.status == "running"
    assert state(ledger)["retries"] == {"build": 2}
    service.record(ledger, "wf-1", "fail_step", step_id="build", error="flaky")
    with pytest.raises(ValidationError) as refused:
        service.retry(ledger, "wf-1", "build", max_retries=2)
    assert refused.value.field == "retry_attempt" and "past max_retries 2" in refused.value.problem


def test_start_child_links_both_streams(ledger):
    started(ledger)
    recorded = service.start_child(ledger, "wf-1", "wf-1.a", RELEASE)
    assert recorded.also == {"wf-1": 2}
    assert state(ledger)["children"]["wf-1.a"]["status"] == "running"
    assert state(ledger, "wf-1.a")["parent_workflow_id"] == "wf-1"


def test_child_completion_is_recorded_on_its_parent(ledger):
    started(ledger)
    service.start_child(ledger, "wf-1", "wf-1.a", {"name": "one", "steps": [{"id": "only"}]})
    recorded = service.record(ledger, "wf-1.a", "complete_step", step_id="only")
    assert recorded.status == "completed" and recorded.also == {"wf-1": 3}
    assert state(ledger)["children"]["wf-1.a"]["status"] == "completed"
    last = list(ledger.read_stream(stream_of("wf-1")))[-1]
    assert (last.type, last.data["status"]) == ("child_workflow_complete", "completed")


def test_create_snapshot_is_a_marker_that_saves_and_changes_nothing(ledger):
    started(ledger)
    before = state(ledger)
    service.record(ledger, "wf-1", "create_snapshot", reason="audit")
    after = state(ledger)
    assert {**after, "version": 0} == {**before, "version": 0}
    replayed = ledger.replay(stream_of("wf-1"), service.WORKFLOW_REDUCER)
    assert replayed.from_snapshot == 2


def test_annotate_and_capture_insight_are_kept_in_any_status(ledger):
    started(ledger)
    service.cancel(ledger, "wf-1", reason="x", cancelled_by="ann")
    service.record(ledger, "wf-1", "annotate", text="post mortem", author="ann")
    service.record(ledger, "wf-1", "capture_insight", insight="cache the deps", category="speed", step_id="build")
    found = state(ledger)
    assert found["annotations"][0]["text"] == "post mortem"
    assert found["insights"][0]["insight"] == "cache the deps" and found["insights"][0]["category"] == "speed"


# ---------------------------------------------------------------- illegal transitions


def _cancelled(ledger):
    started(ledger)
    service.cancel(ledger, "wf-1", reason="x", cancelled_by="ann")


def _completed(ledger):
    started(ledger, definition={"name": "one", "steps": [{"id": "only"}]})
    service.record(ledger, "wf-1", "complete_step", step_id="only")


def _gate_open(ledger):
    started(ledger)
    service.record(ledger, "wf-1", "complete_step", step_id="build")


ILLEGAL = [
    ("complete a step of a cancelled workflow", _cancelled, "complete_step", {"step_id": "build"},
     "action", "is cancelled"),
    ("approve a gate that is not pending", started, "approve_gate", {"gate_id": "review", "approver": "a"},
     "gate_id", "not open, not pending"),
    ("approve a gate twice", lambda lg: (_gate_open(lg), service.record(lg, "wf-1", "approve_gate", gate_id="review",
                                                                          approver="a")),
     "approve_gate", {"gate_id": "review", "approver": "b"}, "gate_id", "approved, not pending"),
    ("reject a gate that is not pending", started, "reject_gate", {"gate_id": "review", "approver": "a"},
     "gate_id", "not open"),
    ("resume a workflow that is not paused", started, "resume_workflow", {}, "action", "not paused"),
    ("pause a paused workflow", lambda lg: (started(lg), service.record(lg, "wf-1", "pause_workflow")),
     "pause_workflow", {}, "action", "is paused"),
    ("complete a step of a completed workflow", _completed, "complete_step", {"step_id": "other"},
     "action", "is completed"),
    ("complete a step that is not current", started, "complete_step", {"step_id": "deploy"},
     "step_id", "not the current step"),
    ("complete a gate step", _gate_open, "complete_step", {"step_id": "review"}, "step_id", "is a gate"),
    ("complete a step twice", lambda lg: (service.start(lg, None, "wf-1", name="n"),
                                          service.record(lg, "wf-1", "complete_step", step_id="a")),
     "complete_step", {"step_id": "a"}, "step_id", "already completed"),
    ("complete a failed step without retry", lambda lg: (started(lg), service.record(
        lg, "wf-1", "fail_step", step_id="build", error="e")), "complete_step", {"step_id": "build"},
     "action", "is failed"),
    ("retry a workflow that did not fail", started, "retry_step", {"step_id": "build", "retry_attempt": 1},
     "action", "not failed"),
    ("rollback a step not completed", started, "rollback_step", {"step_id": "build", "reason": "r"},
     "step_id", "not completed"),
    ("start a child of a cancelled workflow", _cancelled, "start_child_workflow", {"child_workflow_id": "c"},
     "action", "is cancelled"),
    ("report an unknown child", started, "child_workflow_complete", {"child_workflow_id": "c", "status": "completed"},
     "child_workflow_id", "not a child"),
    ("fail a step of a rejected workflow", lambda lg: (_gate_open(lg), service.record(
        lg, "wf-1", "reject_gate", gate_id="review", approver="a")), "fail_step", {"step_id": "deploy", "error": "e"},
     "action", "is rejected"),
]


@pytest.mark.parametrize(("title", "setup", "action", "fields", "field", "words"), ILLEGAL, ids=[i[0] for i in ILLEGAL])
def test_illegal_transition_is_refused_naming_the_state(ledger, title, setup, action, fields, field, words):
    setup(ledger)
    before = ledger.head().position
    with pytest.raises(ValidationError) as refused:
        if action == "start_child_workflow":
            service.start_child(ledger, "wf-1", fields["child_workflow_id"])
        else:
            service.record(ledger, "wf-1", action, **fields)
    assert refused.value.field == field and words in refused.value.problem, refused.value
    assert ledger.head().position == before  # nothing written


def test_cancelling_a_cancelled_workflow_or_starting_twice_is_refused(ledger):
    _cancelled(ledger)
    with pytest.raises(ValidationError, match="is cancelled: it cannot be cancelled"):
        service.cancel(ledger, "wf-1", reason="again", cancelled_by="bob")
    with pytest.raises(ValidationError, match="already exists"):
        service.start(ledger, RELEASE, "wf-1")


def test_actions_on_a_missing_workflow_and_bad_fields(ledger):
    with pytest.raises(NotFound):
        service.record(ledger, "nope", "pause_workflow")
    started(ledger)
    with pytest.raises(ValidationError) as bad:
        service.record(ledger, "wf-1", "fail_step", step_id="build")
    assert bad.value.field == "error" and "missing" in bad.value.problem
    with pytest.raises(ValidationError) as naive:
        service.record(ledger, "wf-1", "annotate", text="t", occurred_at="2026-01-01T10:00:00")
    assert naive.value.field == "occurred_at"
    with pytest.raises(ValidationError) as unknown:
        service.record(ledger, "wf-1", "annotate", text="t", colour="red")
    assert "colour" in str(unknown.value)


def test_an_illegal_event_written_by_other_means_is_recorded_as_refused_not_folded(ledger):
    from chronik.model import NewEvent

    _cancelled(ledger)
    ledger.append(stream_of("wf-1"), [NewEvent("complete_step", {"step_id": "build"})])
    found = state(ledger)
    assert found["status"] == "cancelled" and found["steps_completed"] == []
    assert found["refused"] == [{"version": 3, "action": "complete_step", "field": "action",
                                 "problem": "workflow 'wf-1' is cancelled: complete_step needs a running workflow"}]


def test_a_malformed_event_written_by_other_means_is_refused_not_a_crash(ledger):
    from chronik.model import NewEvent

    started(ledger)
    ledger.append(stream_of("wf-1"), [NewEvent("complete_step", {"result": 1}),
                                       NewEvent("approve_gate", {"gate_id": ["not", "text"]})])
    found = state(ledger)
    assert found["steps_completed"] == [] and found["status"] == "initialized"
    assert [(item["version"], item["field"]) for item in found["refused"]] == [(2, "data"), (3, "data")]
    assert found["refused"][0]["problem"].startswith("malformed complete_step: KeyError")

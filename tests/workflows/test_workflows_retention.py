"""Retention: the category `workflow` defaults to 90 days, and once `retention apply` has
archived a workflow's early events, its state (now, at an event, at a time), its history and
new writes stay right."""

from __future__ import annotations

from datetime import timedelta

from workflow_testing import RELEASE, START, SteppingClock

import chronik
from chronik.domains.workflows import service
from chronik.domains.workflows.reducer import fold
from chronik.lifecycle.retention import apply_retention, policy_of
from chronik.stores import open_store


def test_archived_early_events_keep_state_history_and_time_travel_right(tmp_path):
    with chronik.Ledger(open_store(f"sqlite:///{tmp_path / 'ledger.db'}"), clock=SteppingClock()) as ledger:
        service.start(ledger, RELEASE, "wf-old")
        assert policy_of(ledger, "workflow").max_age_s == 90 * 86_400
        service.record(ledger, "wf-old", "complete_step", step_id="build")
        for n in range(22):
            service.record(ledger, "wf-old", "annotate", text=f"note {n}")
        before_all = list(ledger.read_stream("workflow:wf-old"))
        expected = {version: fold(before_all[:version]) for version in (1, 2, 12, 24)}
        at_time = service.state(ledger, "wf-old", at=before_all[5].time)
        report = apply_retention(ledger, directory=str(tmp_path / "archive"), now=START + timedelta(days=100))
        assert (report.archived, report.removed) == (23, 23)  # the newest event stays live
        live = list(ledger.read_stream("workflow:wf-old"))
        assert live[0].version > 1  # the early events are archived, not live
        for version, state in expected.items():
            assert {**service.state(ledger, "wf-old", at_event=version), "version": 0} == {**state, "version": 0}
        assert service.state(ledger, "wf-old", at=before_all[5].time) == at_time
        assert [item["version"] for item in service.history(ledger, "wf-old")] == list(range(1, 25))
        recorded = service.record(ledger, "wf-old", "approve_gate", gate_id="review", approver="ann")
        assert recorded.version == 25 and service.state(ledger, "wf-old")["current_step"] == "deploy"

"""Racing writers in real processes: of six processes approving the same gate at once, exactly
one is recorded and the others are refused naming the gate's state (checked against the state
at append time, never folded)."""

from __future__ import annotations

import multiprocessing

from workflow_testing import RELEASE

import chronik
from chronik.domains.workflows import service
from chronik.errors import ValidationError

CTX = multiprocessing.get_context("fork")


def _approve(url: str, approver: str, barrier, results) -> None:
    with chronik.open_ledger(url) as ledger:
        barrier.wait()
        try:
            service.record(ledger, "wf", "approve_gate", gate_id="review", approver=approver)
            results.put((approver, "ok"))
        except ValidationError as refused:
            results.put((approver, refused.problem))


def test_one_of_six_racing_approvals_is_recorded(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with chronik.open_ledger(url) as ledger:
        service.start(ledger, RELEASE, "wf")
        service.record(ledger, "wf", "complete_step", step_id="build")
    barrier, results = CTX.Barrier(6), CTX.Queue()
    workers = [CTX.Process(target=_approve, args=(url, f"a{n}", barrier, results)) for n in range(6)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    winners = [who for who, outcome in outcomes if outcome == "ok"]
    assert len(winners) == 1, outcomes
    assert all("gate 'review' is approved, not pending" in outcome for _, outcome in outcomes if outcome != "ok")
    with chronik.open_ledger(url) as ledger:
        state = service.state(ledger, "wf")
        assert state["gates"]["review"]["approver"] == winners[0] and state["refused"] == []
        assert [item["action"] for item in service.history(ledger, "wf")].count("approve_gate") == 1

"""Cancellation cascades over three levels, depth first, in one atomic append, with the cleanup
counts recorded on each workflow; a child's end is reported to its parent."""

from __future__ import annotations

import pytest
from workflow_testing import RELEASE

from chronik.domains.workflows import service
from chronik.domains.workflows.events import stream_of
from chronik.errors import ConcurrencyError


def tree(ledger):
    """root -> a -> a1, a2 ; root -> b (completed) ; a2 with its gate open."""
    service.start(ledger, RELEASE, "root")
    service.record(ledger, "root", "complete_step", step_id="build")
    service.start_child(ledger, "root", "a", RELEASE)
    service.start_child(ledger, "root", "b", {"name": "one", "steps": [{"id": "only"}]})
    service.record(ledger, "b", "complete_step", step_id="only")
    service.start_child(ledger, "a", "a1", RELEASE)
    service.start_child(ledger, "a", "a2", RELEASE)
    service.record(ledger, "a2", "complete_step", step_id="build")


def test_cancel_cascades_depth_first_over_three_levels(ledger):
    tree(ledger)
    before = ledger.head().position
    cancelled = service.cancel(ledger, "root", reason="release abandoned", cancelled_by="ann")
    order = [(item.workflow_id, item.depth) for item in cancelled.workflows]
    assert order == [("a1", 2), ("a2", 2), ("a", 1), ("root", 0)]
    counts = {item.workflow_id: (item.steps_interrupted, item.gates_released, item.children_cancelled)
              for item in cancelled.workflows}
    assert counts == {"a1": (1, 0, 0), "a2": (0, 1, 0), "a": (1, 0, 2), "root": (0, 1, 1)}
    assert cancelled.totals == {"steps_interrupted": 2, "gates_released": 2, "children_cancelled": 3,
                                "workflows_cancelled": 4}
    # one atomic append: four events, consecutive positions
    written = list(ledger.read_all(after=before))
    assert [event.stream for event in written] == ["workflow:a1", "workflow:a2", "workflow:a", "workflow:root"]
    for workflow_id in ("root", "a", "a1", "a2"):
        assert service.state(ledger, workflow_id)["status"] == "cancelled"
    assert service.state(ledger, "b")["status"] == "completed"
    root = service.state(ledger, "root")
    assert root["children"] == {"a": {**root["children"]["a"], "status": "cancelled"},
                                "b": {**root["children"]["b"], "status": "completed"}}
    assert root["gates"]["review"]["status"] == "released"
    assert service.state(ledger, "a1")["cancellation"]["cascaded_from"] == "root"
    assert root["cancellation"]["cleanup"] == {"steps_interrupted": 0, "gates_released": 1, "children_cancelled": 1}


def test_cancelling_a_child_reports_it_to_the_parent_in_the_same_append(ledger):
    tree(ledger)
    service.cancel(ledger, "a", reason="not needed", cancelled_by="bob")
    assert service.state(ledger, "root")["children"]["a"]["status"] == "cancelled"
    last = list(ledger.read_stream(stream_of("root")))[-1]
    assert (last.type, last.data) == ("child_workflow_complete", {"child_workflow_id": "a", "status": "cancelled"})


def test_a_cascade_that_loses_a_race_writes_nothing(ledger, monkeypatch):
    """When a descendant changes between planning and appending, no workflow is cancelled;
    the service plans again from the new states."""
    from chronik.domains.workflows import writes

    tree(ledger)
    calls = []
    real = ledger.append_many

    def racing(batches):
        if not calls:
            calls.append(1)
            service.record(ledger, "a1", "annotate", text="written meanwhile")
            with pytest.raises(ConcurrencyError):
                real(batches)
            assert service.state(ledger, "root")["status"] == "running"
            raise ConcurrencyError("workflow:a1", 1, 2)
        return real(batches)

    monkeypatch.setattr(ledger, "append_many", racing)
    assert writes.MAX_ATTEMPTS > 1
    cancelled = service.cancel(ledger, "root", reason="r", cancelled_by="ann")
    assert cancelled.totals["workflows_cancelled"] == 4 and calls == [1]

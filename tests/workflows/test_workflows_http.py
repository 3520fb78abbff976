"""The workflow routes under /v1/workflows and its page, through a real `chronik serve`."""

from __future__ import annotations

import sys
from pathlib import Path

from workflow_testing import RELEASE

import chronik
from chronik.domains.workflows import service

sys.path.insert(0, str(Path(__file__).parents[1] / "http"))
from http_server import Server  # noqa: E402


def test_workflow_routes_and_page_through_chronik_serve(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with chronik.open_ledger(url) as ledger:
        service.start(ledger, RELEASE, "wf-1")
        service.record(ledger, "wf-1", "complete_step", step_id="build")
        service.start_child(ledger, "wf-1", "wf-1.a", RELEASE)
    server = Server(url).wait_ready()
    try:
        with server.client() as client:
            listed = client.get("/v1/workflows/list", params={"status": "running"}).json()["workflows"]
            assert [item["workflow_id"] for item in listed] == ["wf-1"]
            approved = client.post("/v1/workflows/approve", params={"workflow_id": "wf-1", "gate_id": "review",
                                                                   "approver": "ann", "role": "lead"})
            assert approved.status_code == 200, approved.text
            assert approved.json()["status"] == "running"
            again = client.post("/v1/workflows/approve", params={"workflow_id": "wf-1", "gate_id": "review",
                                                                "approver": "bob"})
            assert again.status_code == 422 and again.json()["error"]["field"] == "gate_id"
            assert "approved, not pending" in again.json()["error"]["problem"]
            state = client.get("/v1/workflows/state", params={"workflow_id": "wf-1"}).json()
            assert state["gates"]["review"]["approver"] == "ann" and state["current_step"] == "deploy"
            at_two = client.get("/v1/workflows/state", params={"workflow_id": "wf-1", "at_event": "2"}).json()
            assert at_two["gates"]["review"]["status"] == "pending"
            events = client.get("/v1/workflows/events", params={"workflow_id": "wf-1", "limit": "2", "offset": "1",
                                                               "action": "complete_step"}).json()
            assert events["total"] == 1 and events["events"] == []
            assert client.get("/v1/workflows/replay", params={"workflow_id": "wf-1", "to_event": "1"}
                              ).json()["status"] == "initialized"
            csv_text = client.get("/v1/workflows/export", params={"workflow_id": "wf-1", "format": "csv"}).json()
            assert csv_text["content"].splitlines()[0] == "version,occurred_at,recorded_at,action,data,signed"
            pdf = client.get("/v1/workflows/export", params={"workflow_id": "wf-1", "format": "pdf"})
            assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
            assert pdf.content.startswith(b"%PDF-") and "workflow-wf-1.pdf" in pdf.headers["content-disposition"]
            assert client.post("/v1/workflows/annotate", params={"workflow_id": "wf-1", "text": "hi"}).status_code == 200
            cancelled = client.delete("/v1/workflows/cancel", params={"workflow_id": "wf-1", "reason": "stop",
                                                                   "cancelled_by": "ann"}).json()
            assert cancelled["totals"] == {"steps_interrupted": 2, "gates_released": 0, "children_cancelled": 1,
                                           "workflows_cancelled": 2}
            missing = client.delete("/v1/workflows/cancel", params={"workflow_id": "wf-1"})
            assert missing.status_code == 422 and missing.json()["error"]["field"] == "reason"
            unknown = client.get("/v1/workflows/state", params={"workflow_id": "no-such"})
            assert unknown.status_code == 404 and "no-such" in unknown.json()["error"]["message"]
            assert client.get("/v1/workflows/snapshots", params={"workflow_id": "wf-1"}).json() == {"snapshots": []}
            offered = client.get("/v1/reducers", params={"stream": "workflow:wf-1"}).json()["reducers"]
            assert offered[0]["name"] == "workflow"  # the stream page's time travel folds with it
            travelled = client.get("/v1/streams/workflow:wf-1/state", params={"reducer": "workflow", "version": "2"})
            assert travelled.status_code == 200, travelled.text
            assert travelled.json()["state"]["steps_completed"] == ["build"]
            page = client.get("/packs/workflow/list")
            assert page.status_code == 200 and "wf-1.a" in page.text and "cancelled" in page.text
            metrics = client.get("/metrics").text  # what the pack measures (chronik.domains.meters)
            assert 'chronik_workflows{status="cancelled"} 2.0' in metrics
            assert 'chronik_workflows{status="running"} 0.0' in metrics
            appends = _sample(metrics, "chronik_workflow_append_seconds_count")
            assert appends >= 3, "the approve, annotate and cancel writes were timed"
            assert _sample(metrics, "chronik_workflow_replay_seconds_count") > 0
            assert 'chronik_workflow_snapshots_total{outcome="created"}' in metrics
    finally:
        server.stop()


def _sample(metrics: str, name: str) -> float:
    line = next(line for line in metrics.splitlines() if line.startswith(name + " "))
    return float(line.split()[1])

"""What the workflows pack offers the web interfaces (chronik.domains.webkit): the original's
operations as `/v1/workflows/...` routes (GET reads; POST writes: the webkit mounts no DELETE,
so cancel is a POST), a page listing the workflows, and the workflow reducer for the time-travel
view of `workflow:ID` streams (its timeline, steps, gates and slider). Query parameters arrive
as text; they are converted here and checked by the service, which names the field."""

from __future__ import annotations

from typing import Any

from chronik.domains import meters, webkit
from chronik.domains.workflows import service
from chronik.domains.workflows.events import DEFAULT_MAX_RETRIES, STATUSES, STREAM_CATEGORY, stream_of
from chronik.domains.workflows.reducer import WORKFLOW_REDUCER
from chronik.errors import ValidationError
from chronik.ledger import Ledger


def _required(query: webkit.Query, field: str) -> str:
    value = query.get(field)
    if not value:
        raise ValidationError(field, "is missing", f"pass ?{field}=...")
    return value


def _int(query: webkit.Query, field: str, default: int | None) -> int | None:
    text = query.get(field)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ValidationError(field, f"{text!r} is not a whole number") from None


def _float(query: webkit.Query, field: str, default: float) -> float:
    text = query.get(field)
    try:
        return default if not text else float(text)
    except ValueError:
        raise ValidationError(field, f"{text!r} is not a number") from None


def list_json(ledger: Ledger, query: webkit.Query) -> dict[str, Any]:
    return {"workflows": service.workflows(ledger, query.get("status") or None)}


def state_json(ledger: Ledger, query: webkit.Query) -> dict[str, Any]:
    return service.state(ledger, _required(query, "workflow_id"), at_event=_int(query, "at_event", None),
                         at=query.get("at") or None)


def events_json(ledger: Ledger, query: webkit.Query) -> dict[str, Any]:
    return service.events_of(ledger, _required(query, "workflow_id"), _int(query, "limit", 100) or 0,
                             _int(query, "offset", 0) or 0, query.get("action") or None)


def export_json(ledger: Ledger, query: webkit.Query) -> dict[str, Any] | webkit.Binary:
    format = query.get("format", "json")
    workflow_id = _required(query, "workflow_id")
    if format == "pdf":  # the per-workflow audit report, as `chronik report --workflow ID` writes it
        return webkit.Binary(content=report_pdf_bytes(ledger, workflow_id), media_type="application/pdf",
                             filename=f"workflow-{workflow_id}.pdf")
    return {"format": format, "content": service.export(ledger, workflow_id, format)}


def report_pdf_bytes(ledger: Ledger, workflow_id: str) -> bytes:
    import tempfile
    from pathlib import Path

    from chronik.domains.workflows import report, report_pdf

    service.state(ledger, workflow_id)  # NotFound (404) before any rendering
    with tempfile.TemporaryDirectory(prefix="chronik-report-") as folder:
        target = str(Path(folder) / "report.pdf")
        report_pdf.render(report.gather(ledger, workflow_id=workflow_id), target)
        return Path(target).read_bytes()


def replay_json(ledger: Ledger, query: webkit.Query) -> dict[str, Any]:
    return service.state(ledger, _required(query, "workflow_id"), at_event=_int(query, "to_event", None))


def snapshots_json(ledger: Ledger, query: webkit.Query) -> dict[str, Any]:
    return {"snapshots": service.snapshots_of(ledger, _required(query, "workflow_id"))}


def annotate_json(ledger: Ledger, query: webkit.Query) -> Any:
    return service.record(ledger, _required(query, "workflow_id"), "annotate", text=_required(query, "text"),
                          author=query.get("author"), step_id=query.get("step_id"))


def cancel_json(ledger: Ledger, query: webkit.Query) -> Any:
    return service.cancel(ledger, _required(query, "workflow_id"), _required(query, "reason"),
                          _required(query, "cancelled_by"))


def retry_json(ledger: Ledger, query: webkit.Query) -> Any:
    return service.retry(ledger, _required(query, "workflow_id"), _required(query, "step_id"),
                         _int(query, "max_retries", DEFAULT_MAX_RETRIES) or 0, _float(query, "backoff_delay", 0.0))


def _gate(action: str, note: str) -> Any:
    def decide(ledger: Ledger, query: webkit.Query) -> Any:
        return service.record(ledger, _required(query, "workflow_id"), action, gate_id=_required(query, "gate_id"),
                              approver=_required(query, "approver"), role=query.get("role"),
                              **{note: query.get(note)})
    return decide


def list_page(ledger: Ledger) -> webkit.PageContent:
    listed = service.workflows(ledger)
    rows: list[list[Any]] = [[webkit.Link(item["workflow_id"], stream_of(item["workflow_id"])), item["name"] or "",
                              item["status"], item["current_step"] or "", item["parent_workflow_id"] or "",
                              item["events"]] for item in listed]
    return webkit.PageContent(
        summary=f"{len(rows)} workflow(s); open one for its timeline, steps and gates, and the time-travel slider.",
        tables=[webkit.Table(columns=["workflow", "name", "status", "current step", "parent", "events"], rows=rows)],
        notes=[] if rows else ["no workflows yet: `chronik workflow start ID -d DEFINITION` starts one"])


ID = ("workflow_id",)
def workflows_by_status(ledger: Ledger) -> dict[str, float]:
    """The `chronik_workflows` gauge: how many workflows are in each status now (every status
    listed, 0 included). It replays each workflow (from its snapshots): read at each scrape."""
    counted = dict.fromkeys(STATUSES, 0.0)
    for listed in service.workflows(ledger):
        counted[listed["status"]] += 1
    return counted


# /metrics (chronik serve) reads this gauge, and the append, replay and snapshot meters
# recorded by writes.py, through chronik.domains.meters.
meters.gauge("chronik_workflows", "Workflows by status", "status", workflows_by_status)


ROUTES = webkit.PackRoutes(routes=(
    webkit.PackRoute(path="list", call=list_json, query=("status",), summary="Every workflow with its status."),
    webkit.PackRoute(path="state", call=state_json, query=(*ID, "at_event", "at"),
                     summary="A workflow's state, now, after an event, or at a time (by occurred_at)."),
    webkit.PackRoute(path="events", call=events_json, query=(*ID, "limit", "offset", "action"),
                     summary="A page of a workflow's events."),
    webkit.PackRoute(path="export", call=export_json, query=(*ID, "format"), binary_types=("application/pdf",),
                     summary="A workflow's timeline as json or csv text, or its audit report as a PDF (format=pdf)."),
    webkit.PackRoute(path="replay", call=replay_json, query=(*ID, "to_event"),
                     summary="Replay a workflow (to an event number)."),
    webkit.PackRoute(path="snapshots", call=snapshots_json, query=ID, summary="A workflow's saved snapshots."),
    webkit.PackRoute(path="annotate", call=annotate_json, writes=True, query=(*ID, "text", "author", "step_id"),
                     summary="Add a note to a workflow."),
    webkit.PackRoute(path="cancel", call=cancel_json, writes=True, method="DELETE",
                     query=(*ID, "reason", "cancelled_by"),
                     summary="Cancel a workflow and its running children; returns the cleanup counts."),
    webkit.PackRoute(path="retry", call=retry_json, writes=True, query=(*ID, "step_id", "max_retries", "backoff_delay"),
                     summary="Retry the failed step (max_retries 3 by default)."),
    webkit.PackRoute(path="approve", call=_gate("approve_gate", "comment"), writes=True,
                     query=(*ID, "gate_id", "approver", "role", "comment"), summary="Approve a pending gate."),
    webkit.PackRoute(path="reject", call=_gate("reject_gate", "reason"), writes=True,
                     query=(*ID, "gate_id", "approver", "role", "reason"), summary="Reject a pending gate."),
))

PAGES = webkit.PackPages(
    pages=(webkit.PackPage(slug="list", title="Workflows", render=list_page),),
    reducers=(webkit.PackReducer(reducer=WORKFLOW_REDUCER, categories=(STREAM_CATEGORY,),
                                 summary="the workflow's status, steps, gates, retries and children after each event"),),
)

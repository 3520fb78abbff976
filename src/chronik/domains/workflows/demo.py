"""The `chronik demo` part of the workflows pack: a three-step release with an approval gate, a
failing step retried, a child workflow, and the audit report written as a PDF."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from chronik.domains.textout import write_line
from chronik.domains.workflows import service
from chronik.domains.workflows.report import gather
from chronik.errors import ValidationError
from chronik.ledger import Ledger

RELEASE = {"name": "release", "steps": [{"id": "build"}, {"id": "approve", "gate": True}, {"id": "deploy"}]}
MIGRATION = {"name": "db-migration", "steps": [{"id": "migrate"}]}


def show_demo(ledger: Ledger) -> str | None:
    """Record the demo workflow, print its story, write the PDF; the PDF's path (None when the
    reports extra is missing, which is then named)."""
    service.start(ledger, RELEASE, "release-42", started_by="ci")
    service.record(ledger, "release-42", "complete_step", step_id="build", result={"artifact": "app-1.4.tar"})
    service.start_child(ledger, "release-42", "release-42.db", MIGRATION)
    service.record(ledger, "release-42.db", "complete_step", step_id="migrate")
    service.record(ledger, "release-42", "approve_gate", gate_id="approve", approver="ann", role="release-manager")
    service.record(ledger, "release-42", "fail_step", step_id="deploy", error="timeout reaching the cluster")
    service.retry(ledger, "release-42", "deploy", backoff_delay=2.0)
    service.record(ledger, "release-42", "complete_step", step_id="deploy")
    for item in service.history(ledger, "release-42"):
        details = item["data"].get("step_id") or item["data"].get("gate_id") or item["data"].get(
            "child_workflow_id") or ""
        write_line(f"   {item['version']:>2}  {item['action']:<24} {details}".rstrip())
    state = service.state(ledger, "release-42")
    write_line(f"   release-42: {state['status']}, deploy retried {state['retries']['deploy']}x, "
               f"child release-42.db {state['children']['release-42.db']['status']}")
    earlier = service.state(ledger, "release-42", at_event=6)
    write_line(f"   at event 6 it was {earlier['status']}: step {earlier['failed_step']} had failed")
    folder = Path(tempfile.mkdtemp(prefix="chronik-demo-report-"))
    pdf = folder / "audit.pdf"
    # matplotlib keeps its font cache under $HOME unless told otherwise; the demo writes nothing
    # there (it leaves only its ledger and this report folder).
    previous = os.environ.get("MPLCONFIGDIR")
    os.environ["MPLCONFIGDIR"] = previous or str(folder / ".matplotlib")
    try:
        from chronik.domains.workflows.report_pdf import render

        render(gather(ledger, workflow_id="release-42"), str(pdf))
    except ValidationError as missing:
        shutil.rmtree(folder, ignore_errors=True)
        write_line(f"   PDF report: {missing.problem} ({missing.fix})")
        return None
    finally:
        if previous is None:
            del os.environ["MPLCONFIGDIR"]
    write_line(f"   PDF report: {pdf}")
    return str(pdf)

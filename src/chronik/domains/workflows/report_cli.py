"""`chronik report --pdf FILE`: the audit report (a top-level command; chronik.cli.main lists it).
One gathering call and one rendering call; the PDF needs the `chronik[reports]` extra."""

from __future__ import annotations

import click

from chronik.domains.clikit import json_option, open_ledger
from chronik.domains.textout import write_json_line, write_line
from chronik.domains.workflows import report as gathering


@click.command()
@click.option("--pdf", "pdf", required=True, help="The PDF file to write.")
@click.option("--since", "since", help="Only events since this time or age (e.g. 7d).")
@click.option("--category", "category", help="Only events of this stream category (e.g. workflow).")
@click.option("--workflow", "workflow_id", help="The per-workflow report: timeline, approvals, retries, signatures.")
@json_option
def report(pdf: str, since: str | None, category: str | None, workflow_id: str | None, json_output: bool) -> None:
    """Write an audit report as PDF: verification, activity, workflows by status, failures,
    gate decisions, retention and archives, the head hash (exit 3 when verification failed)."""
    from chronik.domains.workflows.report_pdf import render

    data = gathering.gather(open_ledger(read_only=True), since, category, workflow_id)
    render(data, gathering.check_pdf_target(pdf))
    if json_output:
        write_json_line({"pdf": pdf, "verified": data.verification.ok, "events": data.events,
                         "head_hash": data.head_hash})
    else:
        verdict = "verification passed" if data.verification.ok else (
            f"VERIFICATION FAILED at position {data.verification.first_bad_position}")
        write_line(f"wrote {pdf}: {data.events} events, {verdict}")
    if not data.verification.ok:
        raise SystemExit(3)

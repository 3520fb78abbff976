"""`chronik workflow`: start workflows, record their steps, gates, pauses, retries and
cancellations, and look at any past moment of one. Each command is one service call and
formatting; click parameters are named after the service's fields, so an error names the option.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
import msgspec

from chronik.domains.clikit import json_option, open_ledger
from chronik.domains.textout import one_line, write_error_line, write_json_line, write_line, write_table
from chronik.domains.workflows import service
from chronik.domains.workflows.events import DEFAULT_MAX_RETRIES, STATUSES
from chronik.errors import ValidationError


def _print_recorded(recorded: service.Recorded, json_output: bool) -> None:
    if json_output:
        write_json_line(recorded)
        return
    also = "".join(f", {wid} at event {version}" for wid, version in recorded.also.items())
    write_line(f"{recorded.workflow_id}: {recorded.action} recorded as event {recorded.version} "
               f"(status {recorded.status}{also})")


def _record(workflow_id: str, action: str, json_output: bool, **fields: Any) -> None:
    _print_recorded(service.record(open_ledger(), workflow_id, action, **fields), json_output)


@click.group(name="workflow")
def workflow() -> None:
    """Workflows: steps, gates, retries and cancellations as events; any past moment inspectable."""


@workflow.command()
@click.argument("workflow_id", required=False)
@click.option("-d", "--definition", help="A .toml/.json definition file, or module:attribute of a Python one.")
@click.option("--name", help="A name (the definition's when omitted).")
@click.option("--parent", "parent_id", help="Start it as a child of this workflow.")
@click.option("--by", "started_by", help="Who started it.")
@json_option
def start(workflow_id: str | None, definition: str | None, name: str | None, parent_id: str | None,
          started_by: str | None, json_output: bool) -> None:
    """Start a workflow (an id is made when WORKFLOW_ID is omitted)."""
    ledger = open_ledger()
    warning = service.warn_unsigned(ledger)
    if warning and not json_output:
        write_error_line(f"warning: {warning}")
    if parent_id is not None:
        if workflow_id is None:
            raise ValidationError("child_id", "is missing", "name the child workflow")
        recorded = service.start_child(ledger, parent_id, workflow_id, definition, name, started_by)
    else:
        recorded = service.start(ledger, definition, workflow_id, name, started_by)
    _print_recorded(recorded, json_output)


@workflow.command()
@click.argument("workflow_id")
@click.argument("step_id")
@click.option("--result", help="The step's result, as JSON.")
@click.option("--next", "next_step", help="The next step (workflows without a definition).")
@click.option("--final", is_flag=True, help="This step ends the workflow: it is completed.")
@json_option
def step(workflow_id: str, step_id: str, result: str | None, next_step: str | None, final: bool,
         json_output: bool) -> None:
    """Record that a step completed."""
    parsed = None
    if result is not None:
        try:
            parsed = json.loads(result)
        except json.JSONDecodeError as exc:
            raise ValidationError("result", f"is not JSON: {exc}", 'e.g. --result \'{"artifact": "x.tar"}\'') from None
    _record(workflow_id, "complete_step", json_output, step_id=step_id, result=parsed, next_step=next_step,
            final=final or None)


@workflow.command()
@click.argument("workflow_id")
@click.argument("step_id")
@click.option("--error", required=True, help="What went wrong.")
@click.option("--not-retryable", "not_retryable", is_flag=True, help="Retrying will not help.")
@json_option
def fail(workflow_id: str, step_id: str, error: str, not_retryable: bool, json_output: bool) -> None:
    """Record that a step failed (the workflow is failed until retried or cancelled)."""
    _record(workflow_id, "fail_step", json_output, step_id=step_id, error=error,
            retryable=False if not_retryable else None)


def _gate_command(action: str, note: str) -> Any:
    @click.argument("workflow_id")
    @click.argument("gate_id")
    @click.option("--approver", required=True, help="Who decided.")
    @click.option("--role", help="In which role.")
    @click.option(f"--{note}", note, help="Why (recorded with the decision).")
    @json_option
    def command(workflow_id: str, gate_id: str, approver: str, role: str | None, json_output: bool,
                **noted: str | None) -> None:
        _record(workflow_id, action, json_output, gate_id=gate_id, approver=approver, role=role, **noted)
    return command


workflow.command(name="approve", help="Approve a pending gate.")(_gate_command("approve_gate", "comment"))
workflow.command(name="reject", help="Reject a pending gate (the workflow is rejected).")(
    _gate_command("reject_gate", "reason"))


@workflow.command()
@click.argument("workflow_id")
@click.option("--reason")
@click.option("--by", "paused_by")
@json_option
def pause(workflow_id: str, reason: str | None, paused_by: str | None, json_output: bool) -> None:
    """Pause a running workflow."""
    _record(workflow_id, "pause_workflow", json_output, reason=reason, paused_by=paused_by)


@workflow.command()
@click.argument("workflow_id")
@click.option("--by", "resumed_by")
@json_option
def resume(workflow_id: str, resumed_by: str | None, json_output: bool) -> None:
    """Resume a paused workflow."""
    _record(workflow_id, "resume_workflow", json_output, resumed_by=resumed_by)


@workflow.command()
@click.argument("workflow_id")
@click.argument("step_id")
@click.option("--reason", required=True)
@json_option
def rollback(workflow_id: str, step_id: str, reason: str, json_output: bool) -> None:
    """Roll back a completed step (it becomes the current step again)."""
    _record(workflow_id, "rollback_step", json_output, step_id=step_id, reason=reason)


@workflow.command()
@click.argument("workflow_id")
@click.option("--reason", required=True)
@click.option("--by", "cancelled_by", required=True, help="Who cancels it.")
@json_option
def cancel(workflow_id: str, reason: str, cancelled_by: str, json_output: bool) -> None:
    """Cancel a workflow and its running children (depth first, one atomic append)."""
    cancelled = service.cancel(open_ledger(), workflow_id, reason, cancelled_by)
    if json_output:
        write_json_line(cancelled)
        return
    rows = [(item.workflow_id, item.depth, item.steps_interrupted, item.gates_released, item.children_cancelled)
            for item in cancelled.workflows]
    write_table(("WORKFLOW", "DEPTH", "STEPS INTERRUPTED", "GATES RELEASED", "CHILDREN CANCELLED"), rows,
                right_aligned=("DEPTH", "STEPS INTERRUPTED", "GATES RELEASED", "CHILDREN CANCELLED"))
    write_line(f"{cancelled.totals['workflows_cancelled']} workflow(s) cancelled")


@workflow.command()
@click.argument("workflow_id")
@click.argument("step_id")
@click.option("--max-retries", "max_retries", type=int, default=DEFAULT_MAX_RETRIES, show_default=True)
@click.option("--backoff-delay", "backoff_delay", type=float, default=0.0, help="Seconds waited before it.")
@json_option
def retry(workflow_id: str, step_id: str, max_retries: int, backoff_delay: float, json_output: bool) -> None:
    """Retry the failed step (its next attempt, up to --max-retries)."""
    _print_recorded(service.retry(open_ledger(), workflow_id, step_id, max_retries, backoff_delay), json_output)


@workflow.command()
@click.argument("workflow_id")
@click.argument("text")
@click.option("--author")
@click.option("--step", "step_id")
@json_option
def annotate(workflow_id: str, text: str, author: str | None, step_id: str | None, json_output: bool) -> None:
    """Add a note to a workflow (any status)."""
    _record(workflow_id, "annotate", json_output, text=text, author=author, step_id=step_id)


@workflow.command()
@click.argument("workflow_id")
@click.argument("insight")
@click.option("--category")
@click.option("--step", "step_id")
@json_option
def insight(workflow_id: str, insight: str, category: str | None, step_id: str | None, json_output: bool) -> None:
    """Capture an insight learned while running the workflow."""
    _record(workflow_id, "capture_insight", json_output, insight=insight, category=category, step_id=step_id)


@workflow.command()
@click.argument("workflow_id")
@click.option("--reason")
@json_option
def snapshot(workflow_id: str, reason: str | None, json_output: bool) -> None:
    """Record a create_snapshot marker: the state is saved at it (and is otherwise unchanged)."""
    _record(workflow_id, "create_snapshot", json_output, reason=reason)


@workflow.command()
@click.argument("workflow_id")
@click.option("--at-event", "at_event", type=int, help="The state after this event number.")
@click.option("--at", "at", help="The state at this time (RFC 3339 with offset, a date, or an age like 2h).")
@json_option
def show(workflow_id: str, at_event: int | None, at: str | None, json_output: bool) -> None:
    """A workflow's state, now or at a past moment."""
    found = service.state(open_ledger(read_only=True), workflow_id, at_event=at_event, at=at)
    if json_output:
        write_json_line(found)
        return
    write_line(f"workflow {found['workflow_id']} ({found['name']}) at event {found['version']}: {found['status']}")
    write_line(f"steps completed: {', '.join(found['steps_completed']) or '-'}; current: {found['current_step'] or '-'}")
    for gate_id, gate in found["gates"].items():
        who = f" by {gate['approver']}" + (f" ({gate['role']})" if gate.get("role") else "") if gate.get("approver") else ""
        write_line(f"gate {gate_id}: {gate['status']}{who}")
    for step_id, attempts in found["retries"].items():
        write_line(f"retries of {step_id}: {attempts}")
    for child_id, child in found["children"].items():
        write_line(f"child {child_id}: {child['status']}")
    for error in found["errors"]:
        write_line(f"error in {error['step_id']}: {one_line(error['error'])}")
    if found["cancellation"]:
        cancellation = found["cancellation"]
        write_line(f"cancelled by {cancellation['cancelled_by']}: {one_line(cancellation['reason'])}")


@workflow.command()
@click.argument("workflow_id")
@click.argument("a")
@click.argument("b")
@json_option
def diff(workflow_id: str, a: str, b: str, json_output: bool) -> None:
    """What changed between two points (event numbers, latest, at:TIME) and which events did it."""
    found = service.diff(open_ledger(read_only=True), workflow_id, a, b)
    if json_output:
        write_json_line(found)
        return
    for change in found["changes"]:
        causes = ", ".join(f"#{cause['version']} {cause['type']}" for cause in change.get("events", []))
        write_line(f"{change['path']}: {change['kind']} {one_line(json.dumps(change.get('old')))} -> "
                   f"{one_line(json.dumps(change.get('new')))}" + (f"  [{causes}]" if causes else ""))
    if not found["changes"]:
        write_line("no changes")


@workflow.command()
@click.argument("workflow_id")
@json_option
def history(workflow_id: str, json_output: bool) -> None:
    """A readable timeline of a workflow."""
    timeline = service.history(open_ledger(read_only=True), workflow_id)
    if json_output:
        for item in timeline:
            write_json_line(item)
        return
    rows = [(item["version"], item["occurred_at"], item["action"],
             one_line(" ".join(f"{key}={json.dumps(value)}" for key, value in item["data"].items())))
            for item in timeline]
    write_table(("#", "OCCURRED", "ACTION", "DETAILS"), rows, right_aligned=("#",))


@workflow.command(name="list")
@click.option("--status", type=click.Choice(STATUSES))
@json_option
def list_workflows(status: str | None, json_output: bool) -> None:
    """Every workflow with its status (optionally only one status)."""
    listed = service.workflows(open_ledger(read_only=True), status)
    if json_output:
        for item in listed:
            write_json_line(item)
        return
    write_table(("WORKFLOW", "NAME", "STATUS", "CURRENT STEP", "EVENTS"),
                [(i["workflow_id"], i["name"] or "", i["status"], i["current_step"] or "", i["events"]) for i in listed],
                right_aligned=("EVENTS",))


@workflow.command(name="import")
@click.argument("source")
@click.option("--legacy-key-file", "legacy_key_file", type=click.Path(dir_okay=False),
              help="The original's HMAC key (else $CHRONIK_WORKFLOW_LEGACY_KEY).")
@json_option
def import_legacy(source: str, legacy_key_file: str | None, json_output: bool) -> None:
    """Import the original system's events, verifying their HMAC-SHA256 signatures (exit 3 when
    any is refused; its workflow is not imported)."""
    report = service.import_legacy(open_ledger(), source, legacy_key_file)
    if json_output:
        write_json_line(report)
    else:
        write_line(f"imported {sum(report.imported.values())} events of {len(report.imported)} workflows "
                   f"({report.already_imported} already imported); signatures verified: {len(report.verified)}, "
                   f"unsigned: {len(report.unsigned)}, refused: {len(report.refused)}")
        for refused in report.refused:
            write_error_line(f"refused: event {refused.event_id} of workflow {refused.workflow_id}: {refused.reason}")
    if report.refused:
        sys.exit(3)


def _print_differences(differences: list[service.Difference], json_output: bool) -> None:
    for item in differences:
        if json_output:
            write_json_line(item)
        else:
            write_line(f"{item.workflow_id}: {item.field}: legacy {json.dumps(item.legacy, default=str)}, "
                       f"ledger {json.dumps(item.replayed, default=str)}")


@workflow.command()
@click.option("--from", "source", required=True, help="FILE.json, FILE.csv or postgresql://host/db?table=NAME.")
@click.option("--all", "all_rows", is_flag=True, help="Every row of the legacy table.")
@click.option("--id", "workflow_id", help="Only this workflow.")
@click.option("--dry-run", "dry_run", is_flag=True, help="Check and count, write nothing.")
@click.option("--validate-only", "validate_only", is_flag=True, help="Compare rows with the ledger, write nothing.")
@json_option
def backfill(source: str, all_rows: bool, workflow_id: str | None, dry_run: bool, validate_only: bool,
             json_output: bool) -> None:
    """Turn legacy state rows into the events that reproduce them (inconsistent rows are listed
    field by field and not imported; running it again imports nothing new)."""
    report = service.backfill(open_ledger(), source, all_rows, workflow_id, dry_run, validate_only)
    _print_differences(report.differences, json_output)
    if json_output:
        write_json_line({key: value for key, value in msgspec.to_builtins(report).items() if key != "differences"})
        return
    if report.mode == "validate_only":
        done = f"{report.rows - len(report.inconsistent)} match (in the ledger or as replayed)"
    else:
        verb = "would import" if report.mode == "dry_run" else "imported"
        done = f"{verb} {report.imported} workflows ({report.events} events)"
    write_line(f"{report.rows} rows: {done}; already imported {report.already_imported}; inconsistent "
               f"{len(report.inconsistent)} ({len(report.differences)} differences); live workflows left alone "
               f"{len(report.skipped_existing)}")


@workflow.command()
@click.option("--from", "source", required=True, help="FILE.json, FILE.csv or postgresql://host/db?table=NAME.")
@json_option
def shadow(source: str, json_output: bool) -> None:
    """Compare the legacy table with the ledger's state for every workflow (exit 3 on any
    discrepancy: suitable for cron)."""
    differences = service.shadow(open_ledger(read_only=True), source)
    _print_differences(differences, json_output)
    if not json_output:
        write_line(f"{len(differences)} discrepancies")
    if differences:
        sys.exit(3)


@workflow.command("mirror-legacy")
@click.option("--to", "target", required=True, help="FILE.json or postgresql://host/db?table=NAME.")
@click.option("--follow", is_flag=True, help="Keep the table current with new events until Ctrl-C.")
@json_option
def mirror_legacy(target: str, follow: bool, json_output: bool) -> None:
    """Keep the legacy state table current from the ledger (a projection: ledger first, table
    after, never behind its checkpoint); compare the two with `shadow`."""
    import signal
    import threading

    stop = threading.Event()
    if follow:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    report = service.mirror_legacy(open_ledger(), target, follow, stop)
    if json_output:
        write_json_line(msgspec.to_builtins(report))
        return
    write_line(f"mirrored {report.events} workflow events into {report.target} ({report.rows} row writes); "
               f"position {report.position} of head {report.head}")


@workflow.command()
@click.argument("definition", required=False)
@click.option("--id", "workflow_id", help="The new workflow's id (made when omitted).")
@click.option("--resume", "resume_id", help="Resume this workflow from the ledger instead of starting one.")
@click.option("--max-retries", "max_retries", type=int, default=DEFAULT_MAX_RETRIES, show_default=True)
@click.option("--poll", "poll_s", type=float, default=0.5, show_default=True,
              help="Seconds between looks for a gate decision or a resume.")
def run(definition: str | None, workflow_id: str | None, resume_id: str | None, max_retries: int,
        poll_s: float) -> None:
    """Run a definition's steps (shell commands or python:module:function), recording each;
    retries with backoff, waits at gates for approve/reject; --resume continues after a crash."""
    from chronik.domains.workflows.runner import RetryPolicy, Runner, RunSettings

    settings = RunSettings(max_retries=max_retries, poll_s=poll_s,
                           retry=RetryPolicy(attempts=max_retries + 1, base_delay_s=0.5, max_delay_s=30.0))
    runner = Runner(open_ledger(), settings, say=lambda text: write_line(text, flush=True))
    if resume_id is not None:
        state = runner.resume(resume_id)
    elif definition is None:
        raise ValidationError("definition", "is missing", "give a definition file, or --resume ID")
    else:
        state = runner.start(definition, workflow_id)
    if state["status"] != "completed":
        sys.exit(1)

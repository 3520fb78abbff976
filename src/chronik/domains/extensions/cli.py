"""`chronik ext`: extension status, history and lifecycle, on a chronik ledger or (with
--sindri [PATH]) a real Sindri status ledger. Each command is one service call and formatting.

Click parameters are named after the service's fields (`since`, `kinds`, `level`, `catalog`,
...), so the `chronik` group names the right option when the service rejects one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from chronik.domains.clikit import json_option, ledger_opener, open_ledger, pack_context
from chronik.domains.extensions import service
from chronik.domains.extensions.events import KINDS
from chronik.domains.extensions.reducer import Record
from chronik.domains.progress import progress_bar
from chronik.domains.textout import (
    one_line,
    write_error_line,
    write_json_line,
    write_line,
    write_table,
)

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_LOG_LIMIT = 50
MAX_ERROR_CHARS = 200
BAD_LINES_SHOWN = 3


def sindri_option(command: F) -> F:
    return click.option(
        "--sindri", "sindri_path", is_flag=False, flag_value=service.SINDRI_DEFAULT_PATH, default=None, metavar="[PATH]",
        help=f"Use a real Sindri status ledger instead of the chronik ledger [PATH: {service.SINDRI_DEFAULT_PATH}].")(command)


def backend(sindri_path: str | None, read_only: bool = False) -> service.Backend:
    return service.open_backend(sindri_path, ledger_opener(read_only))


def report_bad_lines(bad: Sequence[Any]) -> None:
    for line in bad[:BAD_LINES_SHOWN]:
        write_error_line(f"warning: line {line.line} skipped: {line.error}")
    if len(bad) > BAD_LINES_SHOWN:
        write_error_line(f"warning: {len(bad)} malformed lines skipped in all; see `chronik ext doctor`")


def record_dict(record: Record) -> dict[str, Any]:
    return {"event_id": record.id, "timestamp": record.at, "extension_name": record.name, "type": record.type,
            "state_before": record.state_before, "state_after": record.state_after, "event": record.fields}


def print_record(record: Record, json_output: bool, flush: bool = False) -> None:
    if json_output:
        write_json_line(record_dict(record), flush)
        return
    fields = record.fields
    detail = one_line(fields.get("error_message")) or (
        "" if fields.get("duration_secs") is None else f"{fields['duration_secs']}s")
    write_line(f"{record.at[:19].replace('T', ' ')}  {record.name:<20} {record.type:<21} "
               f"{record.state_before or 'none'} -> {record.state_after}  {detail}".rstrip(), flush)


@click.group("ext")
def ext() -> None:
    """Extensions (developer toolchains): what is installed, what failed, why and when.

    Events live in streams extension:NAME of the chronik ledger, or with --sindri [PATH] in a
    real Sindri v3 status ledger (read with Sindri's semantics, written in its line format under
    its lock, so both tools can share one file).
    """


@ext.command()
@click.argument("name", required=False)
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="With NAME: only the last N events.")
@click.option("--since", metavar="TIME", help="With NAME: only events at or after TIME (applied before --limit).")
@click.option("--all", "show_all", is_flag=True, help="Also show removed extensions.")
@sindri_option
@json_option
def status(name: str | None, limit: int | None, since: str | None, show_all: bool, sindri_path: str | None,
           json_output: bool) -> None:
    """The status of every extension, or NAME's timeline.

    Without NAME: one row per extension (state, version, since when, and the error of a failure),
    sorted by name; removed ones are hidden unless --all. An operation whose runner process died
    shows as 'interrupted'. With NAME: its status and events, oldest first.
    """
    if name is None:
        listing = service.list_statuses(backend(sindri_path, read_only=True), show_all)
        report_bad_lines(listing.bad_lines)
        if json_output:
            for row in listing.statuses:
                write_json_line(row)
        elif not listing.statuses:
            write_error_line("no extensions recorded")
        else:
            write_table(("NAME", "STATE", "VERSION", "SINCE (UTC)", "DURATION", "ERROR"),
                        [(r["name"], r["state"], r["version"], (r["since"] or "")[:19].replace("T", " "),
                          "" if r["duration_s"] is None else f"{r['duration_s']}s", one_line(r["error"]))
                         for r in listing.statuses])
        return
    found = service.timeline(backend(sindri_path, read_only=True), name, limit, since)
    report_bad_lines(found.bad_lines)
    current = found.status
    if json_output:
        write_json_line({"status": current, "events": [record_dict(r) for r in found.events]})
        return
    write_line(f"{name}: {current['state']} {current['version'] or ''} since {current['since']}".rstrip())
    if current.get("last_error"):
        write_line(f"last error ({current['last_error_at']}): {one_line(current['last_error'], MAX_ERROR_CHARS)}")
    if current.get("log_file"):
        write_line(f"log: {current['log_file']}")
    for record in found.events:
        print_record(record, False)


@ext.command("log")
@click.option("-e", "--extension", "names", multiple=True, metavar="NAME", help="Only this extension (repeatable).")
@click.option("-t", "--type", "kinds", multiple=True, type=click.Choice(list(KINDS)),
              help="Only this kind of event (repeatable).")
@click.option("-l", "--level", type=click.Choice(list(service.LEVEL_ORDER)),
              help="Only events at this level or worse (failures are errors, outdated is a warning).")
@click.option("--since", metavar="TIME", help="Only events at or after TIME (applied before -n).")
@click.option("--until", metavar="TIME", help="Only events at or before TIME.")
@click.option("-n", "--lines", "limit", type=click.IntRange(min=0), default=DEFAULT_LOG_LIMIT, show_default=True,
              help="The last N matching events (0: all).")
@click.option("--follow", "-f", is_flag=True, help="Then print new matching events as they are recorded "
              "(same filters; none skipped, even with equal timestamps); Ctrl-C exits 0.")
@sindri_option
@json_option
def log_command(names: tuple[str, ...], kinds: tuple[str, ...], level: str | None, since: str | None,
                until: str | None, limit: int, follow: bool, sindri_path: str | None, json_output: bool) -> None:
    """Extension events in ledger order, filtered like Sindri's log."""
    view = service.log(backend(sindri_path, read_only=True), service.log_filter(names, kinds, level, since, until),
                       limit or None)
    for record in view.records:
        print_record(record, json_output, flush=follow)
    report_bad_lines(view.bad_lines)
    if follow:
        try:
            for record in view.follow():
                print_record(record, json_output, flush=True)
        except KeyboardInterrupt:
            return


def lifecycle_command(operation: str) -> click.Command:
    @click.argument("name")
    @click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
    @click.option("--version", "version", metavar="V", help="The version to install or upgrade to.")
    @click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), metavar="SECONDS",
                  help="Stop the command after this long (recorded as failed).")
    @sindri_option
    @json_option
    def command(name: str, command: tuple[str, ...], version: str | None, timeout_s: float | None,
                sindri_path: str | None, json_output: bool) -> None:
        result = service.run_operation(backend(sindri_path), operation, name, list(command), version, timeout_s)
        if json_output:
            write_json_line(result)
        else:
            started = result["exit_code"] is not None
            how = f"exit code {result['exit_code']}" if started else result.get("error") or "did not start"
            write_line(f"{name}: {result['state']} {result.get('version') or ''} "
                       f"({how}, {result['duration_s']}s, log {result['log_file']})")
            if result.get("error") and started:
                write_line(f"error: {result['error']}")
        if not result["ok"]:
            sys.exit(130 if result.get("interrupted") == "SIGINT" else 1)

    command.__doc__ = (f"{operation.capitalize()} NAME by running COMMAND, and record it.\n\n"
                       f"Write the command after --: chronik ext {operation} NAME -- COMMAND ARGS... "
                       "Records the start, runs the command (output to a log file under the ledger's "
                       "directory), then records completion or failure with duration, exit code, log "
                       "path and the last lines of stderr. Exit 0 on success, 1 on failure.")
    return ext.command(operation, context_settings={"ignore_unknown_options": True})(command)


for _operation in service.OPERATIONS:
    lifecycle_command(_operation)


@ext.command()
@click.argument("names", nargs=-1)
@click.option("--catalog", "catalog", required=True, metavar="FILE", help="The extension catalog (TOML).")
@click.option("--workers", type=click.IntRange(min=1, max=32), default=4, show_default=True,
              help="Validation commands run at once.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              metavar="SECONDS", help="Per-command timeout.")
@sindri_option
@json_option
def verify(names: tuple[str, ...], catalog: str, workers: int, timeout_s: float, sindri_path: str | None,
           json_output: bool) -> None:
    """Run the catalog's validation commands for NAMES (default: every installed extension) and
    record validation_succeeded or validation_failed. Exit 1 when any failed."""
    results = service.verify(backend(sindri_path), catalog, list(names) or None, workers, timeout_s)
    for result in results:
        if json_output:
            write_json_line(result)
        else:
            write_line(f"{result['name']}: " + ("ok" if result["ok"] else
                                                 f"FAILED: {one_line(result['error'], MAX_ERROR_CHARS)}"))
    if any(not result["ok"] for result in results):
        sys.exit(1)


@ext.command()
@click.option("--catalog", "catalog", required=True, metavar="FILE", help="The extension catalog (TOML).")
@sindri_option
@json_option
def outdated(catalog: str, sindri_path: str | None, json_output: bool) -> None:
    """Compare installed versions with the catalog's latest_version; record outdated_detected."""
    found = service.outdated(backend(sindri_path), catalog)
    for item in found:
        if json_output:
            write_json_line(item)
        else:
            write_line(f"{item['name']}: {item['current_version']} -> {item['latest_version']}")
    if not found and not json_output:
        write_error_line("everything is up to date")


@ext.command()
@sindri_option
@json_option
def stats(sindri_path: str | None, json_output: bool) -> None:
    """Totals: events, oldest and newest timestamps, counts per event type."""
    result = service.stats(backend(sindri_path, read_only=True))
    if json_output:
        write_json_line(result)
        return
    counts = result.pop("event_type_counts")
    write_table(("FIELD", "VALUE"), result.items(), show_header=False)
    write_table(("TYPE", "EVENTS"), counts.items(), right_aligned=("EVENTS",), title="events per type")


@ext.command()
@click.option("--format", "format", type=click.Choice(["sindri", "json"]), default="sindri", show_default=True,
              help="sindri: Sindri ledger lines; json: a pretty JSON array of envelopes (Sindri's export).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write to FILE instead of stdout.")
@sindri_option
def export(format: str, output: str | None, sindri_path: str | None) -> None:
    """Export every extension event, in ledger order, in Sindri's format."""
    source = backend(sindri_path, read_only=True)
    if output is None:
        sys.stdout.flush()
        service.export(source, sys.stdout.buffer, format)
        return
    with click.open_file(output, "wb", atomic=True) as out:
        count = service.export(source, out, format)
    write_error_line(f"{count} events written to {output}")


@ext.command("import")
@click.option("--sindri", "sindri_path", is_flag=False, flag_value=service.SINDRI_DEFAULT_PATH, required=True,
              metavar="[PATH]", help=f"The Sindri ledger to import [PATH: {service.SINDRI_DEFAULT_PATH}].")
@json_option
def import_command(sindri_path: str, json_output: bool) -> None:
    """Import a Sindri ledger into the chronik ledger (ids and timestamps kept; re-importing the
    same file adds nothing; bad lines are reported and skipped)."""
    with progress_bar("importing", json_output) as progress:
        result = service.import_sindri(open_ledger(), sindri_path, progress)
    if json_output:
        write_json_line(result)
        return
    write_line(f"imported {result['imported']} events ({result['skipped_known']} already there)")
    for bad in result["bad_lines"]:
        write_error_line(f"warning: line {bad['line']} skipped: {bad['error']}")


@ext.command()
@click.option("--days", type=click.IntRange(min=0), default=service.DEFAULT_COMPACT_DAYS, show_default=True,
              help="Retention in days.")
@click.option("--now", metavar="TIME", help="Pin 'now' (RFC 3339) instead of the clock.")
@sindri_option
@json_option
def compact(days: int, now: str | None, sindri_path: str | None, json_output: bool) -> None:
    """Sindri ledgers: drop events older than --days unless the latest of their extension.

    Holds the ledger's lock while it rewrites, so no concurrent append is lost. (A chronik
    ledger is compacted by retention: see `chronik` lifecycle docs.)"""
    result = service.compact(sindri_path, days, now)
    if json_output:
        write_json_line(result)
    else:
        write_line(f"removed {result['removed']} events ({result['lines_before']} -> {result['lines_after']} lines)")


@ext.command()
@click.option("--quarantine", is_flag=True, help="Move the bad lines to PATH.quarantine (with line numbers).")
@sindri_option
@json_option
def doctor(quarantine: bool, sindri_path: str | None, json_output: bool) -> None:
    """Sindri ledgers: list malformed lines (line number, reason); optionally quarantine them.
    Exit 1 when bad lines remain."""
    found = service.doctor(sindri_path, quarantine)
    for line in found.bad_lines:
        if json_output:
            write_json_line(line)
        else:
            write_line(f"line {line.line}: {line.error}\n    {line.text}")
    if found.side_file is not None:
        write_error_line(f"{found.quarantined} lines moved to {found.side_file}")
    elif not found.bad_lines:
        if not json_output:
            write_error_line("no malformed lines")
    else:
        sys.exit(1)


__all__ = ["ext", "one_line", "pack_context"]

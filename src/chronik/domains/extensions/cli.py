"""`chronik ext`: extension status, history and lifecycle, on a chronik ledger or (with
--sindri [PATH]) a real Sindri status ledger. Each command calls one service function."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from chronik.cli.output import json_text, write_error_line, write_json_line, write_line
from chronik.cli.state import cli_state, json_option
from chronik.domains.extensions import service, sindri
from chronik.domains.extensions.events import KINDS
from chronik.errors import ValidationError

ERROR_COLUMN_CHARS = 60
DEFAULT_LOG_LIMIT = 50


def sindri_option(command: Any) -> Any:
    return click.option(
        "--sindri", "sindri_path", is_flag=False, flag_value=sindri.DEFAULT_PATH, default=None, metavar="[PATH]",
        help=f"Use a real Sindri status ledger instead of the chronik ledger [PATH: {sindri.DEFAULT_PATH}].")(command)


def backend_for(sindri_path: str | None) -> Any:
    if sindri_path is not None:
        return service.SindriBackend(sindri_path)
    return service.StoreBackend(cli_state().open_ledger())


def report_bad_lines(backend: Any, verbose: bool = False) -> None:
    bad = backend.bad_lines()
    if not bad:
        return
    for line in bad if verbose else bad[:3]:
        write_error_line(f"warning: line {line.line} skipped: {line.error}")
    if len(bad) > 3 and not verbose:
        write_error_line(f"warning: {len(bad)} malformed lines skipped in all; see `chronik ext doctor`")


def time_bound(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    from chronik.cli.inputs import time_option

    moment = time_option(value, option)
    return sindri.bound_key(moment, option) if sindri.time_key(value) is None else sindri.time_key(value)


def aligned(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned table (rich costs more start-up time than status itself)."""
    cells = [list(columns)] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for row in cells:
        write_line("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def one_line(text: str | None, limit: int = ERROR_COLUMN_CHARS) -> str:
    if not text:
        return ""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= limit else first[:limit - 1] + "…"


def record_dict(record: Any) -> dict[str, Any]:
    return {"event_id": record.id, "timestamp": record.at, "extension_name": record.name, "type": record.type,
            "state_before": record.state_before, "state_after": record.state_after, "event": record.fields}


def print_records(records: Sequence[Any], json_output: bool, flush: bool = False) -> None:
    for record in records:
        if json_output:
            write_json_line(record_dict(record), flush)
        else:
            before = record.state_before or "none"
            detail = one_line(record.fields.get("error_message")) or (
                "" if record.fields.get("duration_secs") is None else f"{record.fields['duration_secs']}s")
            write_line(f"{record.at[:19].replace('T', ' ')}  {record.name:<20} {record.type:<21} "
                       f"{before} -> {record.state_after}  {detail}".rstrip(), flush)


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
    backend = backend_for(sindri_path)
    if name is None:
        rows = service.visible(backend.statuses(), show_all)
        report_bad_lines(backend)
        if json_output:
            for row in rows:
                write_json_line(row)
            return
        if not rows:
            write_error_line("no extensions recorded")
            return
        aligned(("NAME", "STATE", "VERSION", "SINCE (UTC)", "DURATION", "ERROR"),
                [(r["name"], r["state"], r["version"], (r["since"] or "")[:19].replace("T", " "),
                  "" if r["duration_s"] is None else f"{r['duration_s']}s", one_line(r["error"])) for r in rows])
        return
    current = backend.status(name)
    if current is None:
        from chronik.errors import NotFound

        raise NotFound(f"no events for extension {name!r}")
    current = service.with_liveness(current)
    records = service.timeline(backend, name, limit, time_bound(since, "--since"))
    report_bad_lines(backend)
    if json_output:
        write_json_line({"status": current, "events": [record_dict(r) for r in records]})
        return
    write_line(f"{name}: {current['state']} {current['version'] or ''} since {current['since']}".rstrip())
    if current.get("last_error"):
        write_line(f"last error ({current['last_error_at']}): {one_line(current['last_error'], 200)}")
    if current.get("log_file"):
        write_line(f"log: {current['log_file']}")
    print_records(records, False)


@ext.command("log")
@click.option("-e", "--extension", "names", multiple=True, metavar="NAME", help="Only this extension (repeatable).")
@click.option("-t", "--type", "kinds", multiple=True, type=click.Choice(list(KINDS)),
              help="Only this kind of event (repeatable).")
@click.option("-l", "--level", type=click.Choice(["info", "warn", "error"]),
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
    backend = backend_for(sindri_path)
    log_filter = service.LogFilter(names=names, types=service.kind_types(kinds), level=level,
                                   since=time_bound(since, "--since"), until=time_bound(until, "--until"))
    after = backend.head()
    print_records(service.log(backend, log_filter, limit or None), json_output, flush=follow)
    report_bad_lines(backend)
    if follow:
        try:
            for _, record in backend.follow(after):
                if log_filter.matches(record):
                    print_records([record], json_output, flush=True)
        except KeyboardInterrupt:
            return


def lifecycle_command(operation: str) -> Any:
    @click.argument("name")
    @click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
    @click.option("--version", "version", metavar="V", help="The version to install or upgrade to.")
    @click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), metavar="SECONDS",
                  help="Stop the command after this long (recorded as failed).")
    @sindri_option
    @json_option
    def command(name: str, command: tuple[str, ...], version: str | None, timeout_s: float | None,
                sindri_path: str | None, json_output: bool) -> None:
        backend = backend_for(sindri_path)
        result = service.run_operation(backend, operation, name, list(command), version, timeout_s)
        if json_output:
            write_json_line(result)
        else:
            write_line(f"{name}: {result['state']} {result.get('version') or ''} "
                       f"(exit code {result['exit_code']}, {result['duration_s']}s, log {result['log_file']})")
            if result.get("error"):
                write_line(f"error: {result['error']}")
        if result["state"] != ("removed" if operation == "remove" else "installed"):
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
@click.option("--catalog", "catalog_path", required=True, metavar="FILE", help="The extension catalog (TOML).")
@click.option("--workers", type=click.IntRange(min=1, max=32), default=4, show_default=True,
              help="Validation commands run at once.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              metavar="SECONDS", help="Per-command timeout.")
@sindri_option
@json_option
def verify(names: tuple[str, ...], catalog_path: str, workers: int, timeout_s: float, sindri_path: str | None,
           json_output: bool) -> None:
    """Run the catalog's validation commands for NAMES (default: every installed extension) and
    record validation_succeeded or validation_failed. Exit 1 when any failed."""
    from chronik.domains.extensions import catalog

    results = catalog.verify(backend_for(sindri_path), catalog.load_catalog(catalog_path), list(names) or None,
                             workers, timeout_s)
    for result in results:
        if json_output:
            write_json_line(result)
        else:
            write_line(f"{result['name']}: " + ("ok" if result["ok"] else f"FAILED: {one_line(result['error'], 200)}"))
    if any(not result["ok"] for result in results):
        sys.exit(1)


@ext.command()
@click.option("--catalog", "catalog_path", required=True, metavar="FILE", help="The extension catalog (TOML).")
@sindri_option
@json_option
def outdated(catalog_path: str, sindri_path: str | None, json_output: bool) -> None:
    """Compare installed versions with the catalog's latest_version; record outdated_detected."""
    from chronik.domains.extensions import catalog

    found = catalog.outdated(backend_for(sindri_path), catalog.load_catalog(catalog_path))
    for item in found:
        write_json_line(item) if json_output else write_line(
            f"{item['name']}: {item['current_version']} -> {item['latest_version']}")
    if not found and not json_output:
        write_error_line("everything is up to date")


@ext.command()
@sindri_option
@json_option
def stats(sindri_path: str | None, json_output: bool) -> None:
    """Totals: events, oldest and newest timestamps, counts per event type."""
    result = service.stats(backend_for(sindri_path))
    if json_output:
        write_json_line(result)
        return
    for key, value in result.items():
        if key == "event_type_counts":
            for event_type, count in value.items():
                write_line(f"  {event_type:<22} {count}")
        else:
            write_line(f"{key:<18} {value}")


@ext.command()
@click.option("--format", "format_", type=click.Choice(["sindri", "json"]), default="sindri", show_default=True,
              help="sindri: Sindri ledger lines; json: a pretty JSON array of envelopes (Sindri's export).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write to FILE instead of stdout.")
@sindri_option
def export(format_: str, output: str | None, sindri_path: str | None) -> None:
    """Export every extension event, in ledger order, in Sindri's format."""
    import io

    backend = backend_for(sindri_path)
    buffer = io.BytesIO()
    count = service.export_sindri(backend, buffer)
    data = buffer.getvalue()
    if format_ == "json":
        data = (sindri.export_text(sindri.parse_lines(data).entries) + "\n").encode()
    if output:
        with open(output, "wb") as out:
            out.write(data)
        write_error_line(f"{count} events written to {output}")
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)


@ext.command("import")
@click.option("--sindri", "sindri_path", is_flag=False, flag_value=sindri.DEFAULT_PATH, required=True,
              metavar="[PATH]", help=f"The Sindri ledger to import [PATH: {sindri.DEFAULT_PATH}].")
@json_option
def import_command(sindri_path: str, json_output: bool) -> None:
    """Import a Sindri ledger into the chronik ledger (ids and timestamps kept; re-importing the
    same file adds nothing; bad lines are reported and skipped)."""
    backend = service.StoreBackend(cli_state().open_ledger())
    result = service.import_sindri(backend, sindri_path)
    if json_output:
        write_json_line(result)
        return
    write_line(f"imported {result['imported']} events ({result['skipped_known']} already there)")
    for bad in result["bad_lines"]:
        write_error_line(f"warning: line {bad['line']} skipped: {bad['error']}")


@ext.command()
@click.option("--days", type=click.IntRange(min=0), default=90, show_default=True, help="Retention in days.")
@click.option("--now", metavar="TIME", help="Pin 'now' (RFC 3339) instead of the clock.")
@sindri_option
@json_option
def compact(days: int, now: str | None, sindri_path: str | None, json_output: bool) -> None:
    """Sindri ledgers: drop events older than --days unless the latest of their extension.

    Holds the ledger's lock while it rewrites, so no concurrent append is lost. (A chronik
    ledger is compacted by retention: see `chronik` lifecycle docs.)"""
    if sindri_path is None:
        raise ValidationError("--sindri", "compact works on a Sindri ledger",
                              "pass --sindri [PATH]; chronik ledgers use retention and archives")
    try:
        result = sindri.SindriFile(sindri_path).compact(days, now)
    except ValueError as exc:
        raise ValidationError("--now", str(exc)) from None
    write_json_line(result) if json_output else write_line(
        f"removed {result['removed']} events ({result['lines_before']} -> {result['lines_after']} lines)")


@ext.command()
@click.option("--quarantine", is_flag=True, help="Move the bad lines to PATH.quarantine (with line numbers).")
@sindri_option
@json_option
def doctor(quarantine: bool, sindri_path: str | None, json_output: bool) -> None:
    """Sindri ledgers: list malformed lines (line number, reason); optionally quarantine them.
    Exit 1 when bad lines remain."""
    backend = backend_for(sindri_path or sindri.DEFAULT_PATH)
    bad = backend.bad_lines()
    for line in bad:
        write_json_line(line) if json_output else write_line(f"line {line.line}: {line.error}\n    {line.text}")
    if quarantine and bad:
        result = backend.file.quarantine()
        write_error_line(f"{result['quarantined']} lines moved to {result['side_file']}")
        return
    if not bad:
        write_error_line("no malformed lines") if not json_output else None
        return
    sys.exit(1)


__all__ = ["ext", "json_text"]

"""`chronik replay`, `chronik diff`, `chronik snapshot`: derived state (Ledger.replay, Ledger.diff,
Ledger.snapshot) with a reducer imported from the user's code as MODULE:NAME."""

from __future__ import annotations

import logging
from typing import Any

import click
import msgspec

from chronik.cli.inputs import rename_field
from chronik.cli.output import (
    print_fields,
    print_table,
    print_text,
    write_error_line,
    write_json_line,
    write_line,
)
from chronik.cli.state import cli_state, json_option
from chronik.errors import ValidationError

REDUCER_HELP = ("The reducer, as MODULE:NAME (e.g. myapp.reducers:OrderSummary): a chronik.Reducer, a "
                "Reducer subclass, or a function fold(state, event). Imported with the current "
                "directory on sys.path.")
OPTION_NAMES = {"stream": "STREAM", "reducer": "--reducer", "to_version": "--to-version",
                "to_position": "--to-position", "at": "--at", "a": "A", "b": "B"}
VALUE_CHARS = 60

_encode = msgspec.json.Encoder(order="sorted").encode

# The library logs each replay warning and returns it too; these commands print the returned
# ones (as "warning: ..."), so the log would only say each twice.
logging.getLogger("chronik.derive.replay").addHandler(logging.NullHandler())


def reducer_option(function: Any) -> Any:
    return click.option("--reducer", "reducer_spec", required=True, metavar="MODULE:NAME",
                        help=REDUCER_HELP)(function)


def _load_reducer(spec: str) -> Any:
    from chronik.derive.reducer_import import import_reducer

    return import_reducer(spec, "--reducer")


def _show_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        write_error_line(f"warning: {warning}")


def _json_value(value: Any) -> str:
    try:
        return _encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        return repr(value)


@click.command()
@click.argument("stream")
@reducer_option
@click.option("--to-version", type=click.IntRange(min=0), metavar="N",
              help="The state after version N (0: the initial state).")
@click.option("--to-position", type=click.IntRange(min=0), metavar="N",
              help="The state after the stream's events at positions <= N.")
@click.option("--at", "at", metavar="TIME",
              help="The state from every event recorded at or before TIME (RFC 3339 with a zone, a "
                   "date, or an age such as 2h), folded in version order.")
@click.option("--no-snapshots", is_flag=True,
              help="Fold from the first event, ignoring stored snapshots.")
@click.option("--include-archive", is_flag=True,
              help="Fold the stream's archived events (chronik retention) before the live ones.")
@json_option
def replay(stream: str, reducer_spec: str, to_version: int | None, to_position: int | None,
           at: str | None, no_snapshots: bool, include_archive: bool, json_output: bool) -> None:
    """Print the state of STREAM: now, or at --to-version, --to-position or --at (one of them).

    Replay only reads: it starts from a stored snapshot when one fits, and saves none (take
    one with `chronik snapshot`)."""
    given = [name for name, value in (("--to-version", to_version), ("--to-position", to_position),
                                      ("--at", at)) if value is not None]
    if len(given) > 1:
        raise ValidationError(given[1], f"cannot be combined with {given[0]}",
                              "give at most one of --to-version, --to-position and --at")
    reducer = _load_reducer(reducer_spec)
    with cli_state().open_ledger(read_only=True) as ledger:
        try:
            result = ledger.replay(stream, reducer, to_version=to_version, to_position=to_position,
                                   at=at, include_snapshots=not no_snapshots,
                                   include_archive=include_archive)
        except ValidationError as error:
            raise rename_field(error, OPTION_NAMES) from None
    _show_warnings(result.warnings)
    if json_output:
        write_json_line({"stream": stream, "reducer": reducer.label, "version": result.version,
                         "position": result.position, "events_applied": result.events_applied,
                         "from_snapshot": result.from_snapshot, "snapshot_saved": result.snapshot_saved,
                         "warnings": result.warnings, "state": _builtins(result.state)})
        return
    print_fields([("stream", stream), ("reducer", reducer.label), ("version", result.version),
                  ("position", result.position), ("events applied", result.events_applied),
                  ("from snapshot", "none" if result.from_snapshot is None else
                   f"version {result.from_snapshot}"),
                  *([("snapshot saved", f"version {result.snapshot_saved}")] if result.snapshot_saved else [])])
    print_text("")
    print_text(_pretty(result.state))


def _builtins(state: Any) -> Any:
    try:
        return msgspec.to_builtins(state)
    except TypeError:
        return repr(state)


def _pretty(state: Any) -> str:
    try:
        return msgspec.json.format(_encode(state), indent=2).decode()
    except (TypeError, msgspec.EncodeError):
        return repr(state)


@click.command()
@click.argument("stream")
@click.argument("a")
@click.argument("b", default="latest")
@reducer_option
@json_option
def diff(stream: str, a: str, b: str, reducer_spec: str, json_output: bool) -> None:
    """Show what changed in STREAM's state from point A to point B, and which events changed it.

    A point is a version (12; 0 is the initial state), latest (B's default), position:N,
    at:TIME, or a time (2026-11-22T01:15:09Z, 2026-11-22, 2h)."""
    reducer = _load_reducer(reducer_spec)
    with cli_state().open_ledger(read_only=True) as ledger:
        try:
            result = ledger.diff(stream, reducer, a, b)
        except ValidationError as error:
            raise rename_field(error, OPTION_NAMES) from None
    _show_warnings(result.warnings)
    if json_output:
        write_json_line(result)
        return
    write_line(f"{stream} ({result.reducer}): {_point(result.a)} -> {_point(result.b)}: "
               f"{len(result.events)} event(s) between, {len(result.changes)} change(s)"
               + (" (truncated)" if result.truncated else ""))
    for change in result.changes:
        write_line(_change_line(change))


def _point(point: Any) -> str:
    return f"version {point.version} (position {point.position})"


def _change_line(change: Any) -> str:
    if change.kind == "added":
        line = f"+ {change.path} = {_cut(_json_value(change.new))}"
    elif change.kind == "removed":
        line = f"- {change.path} (was {_cut(_json_value(change.old))})"
    else:
        line = f"~ {change.path}: {_cut(_json_value(change.old))} -> {_cut(_json_value(change.new))}"
    if change.events:
        causes = ", ".join(f"v{cause.version} {cause.type} @{cause.position}" for cause in change.events[:5])
        more = f" and {len(change.events) - 5} more" if len(change.events) > 5 else ""
        line += f"   by {causes}{more}"
    return line


def _cut(text: str) -> str:
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS - 1] + "…"


@click.command()
@click.argument("stream")
@reducer_option
@click.option("--to-version", type=click.IntRange(min=1), metavar="N",
              help="Snapshot the state after version N (default: the newest).")
@click.option("--list", "list_only", is_flag=True, help="List the stored snapshots instead of taking one.")
@json_option
def snapshot(stream: str, reducer_spec: str, to_version: int | None, list_only: bool,
             json_output: bool) -> None:
    """Save the state of STREAM as a snapshot now, whatever the reducer's policy (--list: show the
    stored ones, newest first, with their status: ok, stale or corrupt)."""
    reducer = _load_reducer(reducer_spec)
    with cli_state().open_ledger(read_only=list_only, must_exist=True) as ledger:
        try:
            if list_only:
                from chronik.derive.snapshots import list_snapshots

                statuses = list_snapshots(ledger, reducer, stream)
            else:
                header = ledger.snapshot(stream, reducer, to_version=to_version)
        except ValidationError as error:
            raise rename_field(error, OPTION_NAMES) from None
    if list_only:
        _print_statuses(statuses, json_output)
    elif json_output:
        write_json_line(header)
    else:
        print_fields([("saved", header.key), ("version", header.version), ("position", header.position),
                      ("reducer", f"{header.reducer}@{header.reducer_version}"),
                      ("state bytes", header.state_bytes), ("state sha256", header.state_sha256)])


def _print_statuses(statuses: list[Any], json_output: bool) -> None:
    if json_output:
        for status in statuses:
            write_json_line(status)
        return
    if not statuses:
        write_error_line("no snapshots")
        return
    print_table(("VERSION", "POSITION", "STATUS", "REDUCER", "BYTES", "CREATED (UTC)"),
                ((s.snapshot.version if s.snapshot else s.key.rsplit("/", 1)[-1].lstrip("0"),
                  s.snapshot.position if s.snapshot else "",
                  s.status + (f": {s.detail}" if s.detail else ""),
                  f"{s.snapshot.reducer}@{s.snapshot.reducer_version}" if s.snapshot else "",
                  s.snapshot.state_bytes if s.snapshot else "",
                  s.snapshot.created[:19].replace("T", " ") if s.snapshot else "") for s in statuses),
                right_aligned=("VERSION", "POSITION", "BYTES"))

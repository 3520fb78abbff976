"""`chronik streams`, `chronik head`, `chronik stats`: what the ledger holds, at a glance."""

from __future__ import annotations

import click

from chronik.cli.inputs import rename_field
from chronik.cli.output import (
    print_fields,
    print_table,
    print_text,
    short_time,
    write_error_line,
    write_json_line,
)
from chronik.cli.state import cli_state, json_option
from chronik.errors import ValidationError
from chronik.model import StreamInfo


@click.command()
@click.option("--category", metavar="CATEGORY", help="Only streams of this category (e.g. order).")
@json_option
def streams(category: str | None, json_output: bool) -> None:
    """List the streams with their version and last event."""
    with cli_state().open_ledger(read_only=True) as ledger:
        try:
            infos = ledger.streams(category=category)
        except ValidationError as error:
            raise rename_field(error, {"category": "--category"}) from None
    if json_output:
        for info in infos:
            write_json_line(info)
    elif not infos:
        write_error_line("no streams" + (f" in category {category}" if category else ""))
    else:
        print_streams(infos)


def print_streams(infos: list[StreamInfo]) -> None:
    print_table(("STREAM", "VERSION", "LAST POS", "LAST TYPE", "LAST TIME (UTC)"),
                ((i.stream, i.version, i.last_position, i.last_type, short_time(i.last_time))
                 for i in infos), right_aligned=("VERSION", "LAST POS"))


@click.command()
@json_option
def head(json_output: bool) -> None:
    """Print the newest position and its hash (position 0 when the ledger is empty)."""
    with cli_state().open_ledger(read_only=True) as ledger:
        ledger_head = ledger.head()
    if json_output:
        write_json_line(ledger_head)
    else:
        print_fields([("position", ledger_head.position), ("hash", ledger_head.hash)])


@click.command()
@json_option
def stats(json_output: bool) -> None:
    """Print counts, size and time span of the ledger, and events per type."""
    with cli_state().open_ledger(read_only=True) as ledger:
        ledger_stats = ledger.stats()
    if json_output:
        write_json_line(ledger_stats)
        return
    types = ledger_stats.get("types") or {}
    print_fields([(name, value) for name, value in ledger_stats.items() if name != "types"])
    if types:
        print_text("")
        print_table(("TYPE", "EVENTS"), sorted(types.items()), title="events per type",
                    right_aligned=("EVENTS",))

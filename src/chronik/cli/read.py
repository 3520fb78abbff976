"""`chronik read`: the events of one stream (Ledger.read_stream)."""

from __future__ import annotations

import click

from chronik.cli.inputs import rename_field
from chronik.cli.output import write_error_line, write_events
from chronik.cli.state import cli_state, json_option
from chronik.errors import ValidationError


@click.command()
@click.argument("stream")
@click.option("--from", "start", type=click.IntRange(min=1), metavar="VERSION", default=1, show_default=True,
              help="First version to read.")
@click.option("--to", "end", type=click.IntRange(min=0), metavar="VERSION", help="Last version to read (default: the newest).")
@click.option("--backwards", is_flag=True, help="Newest first (from --to, or the newest, down to --from).")
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help="Read at most this many events.")
@json_option
def read(stream: str, start: int, end: int | None, backwards: bool, limit: int | None,
         json_output: bool) -> None:
    """Print the events of STREAM in version order (--backwards: newest first)."""
    with cli_state().open_ledger(read_only=True) as ledger:
        try:
            events = ledger.read_stream(stream, start=start, end=end, backwards=backwards, limit=limit)
        except ValidationError as error:
            raise rename_field(error, {"stream": "STREAM"}) from None
        count = write_events(events, json_output, show_stream=False)
    if count == 0 and not json_output:
        write_error_line(f"no events in {stream} for this range")

"""`chronik append`: record one event (Ledger.append)."""

from __future__ import annotations

import click
import msgspec

from chronik.cli.inputs import expectation_option, json_object_option, rename_field
from chronik.cli.output import print_fields, write_json_line
from chronik.cli.state import cli_state, json_option
from chronik.errors import ValidationError
from chronik.model import AppendResult, NewEvent


@click.command()
@click.argument("stream")
@click.argument("type")
@click.option("--data", metavar="JSON|@FILE|-", help="Event data: a JSON object, @file to read it from "
              "a file, or - for stdin.  [default: {}]")
@click.option("--meta", metavar="JSON|@FILE|-", help="Event metadata, as for --data.  [default: {}]")
@click.option("--id", "event_id", metavar="ID", help="Event id (default: a new UUIDv7). Appending "
              "the same id with the same content again returns the original result.")
@click.option("--expect", "expect_text", default="any", show_default=True,
              metavar="any|no-stream|exists|N",
              help="Append only if the stream is in this state; N is its exact current version.")
@json_option
def append(stream: str, type: str, data: str | None, meta: str | None, event_id: str | None,
           expect_text: str, json_output: bool) -> None:
    """Append one event of TYPE to STREAM (category:id, e.g. order:42).

    Exits 4 when the stream is not as --expect says, and writes nothing.
    """
    event = NewEvent(type, json_object_option(data, "--data"), json_object_option(meta, "--meta"),
                     event_id)
    expect = expectation_option(expect_text)
    with cli_state().open_ledger() as ledger:
        try:
            result = ledger.append(stream, [event], expect=expect)
        except ValidationError as error:
            raise rename_field(error, append_option_names(stream)) from None
    print_append_result(stream, result, json_output)


def append_option_names(stream: str) -> dict[str, str]:
    """Library field -> the option or argument that supplied it."""
    event_field = f"{stream}.events[0]"
    return {"stream": "STREAM", f"{event_field}.type": "TYPE", f"{event_field}.id": "--id",
            f"{event_field}.data": "--data", f"{event_field}.meta": "--meta",
            f"{stream}.expect": "--expect"}


def print_append_result(stream: str, result: AppendResult, json_output: bool) -> None:
    if json_output:
        write_json_line({"stream": stream, **msgspec.structs.asdict(result)})
        return
    positions = (str(result.first_position) if result.first_position == result.last_position
                 else f"{result.first_position}..{result.last_position}")
    print_fields([("stream", stream), ("version", result.version), ("position", positions),
                  ("id", ", ".join(result.ids))], title="appended")


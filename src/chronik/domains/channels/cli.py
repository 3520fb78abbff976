"""`chronik channel`: the state-channel event log. Each command is one service call and
formatting; click parameters are named after the service's fields (`at_offset`, `status`)."""

from __future__ import annotations

import sys
from typing import Any

import click

from chronik.domains.channels import service
from chronik.domains.channels.events import EVENT_NAMES, OBJECTIVE_STATUSES
from chronik.domains.channels.reconstruct import Reconstruction
from chronik.domains.clikit import json_option, open_ledger
from chronik.domains.textout import write_error_line, write_json_line, write_line, write_table
from chronik.errors import IntegrityError
from chronik.ledger import Ledger


@click.group("channel")
def channel() -> None:
    """State channels: objectives and channels reconstructed from an append-only event log.

    Events are the 20 kebab-case types of evmts/channels, validated by their JSON Schemas, each
    with a content id (0x + keccak256 of "ev1|name|canonical JSON"). They live in streams
    channel:<id>, objective:<id> and peer:<peer_id>; offsets number them 0, 1, 2, ...
    """


@channel.command()
@click.argument("events_file", metavar="FILE|-", type=click.File("r", encoding="utf-8"))
@json_option
def append(events_file: Any, json_output: bool) -> None:
    """Append events from FILE (or - for stdin): one {"event_name": ..., "payload": {...}}
    object, a JSON array of them, or JSON Lines. Prints each event's id and offset; an event
    already recorded prints its original offset and writes nothing."""
    appended = service.append_events(open_ledger(), service.parse_events(events_file.read()))
    for item in appended:
        if json_output:
            write_json_line(item)
        else:
            write_line(f"{item.offset}  {item.id}  {item.event_name}  {item.stream}")


@channel.command("read")
@click.option("--from", "start", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="The first offset.")
@click.option("--to", "end", type=click.IntRange(min=0), metavar="M", help="Stop before offset M.")
@json_option
def read_command(start: int, end: int | None, json_output: bool) -> None:
    """Events in offset order: offset, id, name, stream (--json: the whole event)."""
    for event in service.read(open_ledger(read_only=True), start, end):
        if json_output:
            write_json_line(event)
        else:
            write_line(f"{event.offset}  {event.id}  {event.event_name}  {event.stream}")


def print_reconstruction(found: Reconstruction, json_output: bool) -> None:
    state = found.state
    if json_output:
        write_json_line({"kind": found.kind, "stream": found.stream, "version": found.version,
                         "events_applied": found.events_applied, "from_snapshot": found.from_snapshot,
                         "state": state})
        return
    write_line(f"{found.kind} {found.stream.partition(':')[2]}: {state['status']} "
               f"({state['events']} events, {state['ignored']} not applied)")
    if found.kind == "channel":
        print_channel(state)
    else:
        rows = [(key, state[key]) for key in ("objective_type", "channel_id", "approver", "cranks",
                                              "side_effects_count", "waiting", "success", "reason")
                if state[key] not in (None, 0)]
        write_table(("FIELD", "VALUE"), rows, show_header=False)
    for warning in state["warnings"]:
        write_line(f"warning (version {warning['version']}, {warning['event']}): {warning['kind']}: "
                   f"{warning['detail']}")


def print_channel(state: dict[str, Any]) -> None:
    participants = state["participants"]
    write_table(("FIELD", "VALUE"), [
        ("participants", ", ".join(f"{i}={p}" for i, p in enumerate(participants))),
        ("channel_nonce", state["channel_nonce"]), ("app_definition", state["app_definition"]),
        ("challenge_duration", state["challenge_duration"]),
        ("supported_turn", state["supported_turn"]), ("supported_state_hash", state["supported_state_hash"]),
        ("latest_signed_turn", _by_index(state["latest_signed_turn"])),
        ("latest_received_turn", _by_index(state["latest_received_turn"])),
        ("holdings", ", ".join(f"{asset}={amount}" for asset, amount in state["holdings"].items())),
        ("challenge", state["challenge"]), ("last_chain_event", state["last_chain_event"]),
    ], show_header=False)
    for turn, signatures in sorted(state["signatures"].items(), key=lambda item: int(item[0])):
        for index, signed in sorted(signatures.items()):
            write_line(f"turn {turn}: participant {index} {signed['source']} {signed['signature'][:18]}...")


def _by_index(turns: dict[str, int]) -> str:
    return ", ".join(f"{index}:{turn}" for index, turn in sorted(turns.items()))


@channel.command()
@click.argument("channel_id")
@click.option("--at-offset", "at_offset", type=click.IntRange(min=0), metavar="N",
              help="The channel as of offset N (events up to and including it).")
@json_option
def show(channel_id: str, at_offset: int | None, json_output: bool) -> None:
    """A channel's reconstructed state (now, or as of an offset)."""
    print_reconstruction(service.show_channel(open_ledger(read_only=True), channel_id, at_offset), json_output)


@channel.command("objectives")
@click.option("--status", "status", type=click.Choice(OBJECTIVE_STATUSES), help="Only objectives in this status.")
@json_option
def objectives_command(status: str | None, json_output: bool) -> None:
    """Every objective with its type, status and channel."""
    found = service.objectives(open_ledger(read_only=True), status)
    if json_output:
        for state in found:
            write_json_line(state)
        return
    if not found:
        write_error_line("no objectives recorded" + (f" with status {status}" if status else ""))
        return
    write_table(("OBJECTIVE", "TYPE", "STATUS", "CHANNEL", "EVENTS"),
                [(s["objective_id"], s["objective_type"], s["status"], s["channel_id"], s["events"]) for s in found],
                right_aligned=("EVENTS",))


@channel.command("reconstruct")
@click.argument("entity_id", metavar="CHANNEL_ID|OBJECTIVE_ID")
@json_option
def reconstruct_command(entity_id: str, json_output: bool) -> None:
    """Reconstruct a channel or an objective from its events (both, if the id is both)."""
    for found in service.reconstruct(open_ledger(read_only=True), entity_id):
        print_reconstruction(found, json_output)


@channel.command("verify-ids")
@json_option
def verify_ids(json_output: bool) -> None:
    """Recompute every event's content id from its stored payload. Exit 3 naming the offset of
    each event whose payload no longer matches its id (or its stream)."""
    report = service.verify_ids(open_ledger(read_only=True))
    if json_output:
        write_json_line(report)
    else:
        for problem in report.problems:
            write_line(f"offset {problem.offset} (position {problem.position}, id {problem.stored_id}): "
                       f"{problem.problem}" + (f"; recomputed {problem.computed_id}" if problem.computed_id else ""))
        write_line(f"{report.checked} ids checked: " + ("all match" if report.ok else
                                                         f"{len(report.problems)} problem(s)"))
    if not report.ok:
        sys.exit(IntegrityError.exit_code)


@channel.command("schemas")
@click.argument("event_name", required=False, type=click.Choice(EVENT_NAMES), metavar="[EVENT_NAME]")
@json_option
def schemas_command(event_name: str | None, json_output: bool) -> None:
    """The 20 event types and their fields; with EVENT_NAME, its whole JSON Schema."""
    found = service.schemas(event_name)
    if json_output or event_name is not None:
        for item in found:
            write_json_line(item)
        return
    write_table(("EVENT", "REQUIRED", "OPTIONAL"),
                [(s["event_name"], " ".join(s["required"]), " ".join(s["optional"])) for s in found])


def show_demo(ledger: Ledger) -> None:
    """The `chronik demo` part: a DirectFund objective through its lifecycle."""
    result = service.run_direct_fund_demo(ledger)
    # Ids abbreviated so the demo fits 80 columns; `chronik channel show ID` prints them whole.
    for item in result.appended:
        stream = item.stream if len(item.stream) <= 24 else item.stream[:22] + "..."
        write_line(f"   {item.offset:>3}  {item.event_name:<24} {item.id[:14]}...  {stream}")
    for found in (result.objective, result.channel):
        state = found.state
        write_line(f"   {found.kind} {found.stream.partition(':')[2][:18]}...: {state['status']} "
                   f"({state['events']} events, {state['ignored']} not applied)")

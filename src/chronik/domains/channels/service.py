"""The channels use cases: one function per thing a person or a program asks, over a Ledger,
returning data. Inputs arrive as the user wrote them (JSON text, ids, words) and are checked
here; errors name the library's fields (`events[2].payload.turn_num`, `status`, `at_offset`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import msgspec

from chronik.domains.channels import contentid, schema
from chronik.domains.channels.eventlog import EventLog, LoggedEvent, logged, prepare
from chronik.domains.channels.events import (
    CATEGORY_OF_EVENT,
    CHANNEL_CATEGORY,
    OBJECTIVE_CATEGORY,
    OBJECTIVE_STATUSES,
    ChannelEvent,
    check_entity_id,
    check_event_name,
    stream_of,
)
from chronik.domains.channels.offsets import PACK_FILTER
from chronik.domains.channels.reconstruct import Reconstruction, Reconstructor, stream_of_entity
from chronik.errors import NotFound, ValidationError
from chronik.ledger import Ledger

# Events per atomic append when a file is appended (a run of one stream longer than this is split).
APPEND_CHUNK_EVENTS = 1_000


# ---------------------------------------------------------------- appending


def parse_events(text: str) -> list[Any]:
    """One JSON event, a JSON array of events, or JSON Lines of events (blank lines skipped)."""
    stripped = text.strip()
    if not stripped:
        raise ValidationError("events", "is empty", 'give {"event_name": ..., "payload": {...}} per line')
    try:
        whole = json.loads(stripped)
    except json.JSONDecodeError:
        whole = None
    else:
        return whole if isinstance(whole, list) else [whole]
    events = []
    for number, line in enumerate(stripped.splitlines(), start=1):
        if line.strip():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValidationError(f"line {number}", f"is not JSON: {error.msg} at column {error.colno}",
                                      "write one JSON object per line") from None
    return events


class Appended(msgspec.Struct, frozen=True):
    id: str
    offset: int
    event_name: str
    stream: str


def append_events(ledger: Ledger, events: list[Any]) -> list[Appended]:
    """Append events (each `{"event_name", "payload"}`) in the order given: each run of
    consecutive events of one stream is one atomic append (so offsets follow the input order);
    an error stops at its run, after the runs before it. Appending the same events again adds
    nothing (ids are content) and reports their original offsets."""
    log = EventLog(ledger)
    prepared = [prepare(value, index, f"events[{index}]") for index, value in enumerate(events)]
    done: list[Appended] = []
    for run in _runs(prepared):
        offsets = log.append_many(run)
        done.extend(Appended(item.id, offset, item.event_name, item.stream)
                    for item, offset in zip(run, offsets, strict=True))
    return done


def _runs(prepared: list[Any]) -> Iterator[list[Any]]:
    run: list[Any] = []
    for item in prepared:
        if run and (item.stream != run[0].stream or len(run) == APPEND_CHUNK_EVENTS):
            yield run
            run = []
        run.append(item)
    if run:
        yield run


# ---------------------------------------------------------------- reading and reconstructing


def read(ledger: Ledger, start: int = 0, end: int | None = None) -> Iterator[LoggedEvent]:
    """Events from offset `start` (to `end`, exclusive)."""
    log = EventLog(ledger)
    return log.read_from(start) if end is None else iter(log.read_range(start, end))


def show_channel(ledger: Ledger, channel_id: str, at_offset: int | None = None) -> Reconstruction:
    """A channel's reconstructed state, now or as of offset `at_offset` (events up to and
    including it). NotFound when the channel has no events (by then)."""
    stream = stream_of_entity(CHANNEL_CATEGORY, channel_id)
    reconstructor = Reconstructor(ledger)
    if at_offset is None:
        found = reconstructor.stream(CHANNEL_CATEGORY, stream)
    else:
        log = EventLog(ledger, reconstructor)
        if not isinstance(at_offset, int) or isinstance(at_offset, bool) or at_offset < 0:
            raise ValidationError("at_offset", f"{at_offset!r} is not an offset", "pass an int >= 0")
        head = log.index.catch_up()[0]
        position = log.index.position_of(at_offset, head)
        if position is None:
            raise ValidationError("at_offset", f"offset {at_offset} is not in the log (it has {head.count})",
                                  f"pass an offset below {head.count}")
        found = reconstructor.at_position(CHANNEL_CATEGORY, stream, position)
    if found.version == 0:
        raise NotFound(f"channel {channel_id} has no events" + ("" if at_offset is None else f" up to offset {at_offset}"))
    return found


def reconstruct(ledger: Ledger, entity_id: str) -> list[Reconstruction]:
    """The channel and/or objective with this id (ids are 0x + 64 hex: either could be it)."""
    entity_id = check_entity_id(entity_id, "entity_id")
    reconstructor = Reconstructor(ledger)
    found = [reconstructor.entity(kind, entity_id) for kind in (CHANNEL_CATEGORY, OBJECTIVE_CATEGORY)]
    found = [item for item in found if item.version]
    if not found:
        raise NotFound(f"no channel or objective {entity_id}")
    return found


def objectives(ledger: Ledger, status: str | None = None) -> list[dict[str, Any]]:
    """Every objective's state (only those with `status`), by objective id."""
    if status is not None and status not in OBJECTIVE_STATUSES:
        raise ValidationError("status", f"{status!r} is not an objective status",
                              f"use one of {', '.join(OBJECTIVE_STATUSES)}")
    reconstructor = Reconstructor(ledger)
    states = [reconstructor.stream(OBJECTIVE_CATEGORY, info.stream).state
              for info in ledger.streams(OBJECTIVE_CATEGORY)]
    return sorted((s for s in states if s["status"] is not None and (status is None or s["status"] == status)),
                  key=lambda s: s["objective_id"])


# ---------------------------------------------------------------- checking


class IdProblem(msgspec.Struct, frozen=True):
    offset: int
    position: int
    stored_id: str
    computed_id: str | None
    problem: str


class IdReport(msgspec.Struct, frozen=True):
    ok: bool
    checked: int
    problems: list[IdProblem]


def verify_ids(ledger: Ledger, max_problems: int = 100) -> IdReport:
    """Recompute every channels event's content id from its stored name and payload, and check
    its stream; the problems name the offset. (The hash chain is `chronik verify`.)"""
    problems: list[IdProblem] = []
    checked = 0
    for offset, event in enumerate(ledger.read_all(filter=PACK_FILTER)):
        checked += 1
        item = logged(event, offset)
        try:
            computed: str | None = contentid.event_id(item.event_name, item.payload)
            schema.validate_payload(item.event_name, item.payload)
            expected_stream = stream_of(ChannelEvent(item.event_name, item.payload))
        except ValidationError as error:
            problem = IdProblem(offset, item.position, item.id, None, f"payload no longer valid: {error}")
        else:
            if computed != item.id:
                problem = IdProblem(offset, item.position, item.id, computed,
                                    "the payload does not hash to the stored id (edited after it was recorded?)")
            elif expected_stream != item.stream:
                problem = IdProblem(offset, item.position, item.id, computed,
                                    f"recorded in {item.stream}, but its payload belongs to {expected_stream}")
            else:
                continue
        if len(problems) < max_problems:
            problems.append(problem)
    return IdReport(not problems, checked, problems)


def schemas(event_name: str | None = None) -> list[dict[str, Any]]:
    """The 20 event types' schema summaries, or one type's with its full schema."""
    if event_name is None:
        return schema.all_summaries()
    check_event_name(event_name)
    return [{**schema.schema_summary(event_name), "category": CATEGORY_OF_EVENT[event_name],
             "schema": schema.schema_of(event_name)}]


class DemoResult(msgspec.Struct, frozen=True):
    appended: list[Appended]
    objective: Reconstruction
    channel: Reconstruction


def run_direct_fund_demo(ledger: Ledger) -> DemoResult:
    """Record the DirectFund scenario (scenario.py) and reconstruct its objective and channel."""
    from chronik.domains.channels import scenario

    appended = append_events(ledger, scenario.direct_fund_events())
    reconstructor = Reconstructor(ledger)
    return DemoResult(appended, reconstructor.objective(scenario.OBJECTIVE_ID),
                      reconstructor.channel(scenario.CHANNEL_ID))

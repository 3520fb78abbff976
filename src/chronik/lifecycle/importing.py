"""Import: read recorded events (a JSONL or JSON array export) into a ledger, verbatim.

The input is read twice. The first pass parses every line strictly (`records.parse_line`) and
re-verifies the hash chain with `ChainChecker`, continuing from the destination's head; nothing is
written in it, so a broken chain is refused with IntegrityError naming the first bad position (and
event) and the destination is left as it was. It also keeps a SHA-256 of each chunk's bytes. The
second pass reads the chunks again, refuses one whose bytes changed since, decodes it without
re-checking (the same bytes were checked) and hands it to `Store.import_events`, which COPYs it
on PostgreSQL and checks, under the store's write lock, that it continues the store's head.

Continuing: an input that starts at position 1 may overlap a non-empty destination when it holds
the same events (the same hash at the destination's head position): those are skipped, the rest is
imported. So importing one export twice is a no-op, and an interrupted import can be re-run.

Re-chaining (`rechain=True`): events before the first bad position are imported verbatim; from
there on, each event's content (stream, type, id, data, meta) is appended again through
`Ledger.append_many` and gets a new position, stream version, prev and hash. Its `time` is kept as
given: consecutive events with the same time (one original commit) are appended in one call whose
clock returns that time. Signatures cannot survive (they sign the old hash), so re-chained events
are unsigned. The report says how many events were re-chained and from which position.

Stdin and other unseekable inputs are copied to a temporary file first, for the second pass.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import msgspec

from chronik import codec, rules
from chronik.chain import ChainChecker
from chronik.errors import IntegrityError, ValidationError
from chronik.lifecycle.records import load_line, parse_line
from chronik.model import Event, Expect, Head, NewEvent
from chronik.stores.base import Store, StoreOwner, limits_of, signer_of, store_of

# Events per Store.import_events call (one transaction / one write each).
IMPORT_CHUNK_EVENTS = 10_000

Progress = Callable[[int, int], None]
Source = str | os.PathLike | IO[bytes]


class ImportReport(msgspec.Struct, frozen=True):
    read: int  # events in the input
    imported: int  # recorded verbatim
    skipped: int  # already in the destination (identical)
    rechained: int  # appended again with new positions and hashes
    rechained_from_position: int | None  # the input position re-chaining started at
    rechained_to_position: int | None  # the new position it got
    head: Head
    seconds: float
    events_per_s: float
    notes: list[str] = msgspec.field(default_factory=list)


def import_events(ledger: Store | StoreOwner, source: Source, rechain: bool = False,
                  progress: Progress | None = None, chunk_events: int = IMPORT_CHUNK_EVENTS) -> ImportReport:
    """Import the recorded events of `source` (a path or a binary file) into `ledger`."""
    started = time.perf_counter()
    store = store_of(ledger)
    with _seekable(source) as file:
        head = store.head()
        plan = _plan(ledger, file, head, rechain, chunk_events)
        file.seek(plan.start_offset)
        imported, rechained, new_from = _apply(ledger, file, plan, progress, chunk_events)
    seconds = time.perf_counter() - started
    notes = []
    if rechained:
        notes.append(f"re-chained {rechained} events from input position {plan.first_bad_position}: "
                     f"they have new positions, versions and hashes from position {new_from} on")
        if plan.first_bad_detail:
            notes.append(f"the chain was broken at position {plan.first_bad_position}: {plan.first_bad_detail}")
    return ImportReport(plan.count, imported, plan.skip, rechained,
                        plan.first_bad_position if rechained else None, new_from, store.head(),
                        round(seconds, 3), round((imported + rechained) / seconds, 1) if seconds else 0.0,
                        notes)


class _Plan(msgspec.Struct):
    start_offset: int
    count: int = 0
    skip: int = 0  # leading events already in the destination
    first_bad_index: int | None = None  # 0-based index of the first event with a problem
    first_bad_position: int | None = None
    first_bad_detail: str = ""
    chunk_digests: list[bytes] = msgspec.field(default_factory=list)


def _plan(ledger: Store | StoreOwner, file: IO[bytes], head: Head, rechain: bool, chunk_events: int) -> _Plan:
    """Pass 1: parse and verify everything; decide what is skipped, imported and re-chained."""
    plan = _Plan(file.tell())
    limits = limits_of(ledger)
    lines = _lines(file)
    first_line = next(lines, None)
    if first_line is None:
        return plan
    first = parse_line(first_line[1], first_line[0], limits)
    overlap = first.position == 1 and head.position > 0
    if overlap:
        checker = ChainChecker()
    else:
        versions = {info.stream: info.version for info in store_of(ledger).streams(None)}
        checker = ChainChecker(head.position, head.hash, versions)
    matched = False
    digest = hashlib.sha256()
    for index, (where, line) in enumerate(_chain(first_line, lines)):
        event = first if index == 0 else parse_line(line, where, limits)
        digest.update(line + b"\n")
        if (index + 1) % chunk_events == 0:
            plan.chunk_digests.append(digest.digest())
            digest = hashlib.sha256()
        checker.check(event)
        plan.count += 1
        if checker.problem_count and plan.first_bad_index is None:
            problem = checker.problems[0]
            plan.first_bad_index, plan.first_bad_position = index, event.position
            plan.first_bad_detail = f"{problem.kind}: {problem.detail}"
        if overlap and event.position == head.position:
            matched = event.hash == head.hash
    plan.chunk_digests.append(digest.digest())
    if overlap:
        intact_through_head = plan.first_bad_index is None or plan.first_bad_index >= head.position
        if matched and intact_through_head:
            plan.skip = min(head.position, plan.count)
        elif rechain:
            plan.first_bad_index, plan.first_bad_position = 0, 1
            plan.first_bad_detail = "the input does not continue the destination's chain"
        else:
            raise IntegrityError(
                f"import refused: the input starts at position 1 but does not hold the destination's "
                f"{head.position} events (its event at position {head.position} differs or is missing); "
                f"nothing was imported. Import into an empty ledger, or use --rechain to append its "
                f"events again with new positions")
    if plan.first_bad_index is not None and not rechain:
        report = checker.report()
        raise IntegrityError(
            f"import refused: the chain is broken at position {report.first_bad_position} "
            f"(input event {plan.first_bad_index + 1}: {plan.first_bad_detail}); "
            f"{checker.problem_count} problem(s) found; nothing was imported. "
            f"Use --rechain to import it with new hashes from there on")
    return plan


def _apply(ledger: Store | StoreOwner, file: IO[bytes], plan: _Plan, progress: Progress | None,
           chunk_events: int) -> tuple[int, int, int | None]:
    """Pass 2: chunk by chunk (the chunks of pass 1), skip, import verbatim, then re-chain."""
    verbatim_end = plan.count if plan.first_bad_index is None else plan.first_bad_index
    limits = limits_of(ledger)
    imported = rechained = 0
    new_from: int | None = None
    lines = _lines(file)
    for number, digest in enumerate(plan.chunk_digests):
        offset = number * chunk_events
        chunk = list(itertools.islice(lines, chunk_events))
        if hashlib.sha256(b"".join(line + b"\n" for _, line in chunk)).digest() != digest:
            raise IntegrityError(f"import stopped: the input changed while it was imported (events "
                                 f"{offset + 1}..{offset + len(chunk)}); the {imported} events before "
                                 f"them were imported")
        verbatim = [load_line(line, where, limits)
                    for index, (where, line) in enumerate(chunk, offset)
                    if plan.skip <= index < verbatim_end]
        store_of(ledger).import_events(verbatim)
        imported += len(verbatim)
        if offset + len(chunk) > verbatim_end and plan.first_bad_index is not None:
            first_again = max(verbatim_end - offset, 0)
            again = [parse_line(line, where, limits) for where, line in chunk[first_again:]]
            position, count = _rechain(ledger, again)
            new_from = new_from or position
            rechained += count
        if progress is not None:
            progress(min(offset + len(chunk), plan.count), plan.count)
    return imported, rechained, new_from


def _rechain(ledger: Store | StoreOwner, events: list[Event]) -> tuple[int | None, int]:
    """Append each event's content again, one call per run of events that share a time."""
    batch: list[Event] = []
    first_position: int | None = None
    for event in events:
        if batch and (event.time != batch[0].time or not _keeps_order(batch, event)
                      or len(batch) == limits_of(ledger).max_batch_events):
            position = _append_again(ledger, batch)
            first_position = first_position or position
            batch = []
        batch.append(event)
    if batch:
        position = _append_again(ledger, batch)
        first_position = first_position or position
    return first_position, len(events)


def _keeps_order(batch: list[Event], event: Event) -> bool:
    """append_many records its streams one after another, so a call keeps the input order only
    while each event continues the last stream or starts one not yet in the call."""
    return event.stream == batch[-1].stream or all(e.stream != event.stream for e in batch)


def _append_again(ledger: Store | StoreOwner, batch: list[Event]) -> int:
    """Append the batch's content again, stamped with its recorded time, signed by the owner's
    signer (re-chained events are signed like any other append of that ledger)."""
    moment = codec.format_time(datetime.fromisoformat(batch[0].time.replace("Z", "+00:00")))
    streams: dict[str, tuple[list[NewEvent], Any]] = {}
    for event in batch:
        streams.setdefault(event.stream, ([], Expect.ANY))[0].append(
            NewEvent(event.type, event.data, event.meta, event.id))
    batches = rules.stream_batches(streams, moment, limits_of(ledger))
    results = store_of(ledger).append(batches, signer=signer_of(ledger))
    return min(result.first_position for result in results.values())


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _lines(file: IO[bytes]) -> Iterator[tuple[str, bytes]]:
    """(where, bytes) of each event in a JSONL file, or of a JSON array export (first byte `[`)."""
    start = file.tell()
    lead = file.read(64).lstrip()
    file.seek(start)
    if lead.startswith(b"["):
        try:
            elements = msgspec.json.decode(file.read(), type=list[msgspec.Raw])
        except msgspec.DecodeError as exc:
            raise ValidationError("input", f"is not a JSON array of events: {exc}",
                                  "give a JSONL or JSON export as `chronik export` writes it") from None
        for number, element in enumerate(elements, 1):
            yield f"element {number}", bytes(element)
        return
    for number, line in enumerate(file, 1):
        line = line.rstrip(b"\r\n")
        if line.strip():
            yield f"line {number}", line


@contextmanager
def _seekable(source: Source) -> Iterator[IO[bytes]]:
    if isinstance(source, (str, os.PathLike)):
        try:
            file = open(Path(source), "rb")  # noqa: SIM115 — closed below
        except OSError as exc:
            raise ValidationError("FILE", f"cannot read {os.fspath(source)!r}: {exc.strerror}",
                                  "give an existing export file, or - for stdin") from None
        with file:
            yield file
        return
    if _is_seekable(source):
        yield source
        return
    with tempfile.TemporaryFile(prefix="chronik-import-") as spool:
        shutil.copyfileobj(source, spool, 1024 * 1024)
        spool.seek(0)
        yield spool


def _is_seekable(file: IO[bytes]) -> bool:
    try:
        return file.seekable()
    except (AttributeError, ValueError, OSError):
        return False


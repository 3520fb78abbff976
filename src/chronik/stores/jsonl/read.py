"""Decoding events from a JSON Lines ledger file by its index: consecutive lines are fetched in
one `pread` and decoded together."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from chronik import codec
from chronik.errors import IntegrityError
from chronik.model import Event, ReadFilter
from chronik.stores.filters import matches
from chronik.stores.jsonl.files import pread
from chronik.stores.jsonl.format import DECODE_ERRORS, decode_events, decode_records, event_of
from chronik.stores.jsonl.index import Index

# Bytes read per pread while reading events (more only when one line alone is larger).
READ_CHUNK_BYTES = 4 * 1024 * 1024


def events_at(index: Index, positions: list[int], path: str) -> list[Event]:
    """The events at `positions` (ascending), consecutive lines fetched together."""
    events: list[Event] = []
    for chunk in line_chunks(index, positions, path):
        with changed_on_disk(path, positions):
            events.extend(decode_events(chunk))
    return events


def matching_events_at(index: Index, positions: list[int], filter: ReadFilter, path: str) -> list[Event]:
    events: list[Event] = []
    decode = codec.decode_object
    for chunk in line_chunks(index, positions, path):
        with changed_on_disk(path, positions):
            records = decode_records(chunk)
        for record in records:
            data, meta = bytes(record.data), bytes(record.meta)
            if matches(record, data, meta, filter):  # type: ignore[arg-type]  # duck-typed Event
                events.append(event_of(record, decode(data), decode(meta), record.sig))
    return events


@contextmanager
def changed_on_disk(path: str, positions: list[int]) -> Iterator[None]:
    """Lines were checked when indexed; failing to decode now means they were edited since."""
    try:
        yield
    except DECODE_ERRORS as exc:
        raise IntegrityError(f"{path}: a line between positions {positions[0]} and {positions[-1]} "
                             f"was changed on disk after chronik read it: {exc}") from exc


def line_chunks(index: Index, positions: list[int], path: str) -> Iterator[bytes]:
    """The lines of `positions` (ascending), as byte runs of consecutive lines."""
    ends = index.line_ends
    if not index.gapless:
        positions = [index.line_of(p) for p in positions]  # line numbers from here on
    run_start = 0
    for i in range(1, len(positions) + 1):
        run_first, previous = positions[run_start], positions[i - 1]
        run_bytes = ends[previous] - ends[run_first - 1]
        if i < len(positions) and positions[i] == previous + 1 and run_bytes < READ_CHUNK_BYTES:
            continue
        offset = ends[run_first - 1]
        chunk = pread(index.fd, run_bytes, offset, path)
        if len(chunk) != run_bytes:
            raise IntegrityError(f"{path} ended at byte {offset + len(chunk)} inside lines "
                                 f"{run_first}..{previous}: it was truncated outside chronik")
        yield chunk
        run_start = i


def line_runs(index: Index, page_lines: int, path: str) -> Iterator[tuple[int, int, bytes]]:
    """Every indexed line, `page_lines` at a time: (first line, last line, their bytes)."""
    lines = index.count
    for first in range(1, lines + 1, page_lines):
        last = min(first + page_lines - 1, lines)
        start, stop = index.line_ends[first - 1], index.line_ends[last]
        yield first, last, pread(index.fd, stop - start, start, path)

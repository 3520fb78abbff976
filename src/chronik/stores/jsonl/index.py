"""What the JSON Lines store keeps in memory about its file: an index, not the events.

The byte offset where each line ends, each stream's positions, version and last type/time, the
id -> position map for idempotency, the head hash and the per-type counts. Events are decoded
from the file when read (`chronik.stores.jsonl.read`). `Tail` describes what follows the last
complete commit (found by `chronik.stores.jsonl.scan`), and the storage finding it is.
"""

from __future__ import annotations

import bisect
import heapq
from array import array
from collections.abc import Iterable, Iterator

from chronik import codec
from chronik.errors import ValidationError
from chronik.model import ReadFilter
from chronik.stores.base import StorageFinding
from chronik.stores.jsonl.format import Record


class StreamState:
    __slots__ = ("positions", "version", "last_type", "last_time", "last_position")

    def __init__(self) -> None:
        self.positions = array("q")  # live positions: versions first_version..version
        self.version = 0
        self.last_type = ""
        self.last_time = ""
        self.last_position = 0

    @property
    def first_version(self) -> int:
        """The version of the first live event (earlier ones were archived by retention)."""
        return self.version - len(self.positions) + 1


class Index:
    """What the store knows about one data file: where each line ends, and per-stream facts.

    `line_ends[n]` is the byte offset just past line n (1-based) and `line_positions[n]` the
    position on it; `line_ends[0]` and `line_positions[0]` are 0, so line n is bytes
    [line_ends[n - 1], line_ends[n]). Positions increase line by line; they run 1..count with no
    gap unless retention archived some (a line after archived positions carries `skip`). `end`
    is always the end of a complete commit; `tail` is what the last scan found after it (bytes
    that are not a complete commit yet), with the file state it was seen in.
    """

    def __init__(self, fd: int, identity: tuple[int, int]) -> None:
        self.fd = fd
        self.identity = identity
        self.line_ends = array("q", [0])
        self.line_positions = array("q", [0])
        self.streams: dict[str, StreamState] = {}
        self.ids: dict[str, int] = {}
        self.types: dict[str, int] = {}
        self.head_hash = codec.GENESIS_HASH
        self.first_time: str | None = None
        self.last_time: str | None = None
        self.tail: Tail | None = None
        self.tail_seen: tuple[int, int] | None = None  # (size, mtime_ns) the tail was scanned at

    @property
    def count(self) -> int:
        return len(self.line_ends) - 1

    @property
    def end(self) -> int:
        return self.line_ends[-1]

    @property
    def head_position(self) -> int:
        """The last position (never archived, so always the last line's)."""
        return self.line_positions[-1]

    @property
    def gapless(self) -> bool:
        return self.line_positions[-1] == len(self.line_positions) - 1

    def line_of(self, position: int) -> int:
        """The line number holding `position` (which must be live)."""
        positions = self.line_positions
        if position < len(positions) and positions[position] == position:
            return position
        line = bisect.bisect_left(positions, position)
        assert line < len(positions) and positions[line] == position, "position must be live"
        return line

    def is_live(self, position: int) -> bool:
        line = bisect.bisect_left(self.line_positions, position)
        return 0 < line < len(self.line_positions) and self.line_positions[line] == position

    def live_positions(self, after: int, stop: int) -> Iterator[int]:
        """The live positions in (after, stop], ascending."""
        if self.gapless:
            return iter(range(max(after, 0) + 1, min(stop, self.head_position) + 1))
        positions = self.line_positions
        first = bisect.bisect_right(positions, max(after, 0))
        last = bisect.bisect_right(positions, stop)
        return iter(positions[first:last])

    def candidate_positions(self, after: int, stop: int, filter: ReadFilter) -> Iterator[int]:
        """Positions in (after, stop] worth decoding: a stream filter narrows them by the index."""
        low = max(after, 0)
        if not filter.streams:
            return self.live_positions(low, stop)
        runs: list[Iterable[int]] = []
        for stream in filter.streams:
            state = self.streams.get(stream)
            if state is not None:
                first = bisect.bisect_right(state.positions, low)
                last = bisect.bisect_right(state.positions, stop)
                runs.append(state.positions[first:last])
        return heapq.merge(*runs)

    def seed_stream(self, stream: str, version: int, position: int, type_: str, time_: str) -> None:
        """A stream whose every event was archived: its version continues from here."""
        state = self.streams.setdefault(stream, StreamState())
        if version > state.version:
            state.positions = array("q")
            state.version, state.last_position = version, position
            state.last_type, state.last_time = type_, time_

    def add(self, record: Record, line_end: int) -> None:
        line_ends = self.line_ends
        position = record.position
        assert position > self.line_positions[-1], "positions must increase"
        assert line_end > line_ends[-1], "lines must move forward through the file"
        line_ends.append(line_end)
        self.line_positions.append(position)
        state = self.streams.get(record.stream)
        if state is None:
            state = self.streams[record.stream] = StreamState()
        if record.version <= state.version:
            state.positions = array("q")  # a stale seed (a crash before the rewrite): start over
        state.positions.append(position)
        state.version, state.last_type, state.last_time = record.version, record.type, record.time
        state.last_position = position
        self.ids.setdefault(record.id, position)
        self.types[record.type] = self.types.get(record.type, 0) + 1
        self.head_hash = record.hash
        # The times of the first and last events by position (the only order), not min/max.
        if self.first_time is None:
            self.first_time = record.time
        self.last_time = record.time

    def check_removal(self, doomed: set[int]) -> list[tuple[str, StreamState]]:
        """The rules of `Store.remove_events`: never the head, and per stream only a prefix of
        its live events (so live versions stay contiguous). Returns the streams left without
        events."""
        if self.head_position in doomed:
            raise ValidationError("positions", f"position {self.head_position} is the head, which "
                                  f"retention never removes", "leave the newest event in place")
        emptied = []
        for name, state in self.streams.items():
            removed = sum(1 for p in state.positions if p in doomed)
            if any(p not in doomed for p in state.positions[:removed]):
                raise ValidationError("positions", f"{name}: only the oldest live events of a stream "
                                      f"may be removed", "remove a prefix of each stream")
            if removed and removed == len(state.positions):
                emptied.append((name, state))
        return emptied


class Tail:
    """What a scan found after the last complete commit it indexed."""

    def __init__(self, boundary: int, size: int, last_line: int, head_position: int) -> None:
        self.boundary = boundary  # end of the last complete commit (== index.end)
        self.size = size  # file size scanned up to
        self.last_line = last_line  # 1-based number of the last line of that commit
        self.head_position = head_position
        self.lines = 0  # lines in the tail, an unterminated last one included
        self.complete_records = 0  # of them, lines that decode as whole records
        self.commit_events: int | None = None  # events of the torn `more`-framed commit
        # A whole final commit whose last line only lacks its newline: kept, not dropped.
        # Each record with the offset its line ends at once its newline is added.
        self.unterminated_commit: list[tuple[Record, int]] = []

    @property
    def size_bytes(self) -> int:
        return self.size - self.boundary

    def finding(self, path: str) -> StorageFinding | None:
        """The storage finding this tail is, or None for a clean end of file."""
        if self.size_bytes <= 0:
            return None
        detail: dict[str, object] = {
            "path": path, "start": self.boundary, "end": self.size, "bytes": self.size_bytes,
            "records": self.lines, "complete_records": self.complete_records,
            "after_line": self.last_line, "after_position": self.head_position}
        where = (f"{path}: bytes {self.boundary}..{self.size} ({self.size_bytes} bytes, {self.lines} "
                 f"line(s)) after line {self.last_line} (position {self.head_position})")
        if self.unterminated_commit:
            events = len(self.unterminated_commit)
            detail.update(missing_newline=True, commit_events=events)
            return StorageFinding(code="torn_tail", detail=detail, message=(
                f"{where} are a complete commit of {events} event(s) without its final newline: "
                f"reads do not serve them; `chronik repair` (or the next append) adds the newline "
                f"and keeps them"))
        framed = ""
        if self.commit_events is not None:
            detail["commit_events"] = self.commit_events
            framed = (f"; they began a commit of {self.commit_events} events of which "
                      f"{self.complete_records} line(s) are whole")
        return StorageFinding(code="torn_tail", detail=detail, message=(
            f"{where} are not a complete commit{framed}: a write torn by a crash, or the file was "
            f"cut short (committed events lost unless an anchor or a copy says otherwise); reads "
            f"serve the events before it; `chronik repair` (or the next append) moves these bytes "
            f"to a quarantine file beside the ledger"))

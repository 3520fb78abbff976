"""`jsonl:///path` — the ledger as a JSON Lines file: one recorded event per line.

The line
--------
Each line is a compact JSON object with its keys in this fixed order::

    {"position":1,"stream":"order:1","version":1,"type":"created","id":"0192…","time":"2026-11-22T01:15:09.123456Z",
     "data":{"n":1},"meta":{},"prev":"000…","hash":"9f2…"}

- `data` and `meta` are the event's canonical JSON bytes (sorted keys, no whitespace) spliced in
  unchanged, so `codec.event_hash` recomputes every hash from the line alone.
- `sig` is present only when the event is signed; an unsigned event has no `sig` key (readers
  treat a missing `sig` as null).
- `more` (batch framing, below) is present only on lines that are not the last of their commit.
- Compact JSON never contains a raw newline byte, so a line is exactly one record and the file is
  `cat`-, `grep`- and `jq`-able as it stands.

Commits and framing
-------------------
One append call is one commit: all its lines, for every stream of the call, go to the file in a
single `os.write` on an `O_APPEND` descriptor, followed by `fsync` (unless the store was opened
with `?durability=relaxed`) before the call returns. A line that is not the last of its commit
carries a trailing `"more": k`, where k is the number of lines of the same commit still to follow;
the last line has no `more` key. So a commit of three events reads `more: 2`, `more: 1`, (none).

A reader accepts a commit only when all of its lines are present and newline-terminated. A crash
or power loss in the middle of a write therefore never exposes part of an append: the torn lines
are simply not a commit yet.

Opening and repair
------------------
A store is opened under the exclusive lock. Scanning from the top, every line must decode as a
record whose position is the previous one plus one and whose `more` counts down within a commit.

- A torn tail — an unterminated last line that is not a whole record, the lines of a commit whose
  last line is missing, zero bytes or other unparseable bytes after the last complete commit — is
  cut off (`ftruncate` + `fsync`). The repair is appended to `store.repairs` and logged as a
  warning on the "chronik" logger.
- A last record that is whole and completes its commit but lacks only its final newline is kept:
  the newline is added (and reported the same way). A complete record is never dropped.
- Unparseable bytes followed by any later line that decodes as a record, and any whole record
  whose position or framing is out of sequence, are corruption in the middle: the store refuses to
  open with `IntegrityError` naming the file and the 1-based line number, and changes nothing.

A writer runs the same check on the bytes other processes appended since it last looked, so a
torn tail left by a writer that died is repaired by the next one before it appends.

Locking and other processes
---------------------------
Writers serialise on `flock(LOCK_EX)` of `<file>.lock` — a separate file that is never renamed,
so the lock survives a compaction that replaces the data file — plus a `threading.Lock` for the
threads of one process. After taking the lock a writer compares the inode of the path with that
of its open descriptor (a replaced file is reloaded) and the file size with what it has indexed
(appends by other processes are read in). Readers take no file lock: before each call they stat
the file and read in any newly completed commits, never a partial one.

In memory the store keeps an index, not the events: the byte offset where each line ends, each
stream's positions, version and last type/time, the id -> position map for idempotency, the head
hash and the per-type counts. Events are decoded from the file when read, with consecutive lines
fetched in one `pread`.

Store descriptors must not be shared across `fork()`: open the ledger in the child.
"""

from __future__ import annotations

import bisect
import errno
import fcntl
import heapq
import itertools
import logging
import os
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from chronik import codec
from chronik.errors import IntegrityError, StorageError, ValidationError
from chronik.fileio import REAL, FileSystem
from chronik.model import AppendResult, Event, Head, StreamInfo
from chronik.stores.aux_sqlite import AuxDatabase
from chronik.stores.base import (
    READ_PAGE_ROWS,
    AuxChange,
    PendingEvent,
    ReadFilter,
    Store,
    StreamBatch,
    check_aux_changes,
    check_expectation,
    check_import,
    link_batch,
    matches,
    reject_partial_replay,
    replayed_result,
)

log = logging.getLogger("chronik")

DURABILITIES = ("full", "relaxed")
# Bytes read per pread while scanning the file for new lines.
SCAN_CHUNK_BYTES = 4 * 1024 * 1024
# Bytes read per pread while reading events (more only when one line alone is larger).
READ_CHUNK_BYTES = 4 * 1024 * 1024
# wait_for_change: how often it stats the file for growth or replacement.
CHANGE_POLL_S = 0.002


class Record(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """One line of the file. Field order is the key order on disk; defaults are omitted."""

    position: int
    stream: str
    version: int
    type: str
    id: str
    time: str
    data: msgspec.Raw
    meta: msgspec.Raw
    prev: str
    hash: str
    sig: str | None = None
    more: int = 0
    # Positions archived (removed by retention) just before this line; 0, and omitted, otherwise.
    skip: int = 0


_encode_record = msgspec.json.Encoder().encode
_decode_record = msgspec.json.Decoder(Record).decode
_decode_record_lines = msgspec.json.Decoder(Record).decode_lines
# Event ignores the unknown `more` key, so a plain read decodes lines straight into Events.
_decode_event_lines = msgspec.json.Decoder(Event).decode_lines


class _StreamState:
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


class _Index:
    """What the store knows about one data file: where each line ends, and per-stream facts.

    `line_ends[n]` is the byte offset just past line n (1-based) and `line_positions[n]` the
    position on it; `line_ends[0]` and `line_positions[0]` are 0, so line n is bytes
    [line_ends[n - 1], line_ends[n]). Positions increase line by line; they run 1..count with no
    gap unless retention archived some (a line after archived positions carries `skip`). `end`
    is always the end of a complete commit.
    """

    def __init__(self, fd: int, identity: tuple[int, int]) -> None:
        self.fd = fd
        self.identity = identity
        self.line_ends = array("q", [0])
        self.line_positions = array("q", [0])
        self.streams: dict[str, _StreamState] = {}
        self.ids: dict[str, int] = {}
        self.types: dict[str, int] = {}
        self.head_hash = codec.GENESIS_HASH
        self.first_time: str | None = None
        self.last_time: str | None = None

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

    def live_positions(self, after: int, stop: int) -> Iterator[int]:
        """The live positions in (after, stop], ascending."""
        if self.gapless:
            return iter(range(max(after, 0) + 1, min(stop, self.head_position) + 1))
        positions = self.line_positions
        first = bisect.bisect_right(positions, max(after, 0))
        last = bisect.bisect_right(positions, stop)
        return iter(positions[first:last])

    def seed_stream(self, stream: str, version: int, position: int, type_: str, time_: str) -> None:
        """A stream whose every event was archived: its version continues from here."""
        state = self.streams.setdefault(stream, _StreamState())
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
            state = self.streams[record.stream] = _StreamState()
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


class _Tail:
    """What a scan found after the last complete commit it indexed."""

    def __init__(self, boundary: int, size: int, last_line: int) -> None:
        self.boundary = boundary  # end of the last complete commit (== index.end)
        self.size = size  # file size scanned up to
        self.last_line = last_line  # 1-based number of the last line of that commit
        # A whole final commit whose last line only lacks its newline: kept, not dropped.
        # Each record with the offset its line ends at (the last one once its newline is added).
        self.unterminated_commit: list[tuple[Record, int]] = []

    @property
    def dropped_bytes(self) -> int:
        return self.size - self.boundary


# Auxiliary records (in the sidecar) of streams whose every event was archived by retention:
# their version, last position, type and time, so appends continue the stream's versions.
STREAM_FLOOR_KIND = "chronik.jsonl.stream_floor"


class JsonlStore(Store):
    def __init__(self, url: str, path: str, durability: str = "full", files: FileSystem = REAL) -> None:
        if durability not in DURABILITIES:
            raise StorageError(f"durability={durability!r} is not one of {list(DURABILITIES)}")
        self.url = url
        self.path = path
        self.durability = durability
        # Every write, fsync, truncate and rename of the data file goes through `files`, so
        # tests can inject faults (chronik.fileio).
        self.files = files
        # After a failed fsync the kernel may have dropped the dirty pages and cleared the
        # error ("fsyncgate"): nothing written since the last good fsync can be trusted, so the
        # store refuses writes until it is reopened and rescans the file.
        self._write_failure: str | None = None
        self.repairs: list[str] = []
        self._lock = threading.Lock()
        self._closed = False
        # Descriptors of files replaced by a compaction: reads already running may still use
        # them, so they are closed with the store rather than at the swap.
        self._retired_fds: list[int] = []
        self._lock_fd = -1
        self._index: _Index | None = None
        # Snapshots, checkpoints and read models live in a SQLite sidecar: they are rewritten
        # in place, which a line-per-event log cannot do, and they are not part of the chain.
        self._aux = AuxDatabase(path + ".aux.db", durability)
        try:
            self._open_files()
        except BaseException:
            self._close_fds()
            raise

    def _open_files(self) -> None:
        directory = Path(self.path).parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise _storage_error(exc, f"cannot open {self.path}.lock") from exc
        with self._file_lock():
            self._index = self._new_index(_open_data_file(self.path))
            self._sync_locked()

    # ------------------------------------------------------------ locking and syncing

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """The cross-process write lock. Callers already hold `self._lock` (or are __init__)."""
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        except OSError as exc:
            raise _storage_error(exc, f"cannot lock {self.path}.lock") from exc
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _new_index(self, fd: int) -> _Index:
        try:
            stat = os.fstat(fd)
        except OSError as exc:
            os.close(fd)
            raise _storage_error(exc, f"cannot stat {self.path}") from exc
        index = _Index(fd, (stat.st_dev, stat.st_ino))
        for stream, value in self._aux.key_range(STREAM_FLOOR_KIND, "", None, False, -1):
            floor = msgspec.json.decode(value)
            index.seed_stream(stream, floor["version"], floor["position"], floor["type"], floor["time"])
        return index

    def _current_index(self, writer: bool) -> _Index:
        """The index, brought up to date with the file. Called with `self._lock` held (and,
        for a writer, the file lock): swaps in a new index when the file was replaced."""
        assert self._index is not None
        try:
            stat = os.stat(self.path)
        except OSError as exc:
            raise _storage_error(exc, f"cannot stat {self.path}") from exc
        if (stat.st_dev, stat.st_ino) != self._index.identity:
            # Compaction (or anything else) renamed a new file into place: start over on it.
            self._retired_fds.append(self._index.fd)
            self._index = self._new_index(_open_data_file(self.path))
            log.info("chronik: %s was replaced; reloading it", self.path)
        index = self._index
        # The size of the file we hold open, which may be newer than the path we stat'ed.
        size = _file_size(index.fd, self.path)
        if size < index.end:
            raise IntegrityError(f"{self.path} shrank to {size} bytes, below the {index.end} "
                                 f"bytes of complete commits already read; something outside "
                                 f"chronik truncated it")
        if size != index.end:
            tail = _scan(index, self.path, size)
            if writer:
                self._repair_tail(index, tail)
        return index

    def _sync_locked(self) -> _Index:
        return self._current_index(writer=True)

    def _repair_tail(self, index: _Index, tail: _Tail) -> None:
        """Under the file lock no write is in flight, so an incomplete tail is left by a writer
        that died: keep a whole unterminated commit, cut everything else off."""
        if tail.unterminated_commit:
            self._check_writable()
            _write_all(index.fd, b"\n", self.path, self.files)
            self._fsync(index.fd)
            for record, line_end in tail.unterminated_commit:
                index.add(record, line_end)
            self._report(f"{self.path}: added the missing newline at the end of line {index.count}")
        elif tail.dropped_bytes > 0:
            self._check_writable()
            try:
                self.files.ftruncate(index.fd, tail.boundary)
            except OSError as exc:
                raise _storage_error(exc, f"cannot repair the torn tail of {self.path}") from exc
            self._fsync(index.fd)
            self._report(f"{self.path}: truncated {tail.dropped_bytes} bytes of an incomplete record "
                         f"or commit after line {tail.last_line}")

    def _report(self, repair: str) -> None:
        self.repairs.append(repair)
        log.warning("chronik: repaired %s", repair)

    # ------------------------------------------------------------ writing

    def _check_writable(self) -> None:
        if self._write_failure is not None:
            raise StorageError(f"{self.path}: {self._write_failure}; the store refuses further "
                               f"writes until it is reopened (what reached the disk is unknown)")

    def _fsync(self, fd: int) -> None:
        try:
            self.files.fsync(fd)
        except OSError as exc:
            self._write_failure = f"fsync failed ({os.strerror(exc.errno) if exc.errno else exc})"
            raise _storage_error(exc, f"cannot fsync {self.path}") from exc

    def append(self, batches: Sequence[StreamBatch]) -> dict[str, AppendResult]:
        with self._lock:
            self._check_open()
            self._check_writable()
            with self._file_lock():
                index = self._sync_locked()
                results, fresh = self._plan(index, batches)
                if fresh:
                    results.update(self._commit(index, fresh))
                return results

    def _plan(self, index: _Index, batches: Sequence[StreamBatch]
              ) -> tuple[dict[str, AppendResult], list[StreamBatch]]:
        """Idempotent retries and expectations: what is already recorded, what is to write."""
        results: dict[str, AppendResult] = {}
        fresh: list[StreamBatch] = []
        for batch in batches:
            replay = self._replayed(index, batch)
            if replay is not None:
                results[batch.stream] = replay
                continue
            state = index.streams.get(batch.stream)
            check_expectation(batch.stream, batch.expect, state.version if state else 0)
            fresh.append(batch)
        reject_partial_replay(results, fresh)
        return results, fresh

    def _replayed(self, index: _Index, batch: StreamBatch) -> AppendResult | None:
        if not any(p.id_given for p in batch.events):
            return None
        positions = [index.ids.get(p.id) for p in batch.events]
        known = sorted(p for p in positions if p is not None)
        by_position = {event.position: event for event in _events_at(index, known, self.path)}
        recorded = [None if p is None else by_position[p] for p in positions]
        return replayed_result(batch, recorded)

    def _commit(self, index: _Index, fresh: list[StreamBatch]) -> dict[str, AppendResult]:
        records, results = _link(index, fresh, self.signer)
        self._write_commit(index, records)
        return results

    def _write_commit(self, index: _Index, records: list[Record]) -> None:
        """One commit: every line in one write, fsynced, then indexed."""
        lines = [_encode_record(record) + b"\n" for record in records]
        for line in lines:
            assert line.count(b"\n") == 1, "a record must be exactly one line"
        start = index.end
        payload = b"".join(lines)
        try:
            _write_all(index.fd, payload, self.path, self.files)
            if self.durability == "full":
                self._fsync(index.fd)
            size = os.fstat(index.fd).st_size
        except (StorageError, OSError) as exc:
            self._undo_write(index.fd, start)
            raise StorageError(f"append to {self.path} failed; nothing was recorded: {exc}") from exc
        if size != start + len(payload):
            raise IntegrityError(f"{self.path} grew by {size - start} bytes for an append of "
                                 f"{len(payload)}: something outside chronik wrote to it")
        line_end = start
        for record, line in zip(records, lines, strict=True):
            line_end += len(line)
            index.add(record, line_end)

    def import_events(self, events: Sequence[Event]) -> None:
        if not events:
            return
        with self._lock:
            self._check_open()
            self._check_writable()
            with self._file_lock():
                index = self._sync_locked()

                def current_version(stream: str) -> int:
                    state = index.streams.get(stream)
                    return state.version if state else 0

                check_import(events, Head(index.head_position, index.head_hash), current_version,
                             index.ids.__contains__)
                total = len(events)
                encode = codec.encode_json
                records = [Record(e.position, e.stream, e.version, e.type, e.id, e.time,
                                  msgspec.Raw(encode(e.data)), msgspec.Raw(encode(e.meta)), e.prev,
                                  e.hash, e.sig, total - i - 1) for i, e in enumerate(events)]
                self._write_commit(index, records)

    def _undo_write(self, fd: int, start: int) -> None:
        # We hold the file lock, so bytes past `start` are ours and unacknowledged.
        try:
            self.files.ftruncate(fd, start)
            self.files.fsync(fd)
        except OSError as exc:
            log.error("chronik: could not undo a failed append to %s: %s", self.path, exc)

    # ------------------------------------------------------------ removing archived events

    def remove_events(self, positions: Sequence[int]) -> int:
        """Rewrite the file without `positions` (already archived): a new file written beside it,
        fsynced, renamed over it and the directory fsynced, all under the write lock, so other
        processes wait and then reload it (the inode changes). Positions are kept; the line after
        removed positions carries `skip`. Streams left without live events keep their version in
        the sidecar (written first, so a crash before the rename only leaves a harmless seed)."""
        with self._lock:
            self._check_open()
            self._check_writable()
            with self._file_lock():
                index = self._sync_locked()
                doomed = {p for p in positions if _is_live(index, p)}
                if not doomed:
                    return 0
                emptied = _check_removal(index, doomed)
                if emptied:
                    self._aux.write([AuxChange(STREAM_FLOOR_KIND, name, msgspec.json.encode(
                        {"version": st.version, "position": st.last_position, "type": st.last_type,
                         "time": st.last_time})) for name, st in emptied])
                self._rewrite(index, doomed)
                self._retired_fds.append(index.fd)
                self._index = self._new_index(_open_data_file(self.path))
                self._sync_locked()
                return len(doomed)

    def _rewrite(self, index: _Index, doomed: set[int]) -> None:
        temporary = self.path + ".rewrite"
        files = self.files
        try:
            fd = files.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            raise _storage_error(exc, f"cannot create {temporary}") from exc
        try:
            try:
                self._write_kept_lines(index, doomed, fd, temporary)
                self._fsync_other(fd, temporary)
            finally:
                files.close(fd)
            try:
                files.rename(temporary, self.path)
            except OSError as exc:
                raise _storage_error(exc, f"cannot rename {temporary} to {self.path}") from exc
        except BaseException:
            try:
                files.unlink(temporary)
            except OSError:
                pass  # best effort: a leftover is truncated by the next rewrite
            raise
        try:
            files.fsync_directory(self.path)
        except OSError as exc:
            raise _storage_error(exc, f"cannot fsync the directory of {self.path} after "
                                      f"replacing it (the archive holds the removed events)") from exc

    def _write_kept_lines(self, index: _Index, doomed: set[int], fd: int, target: str) -> None:
        kept_before = 0
        buffer: list[bytes] = []
        size = 0
        lines = index.count
        for first in range(1, lines + 1, READ_PAGE_ROWS):
            last = min(first + READ_PAGE_ROWS - 1, lines)
            start, stop = index.line_ends[first - 1], index.line_ends[last]
            chunk = _pread(index.fd, stop - start, start, self.path)
            with _changed_on_disk(self.path, [index.line_positions[first], index.line_positions[last]]):
                records = _decode_record_lines(chunk)
            for record in records:
                if record.position in doomed:
                    continue
                record.more = 0
                record.skip = record.position - kept_before - 1
                kept_before = record.position
                line = _encode_record(record) + b"\n"
                buffer.append(line)
                size += len(line)
            if size >= READ_CHUNK_BYTES:
                _write_all(fd, b"".join(buffer), target, self.files)
                buffer, size = [], 0
        _write_all(fd, b"".join(buffer), target, self.files)

    def _fsync_other(self, fd: int, path: str) -> None:
        try:
            self.files.fsync(fd)
        except OSError as exc:
            raise _storage_error(exc, f"cannot fsync {path}") from exc

    # ------------------------------------------------------------ reading

    def _reader_index(self) -> _Index:
        with self._lock:
            self._check_open()
            return self._current_index(writer=False)

    def read_stream(self, stream: str, start: int, end: int | None, backwards: bool,
                    limit: int | None) -> Iterator[Event]:
        with self._lock:
            self._check_open()
            index = self._current_index(writer=False)
            state = index.streams.get(stream)
            positions = state.positions if state else array("q")
            first_version = state.first_version if state else 1
            last = len(positions) if end is None else min(end - first_version + 1, len(positions))
            selected = positions[max(start - first_version, 0):max(last, 0)].tolist()
        if backwards:
            selected.reverse()
        if limit is not None:
            selected = selected[:limit]
        return self._events_in_order(index, selected)

    def _events_in_order(self, index: _Index, positions: list[int]) -> Iterator[Event]:
        for page_start in range(0, len(positions), READ_PAGE_ROWS):
            page = positions[page_start:page_start + READ_PAGE_ROWS]
            self._check_open()
            events = {e.position: e for e in _events_at(index, sorted(page), self.path)}
            yield from (events[p] for p in page)

    def read_all(self, after: int, limit: int | None, filter: ReadFilter,
                 until_position: int | None = None) -> Iterator[Event]:
        index = self._reader_index()
        head = index.head_position
        stop = head if until_position is None else min(until_position, head)
        return itertools.islice(self._scan_events(index, after, stop, filter), limit)

    def _scan_events(self, index: _Index, after: int, stop: int, filter: ReadFilter) -> Iterator[Event]:
        candidates = _candidate_positions(index, after, stop, filter)
        while True:
            page = list(itertools.islice(candidates, READ_PAGE_ROWS))
            if not page:
                return
            self._check_open()
            if filter.is_empty:
                yield from _events_at(index, page, self.path)
            else:
                yield from _matching_events_at(index, page, filter, self.path)

    def count(self, filter: ReadFilter, after: int = 0) -> int:
        index = self._reader_index()
        stop = index.head_position
        if filter.is_empty:
            return len(index.line_positions) - bisect.bisect_right(index.line_positions, max(after, 0))
        if filter == ReadFilter(streams=filter.streams):
            return sum(1 for _ in _candidate_positions(index, after, stop, filter))
        return sum(1 for _ in self._scan_events(index, after, stop, filter))

    def streams(self, category: str | None) -> list[StreamInfo]:
        with self._lock:
            self._check_open()
            index = self._current_index(writer=False)
            return [StreamInfo(name, state.version, state.last_position, state.last_type, state.last_time)
                    for name, state in sorted(index.streams.items())
                    if category is None or name.partition(":")[0] == category]

    def head(self) -> Head:
        with self._lock:
            self._check_open()
            index = self._current_index(writer=False)
            return Head(index.head_position, index.head_hash)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            self._check_open()
            index = self._current_index(writer=False)
            return {
                "events": index.count,
                "streams": len(index.streams),
                "size_bytes": _file_size(index.fd, self.path),
                "first_time": index.first_time,
                "last_time": index.last_time,
                "types": dict(sorted(index.types.items())),
            }

    # ------------------------------------------------------------ change detection

    def wait_for_change(self, known_position: int, timeout_s: float) -> bool:
        """Stat the file until its size or inode changes (an append, or a compaction that
        replaced it), then read the head; a partial commit changes the size but not the head."""
        deadline = time.monotonic() + max(timeout_s, 0.0)
        identity = self._file_identity()  # before the head: a commit in between is seen
        while True:
            if self.head().position > known_position:
                return True
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                time.sleep(min(CHANGE_POLL_S, remaining))
                current = self._file_identity()
                if current != identity:
                    identity = current
                    break

    def _file_identity(self) -> tuple[int, int, int]:
        self._check_open()
        try:
            stat = os.stat(self.path)
        except OSError as exc:
            raise _storage_error(exc, f"cannot stat {self.path}") from exc
        return stat.st_ino, stat.st_size, stat.st_mtime_ns

    # ------------------------------------------------------------ closing

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._close_fds()
            self._aux.close()

    # ------------------------------------------------------------ auxiliary records

    def aux_get(self, kind: str, key: str) -> bytes | None:
        self._check_open()
        return self._aux.get(kind, key)

    def aux_range(self, kind: str, low: str = "", high: str | None = None, reverse: bool = False,
                  limit: int | None = None) -> list[tuple[str, bytes]]:
        self._check_open()
        return self._aux.key_range(kind, low, high, reverse, limit if limit is not None else -1)

    def aux_write(self, changes: Sequence[AuxChange]) -> None:
        changes = check_aux_changes(changes)
        self._check_open()
        self._aux.write(changes)

    def _close_fds(self) -> None:
        fds = list(self._retired_fds)
        if self._index is not None:
            fds.append(self._index.fd)
        if self._lock_fd >= 0:
            fds.append(self._lock_fd)
        self._retired_fds.clear()
        self._lock_fd = -1
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass  # closing is best effort; the descriptor is gone either way

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the ledger is closed; open it again")


# ---------------------------------------------------------------- scanning the file


def _scan(index: _Index, path: str, size: int) -> _Tail:
    """Index every complete commit between `index.end` and `size`; describe what is left.

    Raises IntegrityError for corruption: a whole record out of sequence, or unparseable bytes
    followed by a line that decodes as a record. Nothing is changed on disk here.
    """
    scanner = _Scanner(index, path)
    offset = index.end
    leftover = b""
    while offset < size:
        chunk = _pread(index.fd, min(SCAN_CHUNK_BYTES, size - offset), offset, path)
        if not chunk:
            size = offset  # the file shrank while we read: scan what we have
            break
        buffer = leftover + chunk
        offset += len(chunk)
        last_newline = buffer.rfind(b"\n")
        line_end = offset - len(buffer)  # where the buffer starts in the file
        if last_newline >= 0:
            for line in buffer[:last_newline].split(b"\n"):
                line_end += len(line) + 1
                scanner.line(line, line_end)
        leftover = buffer[last_newline + 1:]
    return scanner.finish(leftover, size)


class _Scanner:
    """Checks lines in file order and adds each commit to the index once its last line is in."""

    def __init__(self, index: _Index, path: str) -> None:
        self.index = index
        self.path = path
        self.line_no = index.count  # one line per indexed event
        self.commit: list[tuple[Record, int]] = []  # lines of the commit still open
        self.first_junk: int | None = None  # line number of the first unparseable line

    def line(self, raw: bytes, line_end: int) -> None:
        self.line_no += 1
        record = _try_decode(raw)
        if self.first_junk is not None:
            if record is not None:
                raise self._corrupt(self.first_junk, "unparseable line followed by more records")
            return
        if record is None:
            if _looks_like_a_damaged_record(raw):
                # A torn write leaves a partial line or zeros, not a whole line shaped like a
                # record: this one was written, acknowledged and changed since. Refuse rather
                # than "repair" an acknowledged event away.
                raise self._corrupt(self.line_no, "a complete record that no longer parses (changed "
                                                  "after it was written)")
            self.first_junk = self.line_no
            return
        problem = self._sequence_problem(record)
        if problem:
            raise self._corrupt(self.line_no, problem)
        if record.more:
            self.commit.append((record, line_end))
            return
        for done, end in self.commit:
            self.index.add(done, end)
        self.commit.clear()
        self.index.add(record, line_end)

    def finish(self, unterminated: bytes, size: int) -> _Tail:
        tail = _Tail(self.index.end, size, self.index.count)
        if not unterminated:
            return tail
        self.line_no += 1
        record = _try_decode(unterminated)
        if record is None:
            return tail
        if self.first_junk is not None:
            raise self._corrupt(self.first_junk, "unparseable line followed by more records")
        problem = self._sequence_problem(record)
        if problem:
            raise self._corrupt(self.line_no, problem)
        if record.more == 0:
            tail.unterminated_commit = [*self.commit, (record, size + 1)]
        return tail

    def _sequence_problem(self, record: Record) -> str | None:
        last = self.commit[-1][0].position if self.commit else self.index.head_position
        expected_position = last + 1 + record.skip
        if record.skip < 0 or record.position != expected_position:
            return f"position {record.position} where {expected_position} was expected"
        expected_more = self.commit[-1][0].more - 1 if self.commit else None
        if record.more < 0 or (expected_more is not None and record.more != expected_more):
            return f"batch framing \"more\": {record.more} where {expected_more} was expected"
        return None

    def _corrupt(self, line_no: int, problem: str) -> IntegrityError:
        return IntegrityError(f"{self.path} is corrupt at line {line_no}: {problem}; refusing to "
                              f"open it (nothing was changed). Restore it from a copy, or inspect "
                              f"the line with: sed -n {line_no}p {self.path}")


def _is_live(index: _Index, position: int) -> bool:
    line = bisect.bisect_left(index.line_positions, position)
    return 0 < line < len(index.line_positions) and index.line_positions[line] == position


def _check_removal(index: _Index, doomed: set[int]) -> list[tuple[str, _StreamState]]:
    """The rules of `Store.remove_events`: never the head, and per stream only a prefix of its
    live events (so live versions stay contiguous). Returns the streams left without events."""
    if index.head_position in doomed:
        raise ValidationError("positions", f"position {index.head_position} is the head, which "
                              f"retention never removes", "leave the newest event in place")
    emptied = []
    for name, state in index.streams.items():
        removed = sum(1 for p in state.positions if p in doomed)
        if any(p not in doomed for p in state.positions[:removed]):
            raise ValidationError("positions", f"{name}: only the oldest live events of a stream "
                                  f"may be removed", "remove a prefix of each stream")
        if removed and removed == len(state.positions):
            emptied.append((name, state))
    return emptied


def _looks_like_a_damaged_record(raw: bytes) -> bool:
    line = raw.rstrip(b"\r\n")
    return (line.endswith(b"}") and b"\x00" not in line
            and (line.startswith(b'{"position":') or b'"hash":"' in line))


def _try_decode(raw: bytes) -> Record | None:
    """The record on a line, or None when the line is not one. The record decoder checks the
    JSON syntax of data/meta but skips their bytes unchecked, so UTF-8 is checked first and
    the first byte after: it is cheaper than decoding data and meta twice."""
    try:
        record = _decode_record(raw.decode("utf-8"))
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    if not (bytes(record.data).startswith(b"{") and bytes(record.meta).startswith(b"{")):
        return None
    return record


# ---------------------------------------------------------------- linking new records


def _link(index: _Index, fresh: list[StreamBatch], signer: Callable[[str], str] | None = None
          ) -> tuple[list[Record], dict[str, AppendResult]]:
    """Positions, versions, chain hashes, signatures and framing for the records of one commit."""
    total = sum(len(batch.events) for batch in fresh)
    position, prev = index.head_position + 1, index.head_hash
    records: list[Record] = []
    results: dict[str, AppendResult] = {}
    for batch in fresh:
        state = index.streams.get(batch.stream)
        links = link_batch(batch.stream, batch.events, position, (state.version if state else 0) + 1, prev,
                           signer)
        for pending, link in zip(batch.events, links, strict=True):
            records.append(_record(batch.stream, pending, link.position, link.version, link.prev,
                                   link.hash, more=total - len(records) - 1, sig=link.sig))
        results[batch.stream] = AppendResult(links[0].position, links[-1].position, links[-1].version,
                                             [p.id for p in batch.events])
        position, prev = links[-1].position + 1, links[-1].hash
    return records, results


def _record(stream: str, pending: PendingEvent, position: int, version: int, prev: str, hash_: str,
            more: int, sig: str | None = None) -> Record:
    return Record(position, stream, version, pending.type, pending.id, pending.time,
                  msgspec.Raw(pending.data), msgspec.Raw(pending.meta), prev, hash_, sig, more)


# ---------------------------------------------------------------- reading events


def _candidate_positions(index: _Index, after: int, stop: int, filter: ReadFilter) -> Iterator[int]:
    """Positions in (after, stop] worth decoding: a stream filter narrows them by the index."""
    low = max(after, 0)
    if not filter.streams:
        return index.live_positions(low, stop)
    runs: list[Iterable[int]] = []
    for stream in filter.streams:
        state = index.streams.get(stream)
        if state is not None:
            first = bisect.bisect_right(state.positions, low)
            last = bisect.bisect_right(state.positions, stop)
            runs.append(state.positions[first:last])
    return heapq.merge(*runs)


def _events_at(index: _Index, positions: list[int], path: str) -> list[Event]:
    """The events at `positions` (ascending), consecutive lines fetched together."""
    events: list[Event] = []
    for chunk in _line_chunks(index, positions, path):
        with _changed_on_disk(path, positions):
            events.extend(_decode_event_lines(chunk))
    return events


def _matching_events_at(index: _Index, positions: list[int], filter: ReadFilter, path: str) -> list[Event]:
    events: list[Event] = []
    for chunk in _line_chunks(index, positions, path):
        with _changed_on_disk(path, positions):
            records = _decode_record_lines(chunk)
        for record in records:
            data, meta = bytes(record.data), bytes(record.meta)
            if matches(record, data, meta, filter):  # type: ignore[arg-type]  # duck-typed Event
                events.append(Event(record.position, record.stream, record.version, record.type,
                                    record.id, record.time, codec.decode_object(data),
                                    codec.decode_object(meta), record.prev, record.hash, record.sig))
    return events


@contextmanager
def _changed_on_disk(path: str, positions: list[int]) -> Iterator[None]:
    """Lines were checked when indexed; failing to decode now means they were edited since."""
    try:
        yield
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{path}: a line between positions {positions[0]} and {positions[-1]} "
                             f"was changed on disk after chronik read it: {exc}") from exc


def _line_chunks(index: _Index, positions: list[int], path: str) -> Iterator[bytes]:
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
        chunk = _pread(index.fd, run_bytes, offset, path)
        if len(chunk) != run_bytes:
            raise IntegrityError(f"{path} ended at byte {offset + len(chunk)} inside lines "
                                 f"{run_first}..{previous}: it was truncated outside chronik")
        yield chunk
        run_start = i


# ---------------------------------------------------------------- file operations


def _open_data_file(path: str) -> int:
    """Open (creating if need be) the data file for appending; a new file's directory entry is
    fsynced so the file itself survives a crash."""
    flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
    try:
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return os.open(path, flags)
        REAL.fsync_directory(path)
        return fd
    except OSError as exc:
        raise _storage_error(exc, f"cannot open {path}") from exc


def _write_all(fd: int, payload: bytes, path: str, files: FileSystem = REAL) -> None:
    """One write for the whole payload; a short write (disk full, >2 GiB) continues, and the
    framing keeps the commit atomic for readers meanwhile."""
    try:
        files.write_all(fd, payload)
    except OSError as exc:
        raise _storage_error(exc, f"cannot write to {path}") from exc


def _pread(fd: int, size: int, offset: int, path: str) -> bytes:
    try:
        return os.pread(fd, size, offset)
    except OSError as exc:
        raise _storage_error(exc, f"cannot read {path}") from exc


def _file_size(fd: int, path: str) -> int:
    try:
        return os.fstat(fd).st_size
    except OSError as exc:
        raise _storage_error(exc, f"cannot stat {path}") from exc


def _storage_error(exc: OSError, context: str) -> StorageError:
    if exc.errno == errno.EBADF:
        return StorageError(f"{context}: the ledger is closed; open it again")
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return StorageError(f"{context}: {reason}")

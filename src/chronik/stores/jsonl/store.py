"""`JsonlStore`: the ledger as a JSON Lines file (the line format: `chronik.stores.jsonl.format`).

Commits. One append call is one commit: all its lines, for every stream of the call, go to the
file in a single `os.write` on an `O_APPEND` descriptor, followed by `fsync` (unless opened with
`?durability=relaxed`) before the call returns; the `more` framing makes the commit atomic for
readers. `import_events` commits every IMPORT_COMMIT_EVENTS events, so a torn tail never costs a
bulk import or copy more than one such chunk (it is atomic per chunk, not as a whole).

Reading never changes the file. A torn tail (`chronik.stores.jsonl.scan`) is not served and is
reported by `check_storage()`; `repair()`, or the next write, moves it to a quarantine file
(`chronik.stores.jsonl.repair`).

Locking. Writers serialise on `flock(LOCK_EX)` of `<file>.lock` — a separate file that is never
renamed, so the lock survives a compaction that replaces the data file — plus a
`threading.Lock` for the threads of one process. After taking the lock a writer compares the
inode of the path with that of its open descriptor (a replaced file is reloaded) and reads in
what other processes appended. Readers take no file lock: before each call they stat the file and
read in any newly completed commits, never a partial one. `check_storage` takes the lock shared,
only to wait until no write is in flight.

Read-only (`read_only=True`): nothing is created (a missing ledger is NotFound), the data file is
opened O_RDONLY, the lock file is neither created nor taken for reading, and every write raises
StorageError.

Store descriptors must not be shared across `fork()`: open the ledger in the child.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import os
import threading
from array import array
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec

import chronik.stores.jsonl.files as jfiles
from chronik.errors import IntegrityError, StorageError
from chronik.fileio import REAL, FileSystem
from chronik.model import AppendResult, Event, Head, StreamInfo
from chronik.stores.aux_sqlite import AuxDatabase
from chronik.stores.base import (
    READ_PAGE_ROWS,
    AuxChange,
    ReadFilter,
    Signer,
    StorageFinding,
    Store,
    StreamBatch,
    check_aux_changes,
    check_import,
)
from chronik.stores.jsonl.commit import CommitWriter, link, plan
from chronik.stores.jsonl.index import Index
from chronik.stores.jsonl.read import events_at, matching_events_at
from chronik.stores.jsonl.repair import repair_tail
from chronik.stores.jsonl.rewrite import rewrite_without
from chronik.stores.jsonl.scan import scan
from chronik.stores.leases import DEFAULT_LEASE_WAIT_S, Lease, take_file_lease

log = logging.getLogger("chronik")

DURABILITIES = ("full", "relaxed")
# Events per commit of import_events (import, copy): what one torn tail can cost at most.
IMPORT_COMMIT_EVENTS = 1_000
# Auxiliary records (in the sidecar) of streams whose every event was archived by retention:
# their version, last position, type and time, so appends continue the stream's versions.
STREAM_FLOOR_KIND = "chronik.jsonl.stream_floor"


class FileShrank(IntegrityError):
    """The file got shorter than the complete commits this store already read: committed
    events were cut outside chronik while it was open."""

    def __init__(self, path: str, size: int, committed_end: int) -> None:
        self.size, self.committed_end = size, committed_end
        super().__init__(f"{path} shrank to {size} bytes, below the {committed_end} bytes of complete "
                         f"commits already read; something outside chronik truncated it")


class JsonlStore(Store):
    path: str

    def __init__(self, url: str, path: str, durability: str = "full", files: FileSystem = REAL,
                 read_only: bool = False) -> None:
        if durability not in DURABILITIES:
            raise StorageError(f"durability={durability!r} is not one of {list(DURABILITIES)}")
        self.url = url
        self.path = path
        self.durability = durability
        self.read_only = read_only
        # Every write, fsync, truncate and rename goes through `files` (chronik.fileio), so tests
        # can count fsyncs and inject faults.
        self.files = files
        self._writer = CommitWriter(path, files, durability, read_only)
        self.repairs: list[StorageFinding] = []  # tail repairs this store made, in order
        self._lock = threading.Lock()
        self._closed = False
        # Descriptors of files replaced by a compaction: reads already running may still use
        # them, so they are closed with the store rather than at the swap.
        self._retired_fds: list[int] = []
        self._lock_fd = -1
        self._index: Index | None = None
        # Snapshots, checkpoints and read models live in a SQLite sidecar: they are rewritten
        # in place, which a line-per-event log cannot do, and they are not part of the chain.
        self._aux = AuxDatabase(path + ".aux.db", durability, read_only=read_only)
        try:
            if not read_only:
                jfiles.make_folders(path, files)
            data_fd = jfiles.open_data_file(path, files, read_only)
            self._index = self._new_index(data_fd)
            self._lock_fd = jfiles.open_lock_file(path, read_only)
            self._current_index(writer=False)
        except BaseException:
            self._close_fds()
            self._aux.close()
            raise

    # ------------------------------------------------------------ the index and the file

    def _new_index(self, fd: int) -> Index:
        try:
            stat = os.fstat(fd)
        except OSError as exc:
            os.close(fd)
            raise jfiles.os_error(exc, "cannot stat", self.path) from exc
        index = Index(fd, (stat.st_dev, stat.st_ino))
        if os.path.exists(self._aux.path):  # reading must not create the sidecar
            try:
                floors = self._aux.key_range(STREAM_FLOOR_KIND, "", None, False, -1)
            except BaseException:
                os.close(fd)
                raise
            for stream, value in floors:
                floor = msgspec.json.decode(value)
                index.seed_stream(stream, floor["version"], floor["position"], floor["type"], floor["time"])
        return index

    def _current_index(self, writer: bool, rescan: bool = False) -> Index:
        """The index, brought up to date with the file. Called with `self._lock` held (and,
        for a writer, the file lock): swaps in a new index when the file was replaced; a writer
        repairs the tail first, so it appends after a complete commit."""
        assert self._index is not None
        stat = jfiles.path_stat(self.path)
        if (stat.st_dev, stat.st_ino) != self._index.identity:
            # Compaction (or anything else) renamed a new file into place: start over on it.
            self._retired_fds.append(self._index.fd)
            self._index = self._new_index(jfiles.open_data_file(self.path, self.files, self.read_only))
            log.info("chronik: %s was replaced; reloading it", self.path)
        index = self._index
        # The size of the file we hold open, which may be newer than the path we stat'ed.
        size, mtime_ns = jfiles.file_state(index.fd, self.path)
        if size < index.end:
            raise FileShrank(self.path, size, index.end)
        if size == index.end:
            if index.tail is not None:
                index.tail, index.tail_seen = None, None
            return index
        # A reader rescans a torn tail only when the file changed since it last looked.
        if writer or rescan or index.tail_seen != (size, mtime_ns):
            index.tail, index.tail_seen = scan(index, self.path, size), (size, mtime_ns)
        if writer and index.tail is not None:
            self._writer.check_writable("repair the tail")
            repaired = repair_tail(index, index.tail, self.path, self.files, self._writer.fsync)
            if repaired is not None:
                self.repairs.append(repaired)
        return index

    def check_storage(self, thorough: bool = False) -> list[StorageFinding]:
        """A torn tail (`torn_tail`, with its byte range and record counts) or corruption
        (`unreadable`), without changing anything. `thorough` rescans the whole file, so lines
        changed since the store read them are found too."""
        with self._lock:
            self._check_open()
            if self._lock_fd < 0:  # read-only, and no writer had made the lock file: has one now?
                self._lock_fd = jfiles.open_lock_file(self.path, read_only=True)
            with jfiles.locked(self._lock_fd, self.path, shared=True):  # no write in flight
                try:
                    index = self._current_index(writer=False, rescan=True)
                    if thorough:
                        fresh = Index(index.fd, index.identity)
                        scan(fresh, self.path, index.end)
                except FileShrank as exc:
                    return [StorageFinding(code="cut_tail", message=str(exc), detail={
                        "path": self.path, "start": exc.size, "end": exc.committed_end,
                        "bytes": exc.committed_end - exc.size})]
                except IntegrityError as exc:
                    return [StorageFinding(code="unreadable", message=str(exc), detail={"path": self.path})]
                finding = None if index.tail is None else index.tail.finding(self.path)
        return [] if finding is None else [finding]

    def repair(self) -> list[StorageFinding]:
        """Repair a torn tail: its bytes moved to a quarantine file (named in the finding), or a
        missing final newline added. What was repaired ([] when the file was clean)."""
        with self._lock:
            self._check_open()
            self._writer.check_writable("repair")
            with jfiles.locked(self._lock_fd, self.path):
                before = len(self.repairs)
                self._current_index(writer=True)
                return self.repairs[before:]

    # ------------------------------------------------------------ writing

    def append(self, batches: Sequence[StreamBatch], signer: Signer | None = None) -> dict[str, AppendResult]:
        with self._lock:
            self._check_open()
            self._writer.check_writable("append")
            with jfiles.locked(self._lock_fd, self.path):
                index = self._current_index(writer=True)
                results, fresh = plan(index, batches, self.path)
                if fresh:
                    records, linked = link(index, fresh, signer)
                    self._writer.commit(index, records)
                    results.update(linked)
                return results

    def import_events(self, events: Sequence[Event]) -> None:
        """Verbatim, in commits of IMPORT_COMMIT_EVENTS events: atomic per commit, not as a
        whole; a failure names what was committed before it."""
        if not events:
            return
        with self._lock:
            self._check_open()
            self._writer.check_writable("import events")
            with jfiles.locked(self._lock_fd, self.path):
                index = self._current_index(writer=True)

                def current_version(stream: str) -> int:
                    state = index.streams.get(stream)
                    return state.version if state else 0

                check_import(events, Head(index.head_position, index.head_hash), current_version,
                             index.ids.__contains__)
                self._writer.commit_in_chunks(index, events, IMPORT_COMMIT_EVENTS)

    # ------------------------------------------------------------ removing archived events

    def remove_events(self, positions: Sequence[int]) -> int:
        """Rewrite the file without `positions` (already archived; chronik.stores.jsonl.rewrite).
        Streams left without live events keep their version in the sidecar (written first, so a
        crash before the rename only leaves a harmless seed)."""
        with self._lock:
            self._check_open()
            self._writer.check_writable("remove events")
            with jfiles.locked(self._lock_fd, self.path):
                index = self._current_index(writer=True)
                doomed = {p for p in positions if index.is_live(p)}
                if not doomed:
                    return 0
                emptied = index.check_removal(doomed)
                if emptied:
                    self._aux.write([AuxChange(STREAM_FLOOR_KIND, name, msgspec.json.encode(
                        {"version": st.version, "position": st.last_position, "type": st.last_type,
                         "time": st.last_time})) for name, st in emptied])
                rewrite_without(index, doomed, self.path, self.files)
                self._retired_fds.append(index.fd)
                self._index = self._new_index(jfiles.open_data_file(self.path, self.files, False))
                self._current_index(writer=True)
                return len(doomed)

    # ------------------------------------------------------------ reading

    def _reader_index(self) -> Index:
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

    def _events_in_order(self, index: Index, positions: list[int]) -> Iterator[Event]:
        for page_start in range(0, len(positions), READ_PAGE_ROWS):
            page = positions[page_start:page_start + READ_PAGE_ROWS]
            self._check_open()
            events = {e.position: e for e in events_at(index, sorted(page), self.path)}
            yield from (events[p] for p in page)

    def read_all(self, after: int, limit: int | None, filter: ReadFilter,
                 until_position: int | None = None) -> Iterator[Event]:
        index = self._reader_index()
        head = index.head_position
        stop = head if until_position is None else min(until_position, head)
        return itertools.islice(self._scan_events(index, after, stop, filter), limit)

    def _scan_events(self, index: Index, after: int, stop: int, filter: ReadFilter) -> Iterator[Event]:
        candidates = index.candidate_positions(after, stop, filter)
        while True:
            page = list(itertools.islice(candidates, READ_PAGE_ROWS))
            if not page:
                return
            self._check_open()
            if filter.is_empty:
                yield from events_at(index, page, self.path)
            else:
                yield from matching_events_at(index, page, filter, self.path)

    def count(self, filter: ReadFilter, after: int = 0) -> int:
        index = self._reader_index()
        stop = index.head_position
        if filter.is_empty:
            return len(index.line_positions) - bisect.bisect_right(index.line_positions, max(after, 0))
        if filter == ReadFilter(streams=filter.streams):
            return sum(1 for _ in index.candidate_positions(after, stop, filter))
        return sum(1 for _ in self._scan_events(index, after, stop, filter))

    def streams(self, category: str | None) -> list[StreamInfo]:
        with self._lock:  # a writer thread may be adding streams
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
                "size_bytes": jfiles.file_state(index.fd, self.path)[0],
                "first_time": index.first_time,
                "last_time": index.last_time,
                "types": dict(sorted(index.types.items())),
            }

    def lease(self, name: str, wait_s: float = DEFAULT_LEASE_WAIT_S) -> Lease:
        """flock on `<file>.lease-<name>` (chronik.stores.leases), apart from the write lock."""
        self._check_open()
        self._writer.check_writable("take a lease")
        return take_file_lease(self.path, name, wait_s, self.aux_write)

    # ------------------------------------------------------------ change detection

    def change_signal(self) -> jfiles.FileChangeSignal:
        self._check_open()
        return jfiles.FileChangeSignal(self.path)

    # ------------------------------------------------------------ auxiliary records and closing

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
        self._writer.check_writable("write auxiliary records")
        self._aux.write(changes)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._close_fds()
            self._aux.close()

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

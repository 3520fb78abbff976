"""Making a commit in a JSON Lines ledger: what to write (idempotent retries, expectations), the
records linked and framed, written in one `write`, fsynced, checked and indexed — or undone,
writing nothing.

After a failed fsync the kernel may have dropped the dirty pages and cleared the error
("fsyncgate"): nothing written since the last good fsync can be trusted, so the writer refuses
every later write until the store is reopened and rescans the file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import msgspec

from chronik.errors import IntegrityError, StorageError
from chronik.fileio import FileSystem
from chronik.model import AppendResult, Event
from chronik.stores.base import (
    Signer,
    StreamBatch,
    check_expectation,
    link_batch,
    reject_partial_replay,
    replayed_result,
)
from chronik.stores.jsonl.files import os_error, write_all
from chronik.stores.jsonl.format import Record, encode, record_of_event
from chronik.stores.jsonl.index import Index
from chronik.stores.jsonl.read import events_at

log = logging.getLogger("chronik")


class CommitWriter:
    """Writes whole commits to one ledger file; the caller holds the write lock."""

    def __init__(self, path: str, files: FileSystem, durability: str, read_only: bool) -> None:
        self.path = path
        self.files = files
        self.durable = durability == "full"
        self.read_only = read_only
        self.failure: str | None = None  # set by a failed fsync: refuse writes until reopened

    def check_writable(self, doing: str) -> None:
        if self.read_only:
            raise StorageError(f"cannot {doing}: {self.path} was opened read-only (nothing was "
                               f"written); open it without read_only to write")
        if self.failure is not None:
            raise StorageError(f"{self.path}: {self.failure}; the store refuses further writes "
                               f"until it is reopened (what reached the disk is unknown)")

    def fsync(self, fd: int) -> None:
        try:
            self.files.fsync(fd)
        except OSError as exc:
            self.failure = f"fsync failed ({os.strerror(exc.errno) if exc.errno else exc})"
            raise os_error(exc, "cannot fsync", self.path) from exc

    def commit(self, index: Index, records: list[Record]) -> None:
        """One commit: every line in one write, fsynced, then indexed."""
        lines = [encode(record) + b"\n" for record in records]
        for line in lines:
            assert line.count(b"\n") == 1, "a record must be exactly one line"
        start = index.end
        payload = b"".join(lines)
        try:
            write_all(index.fd, payload, self.path, self.files)
            if self.durable:
                self.fsync(index.fd)
            size = os.fstat(index.fd).st_size
        except (StorageError, OSError) as exc:
            self._undo(index.fd, start)
            failed = exc if isinstance(exc, StorageError) else os_error(exc, "cannot stat", self.path)
            raise StorageError(f"{failed}; nothing was recorded") from exc
        if size != start + len(payload):
            raise IntegrityError(f"{self.path} grew by {size - start} bytes for an append of "
                                 f"{len(payload)}: something outside chronik wrote to it")
        line_end = start
        for record, line in zip(records, lines, strict=True):
            line_end += len(line)
            index.add(record, line_end)

    def commit_in_chunks(self, index: Index, events: Sequence[Event], chunk_events: int) -> None:
        """Recorded events verbatim, one commit per `chunk_events`; a failure after the first
        commit names what is committed."""
        for start in range(0, len(events), chunk_events):
            chunk = events[start:start + chunk_events]
            last = len(chunk) - 1
            try:
                self.commit(index, [record_of_event(event, last - i) for i, event in enumerate(chunk)])
            except StorageError as exc:
                if start == 0:
                    raise
                raise StorageError(f"import into {self.path} stopped after {start} events: positions "
                                   f"{events[0].position}..{events[start - 1].position} are committed, "
                                   f"the rest is not ({exc})") from exc

    def _undo(self, fd: int, start: int) -> None:
        # The caller holds the file lock, so bytes past `start` are ours and unacknowledged.
        try:
            self.files.ftruncate(fd, start)
            self.files.fsync(fd)
        except OSError as exc:
            log.error("chronik: could not undo a failed append to %s: %s", self.path, exc)


def link(index: Index, fresh: list[StreamBatch], signer: Signer | None
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
        for pending, linked in zip(batch.events, links, strict=True):
            records.append(Record(linked.position, batch.stream, linked.version, pending.type, pending.id,
                                  pending.time, msgspec.Raw(pending.data), msgspec.Raw(pending.meta),
                                  linked.prev, linked.hash, linked.sig, total - len(records) - 1))
        results[batch.stream] = AppendResult(links[0].position, links[-1].position, links[-1].version,
                                             [p.id for p in batch.events])
        position, prev = links[-1].position + 1, links[-1].hash
    return records, results


def plan(index: Index, batches: Sequence[StreamBatch], path: str
         ) -> tuple[dict[str, AppendResult], list[StreamBatch]]:
    """Idempotent retries and expectations, under the write lock: the results of batches
    already recorded, and the batches to write."""
    results: dict[str, AppendResult] = {}
    fresh: list[StreamBatch] = []
    for batch in batches:
        replay = _replayed(index, batch, path)
        if replay is not None:
            results[batch.stream] = replay
            continue
        state = index.streams.get(batch.stream)
        check_expectation(batch.stream, batch.expect, state.version if state else 0)
        fresh.append(batch)
    reject_partial_replay(results, fresh)
    return results, fresh


def _replayed(index: Index, batch: StreamBatch, path: str) -> AppendResult | None:
    if not any(p.id_given for p in batch.events):
        return None
    positions = [index.ids.get(p.id) for p in batch.events]
    known = sorted(p for p in positions if p is not None)
    by_position = {event.position: event for event in events_at(index, known, path)}
    recorded = [None if p is None else by_position[p] for p in positions]
    return replayed_result(batch, recorded)

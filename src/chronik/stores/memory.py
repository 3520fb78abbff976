"""`memory:` — a store in process memory, for tests and throwaway work. One lock orders it.

It has nothing to create, so it opens the same way with or without `read_only`."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from chronik import codec
from chronik.errors import StorageError, ValidationError
from chronik.model import AppendResult, Event, Head, StreamInfo
from chronik.stores.base import (
    AuxChange,
    ReadFilter,
    Signer,
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


class MemoryStore(Store):
    def __init__(self, url: str = "memory:") -> None:
        self.url = url
        self._lock = threading.Lock()
        # Notified (with _lock held) whenever events are recorded: wait_for_change sleeps on it.
        self._changed = threading.Condition(self._lock)
        # _events[i] has position i + 1 (None once retention removed it); _raw[i] keeps its
        # canonical data/meta for text filters.
        self._events: list[Event | None] = []
        self._raw: list[tuple[bytes, bytes]] = []
        # Each stream's live positions (versions first..last) and its last version and event.
        self._by_stream: dict[str, list[int]] = {}
        self._versions: dict[str, int] = {}
        self._last_of: dict[str, Event] = {}
        self._live = 0
        self._by_id: dict[str, int] = {}
        self._aux: dict[str, dict[str, bytes]] = {}
        self._closed = False

    # ------------------------------------------------------------ writing

    def append(self, batches: Sequence[StreamBatch], signer: Signer | None = None) -> dict[str, AppendResult]:
        with self._lock:
            self._check_open()
            results: dict[str, AppendResult] = {}
            fresh: list[StreamBatch] = []
            for batch in batches:
                replay = self._replayed(batch)
                if replay is not None:
                    results[batch.stream] = replay
                    continue
                check_expectation(batch.stream, batch.expect, self._versions.get(batch.stream, 0))
                fresh.append(batch)
            reject_partial_replay(results, fresh)
            position = len(self._events) + 1
            prev = self._head().hash
            staged: list[tuple[Event, bytes, bytes]] = []
            for batch in fresh:
                version = self._versions.get(batch.stream, 0) + 1
                links = link_batch(batch.stream, batch.events, position, version, prev, signer)
                for pending, link in zip(batch.events, links, strict=True):
                    event = Event(link.position, batch.stream, link.version, pending.type, pending.id,
                                  pending.time, codec.decode_object(pending.data),
                                  codec.decode_object(pending.meta), link.prev, link.hash, link.sig)
                    staged.append((event, pending.data, pending.meta))
                results[batch.stream] = AppendResult(links[0].position, links[-1].position,
                                                     links[-1].version, [p.id for p in batch.events])
                position, prev = links[-1].position + 1, links[-1].hash
            # Nothing above mutated the store, so a failure before here wrote nothing.
            for event, data, meta in staged:
                assert event.position == len(self._events) + 1, "positions must stay contiguous"
                self._record(event, data, meta)
            if staged:
                self._changed.notify_all()
            return results

    def import_events(self, events: Sequence[Event]) -> None:
        with self._lock:
            self._check_open()
            check_import(events, self._head(), lambda stream: self._versions.get(stream, 0),
                         self._by_id.__contains__)
            staged = [(event, codec.encode_json(event.data), codec.encode_json(event.meta))
                      for event in events]
            for event, data, meta in staged:
                self._record(event, data, meta)
            self._changed.notify_all()

    def _record(self, event: Event, data: bytes, meta: bytes) -> None:
        self._events.append(event)
        self._raw.append((data, meta))
        self._by_stream.setdefault(event.stream, []).append(event.position)
        self._by_id[event.id] = event.position
        self._versions[event.stream] = event.version
        self._last_of[event.stream] = event
        self._live += 1

    def _head(self) -> Head:
        # The head event is never removed (remove_events), so the last slot is always live.
        last = self._events[-1] if self._events else None
        return Head(last.position, last.hash) if last else Head(0, codec.GENESIS_HASH)

    def remove_events(self, positions: Sequence[int]) -> int:
        with self._lock:
            self._check_open()
            doomed = {p for p in positions if 0 < p <= len(self._events) and self._events[p - 1]}
            if not doomed:
                return 0
            if len(self._events) in doomed:
                raise ValidationError("positions", f"position {len(self._events)} is the head, which "
                                      "retention never removes", "leave the newest event in place")
            streams = {self._events[p - 1].stream for p in doomed}  # type: ignore[union-attr]
            for stream in streams:
                live = self._by_stream[stream]
                removed = sum(1 for p in live if p in doomed)
                if any(p not in doomed for p in live[:removed]):
                    raise ValidationError("positions", f"{stream}: only the oldest live events of a "
                                          "stream may be removed", "remove a prefix of each stream")
            for stream in streams:
                self._by_stream[stream] = [p for p in self._by_stream[stream] if p not in doomed]
            for position in doomed:
                event = self._events[position - 1]
                assert event is not None
                self._by_id.pop(event.id, None)
                self._events[position - 1] = None
                self._raw[position - 1] = (b"", b"")
            self._live -= len(doomed)
            return len(doomed)

    def _replayed(self, batch: StreamBatch) -> AppendResult | None:
        given = [p for p in batch.events if p.id_given]
        if not given:
            return None
        recorded = [self._events[self._by_id[p.id] - 1] if p.id in self._by_id else None  # type: ignore[misc]
                    for p in batch.events]
        return replayed_result(batch, recorded)

    # ------------------------------------------------------------ reading

    def read_stream(self, stream: str, start: int, end: int | None, backwards: bool,
                    limit: int | None) -> Iterator[Event]:
        with self._lock:
            self._check_open()
            positions = list(self._by_stream.get(stream, ()))
            first_version = self._versions.get(stream, 0) - len(positions) + 1
        last = len(positions) if end is None else min(end - first_version + 1, len(positions))
        selected = positions[max(start - first_version, 0):max(last, 0)]
        if backwards:
            selected.reverse()
        if limit is not None:
            selected = selected[:limit]
        events = self._events
        # Live positions only: a stream's list never holds a removed event.
        return (event for p in selected if (event := events[p - 1]) is not None)

    def read_all(self, after: int, limit: int | None, filter: ReadFilter,
                 until_position: int | None = None) -> Iterator[Event]:
        with self._lock:
            self._check_open()
            stop = len(self._events) if until_position is None else min(until_position, len(self._events))
        return itertools.islice(self._scan(after, stop, filter), limit)

    def _scan(self, after: int, stop: int, filter: ReadFilter) -> Iterator[Event]:
        plain = filter.is_empty
        for index in range(max(after, 0), stop):
            event = self._events[index]
            if event is not None and (plain or matches(event, *self._raw[index], filter)):
                yield event

    def count(self, filter: ReadFilter, after: int = 0) -> int:
        with self._lock:
            stop = len(self._events)
        return sum(1 for _ in self._scan(after, stop, filter))

    def streams(self, category: str | None) -> list[StreamInfo]:
        with self._lock:
            self._check_open()
            infos = []
            for stream in sorted(self._by_stream):
                if category is not None and stream.partition(":")[0] != category:
                    continue
                last = self._last_of[stream]
                infos.append(StreamInfo(stream, last.version, last.position, last.type, last.time))
            return infos

    def head(self) -> Head:
        with self._lock:
            self._check_open()
            return self._head()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            self._check_open()
            types: dict[str, int] = {}
            live = [event for event in self._events if event is not None]
            for event in live:
                types[event.type] = types.get(event.type, 0) + 1
            return {
                "events": len(live),
                "streams": len(self._by_stream),
                "size_bytes": sum(len(d) + len(m) for d, m in self._raw),
                "first_time": live[0].time if live else None,
                "last_time": live[-1].time if live else None,
                "types": dict(sorted(types.items())),
            }

    # ------------------------------------------------------------ auxiliary records

    def aux_get(self, kind: str, key: str) -> bytes | None:
        with self._lock:
            self._check_open()
            return self._aux.get(kind, {}).get(key)

    def aux_range(self, kind: str, low: str = "", high: str | None = None, reverse: bool = False,
                  limit: int | None = None) -> list[tuple[str, bytes]]:
        with self._lock:
            self._check_open()
            records = self._aux.get(kind, {})
            keys = sorted(k for k in records if k >= low and (high is None or k < high))
            if reverse:
                keys.reverse()
            return [(key, records[key]) for key in keys[:limit]]

    def aux_write(self, changes: Sequence[AuxChange]) -> None:
        changes = check_aux_changes(changes)
        with self._lock:
            self._check_open()
            for change in changes:
                records = self._aux.setdefault(change.kind, {})
                if change.value is None:
                    records.pop(change.key, None)
                else:
                    records[change.key] = bytes(change.value)

    def change_signal(self) -> _RecordedSignal:
        return _RecordedSignal(self)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the ledger is closed; open it again")


class _RecordedSignal:
    """The store's condition variable, notified whenever events are recorded (or it closes):
    the wait re-checks under the lock, so a commit can never slip between check and sleep."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def wait(self, known_position: int, timeout_s: float) -> bool:
        store = self._store
        with store._changed:
            return store._changed.wait_for(
                lambda: store._closed or len(store._events) > known_position, timeout_s)

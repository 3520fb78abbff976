"""`memory:` — a store in process memory, for tests and throwaway work. One lock orders it."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from chronik import codec
from chronik.errors import StorageError
from chronik.model import AppendResult, Event, Head, StreamInfo
from chronik.stores.base import (
    AuxChange,
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


class MemoryStore(Store):
    def __init__(self, url: str = "memory:") -> None:
        self.url = url
        self._lock = threading.Lock()
        # Notified (with _lock held) whenever events are recorded: wait_for_change sleeps on it.
        self._changed = threading.Condition(self._lock)
        # _events[i] has position i + 1; _raw[i] keeps its canonical data/meta for text filters.
        self._events: list[Event] = []
        self._raw: list[tuple[bytes, bytes]] = []
        self._by_stream: dict[str, list[int]] = {}
        self._by_id: dict[str, int] = {}
        self._aux: dict[str, dict[str, bytes]] = {}
        self._closed = False

    # ------------------------------------------------------------ writing

    def append(self, batches: Sequence[StreamBatch]) -> dict[str, AppendResult]:
        with self._lock:
            self._check_open()
            results: dict[str, AppendResult] = {}
            fresh: list[StreamBatch] = []
            for batch in batches:
                replay = self._replayed(batch)
                if replay is not None:
                    results[batch.stream] = replay
                    continue
                check_expectation(batch.stream, batch.expect, len(self._by_stream.get(batch.stream, ())))
                fresh.append(batch)
            reject_partial_replay(results, fresh)
            position = len(self._events) + 1
            prev = self._events[-1].hash if self._events else codec.GENESIS_HASH
            staged: list[tuple[Event, bytes, bytes]] = []
            for batch in fresh:
                version = len(self._by_stream.get(batch.stream, ())) + 1
                links = link_batch(batch.stream, batch.events, position, version, prev)
                for pending, link in zip(batch.events, links, strict=True):
                    event = Event(link.position, batch.stream, link.version, pending.type, pending.id,
                                  pending.time, codec.decode_object(pending.data),
                                  codec.decode_object(pending.meta), link.prev, link.hash, None)
                    staged.append((event, pending.data, pending.meta))
                results[batch.stream] = AppendResult(links[0].position, links[-1].position,
                                                     links[-1].version, [p.id for p in batch.events])
                position, prev = links[-1].position + 1, links[-1].hash
            # Nothing above mutated the store, so a failure before here wrote nothing.
            for event, data, meta in staged:
                assert event.position == len(self._events) + 1, "positions must stay contiguous"
                self._events.append(event)
                self._raw.append((data, meta))
                self._by_stream.setdefault(event.stream, []).append(event.position)
                self._by_id[event.id] = event.position
            if staged:
                self._changed.notify_all()
            return results

    def import_events(self, events: Sequence[Event]) -> None:
        with self._lock:
            self._check_open()
            head = Head(len(self._events), self._events[-1].hash if self._events else codec.GENESIS_HASH)
            check_import(events, head, lambda stream: len(self._by_stream.get(stream, ())),
                         self._by_id.__contains__)
            staged = [(event, codec.encode_json(event.data), codec.encode_json(event.meta))
                      for event in events]
            for event, data, meta in staged:
                self._events.append(event)
                self._raw.append((data, meta))
                self._by_stream.setdefault(event.stream, []).append(event.position)
                self._by_id[event.id] = event.position
            self._changed.notify_all()

    def _replayed(self, batch: StreamBatch) -> AppendResult | None:
        given = [p for p in batch.events if p.id_given]
        if not given:
            return None
        recorded = [self._events[self._by_id[p.id] - 1] if p.id in self._by_id else None
                    for p in batch.events]
        return replayed_result(batch, recorded)

    # ------------------------------------------------------------ reading

    def read_stream(self, stream: str, start: int, end: int | None, backwards: bool,
                    limit: int | None) -> Iterator[Event]:
        with self._lock:
            self._check_open()
            positions = list(self._by_stream.get(stream, ()))
        last = len(positions) if end is None else min(end, len(positions))
        selected = positions[max(start, 1) - 1:last]
        if backwards:
            selected.reverse()
        if limit is not None:
            selected = selected[:limit]
        return (self._events[p - 1] for p in selected)

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
            if plain or matches(event, *self._raw[index], filter):
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
                last = self._events[self._by_stream[stream][-1] - 1]
                infos.append(StreamInfo(stream, last.version, last.position, last.type, last.time))
            return infos

    def head(self) -> Head:
        with self._lock:
            self._check_open()
            if not self._events:
                return Head(0, codec.GENESIS_HASH)
            return Head(self._events[-1].position, self._events[-1].hash)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            self._check_open()
            types: dict[str, int] = {}
            for event in self._events:
                types[event.type] = types.get(event.type, 0) + 1
            return {
                "events": len(self._events),
                "streams": len(self._by_stream),
                "size_bytes": sum(len(d) + len(m) for d, m in self._raw),
                "first_time": self._events[0].time if self._events else None,
                "last_time": self._events[-1].time if self._events else None,
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

    def wait_for_change(self, known_position: int, timeout_s: float) -> bool:
        with self._changed:
            return self._changed.wait_for(
                lambda: self._closed or len(self._events) > known_position, max(timeout_s, 0.0)) \
                and len(self._events) > known_position

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the ledger is closed; open it again")

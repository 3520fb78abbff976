"""Reconstruction: an objective's, a channel's or a peer's state from its own stream only.

The plan's reconstructor filtered the whole log for each objective; here each entity has its
stream (events.py), so a reconstruction reads that stream and nothing else, starting from the
newest snapshot (chronik.derive.snapshots; the reducers ask for one every 1000 events).

The last state reconstructed per stream is cached (at most MAX_CACHED streams, least recently
used dropped): asked again while the ledger's head has not moved, it is returned without
reading anything; after new events, only the stream's events past the cached version are read
and folded. Every SNAPSHOT_EVERY events folded that way, a replay saves the snapshot the policy
asks for, so a new process starts near the end too.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import msgspec

from chronik.derive.reducer import Reducer
from chronik.domains.channels.events import (
    CHANNEL_CATEGORY,
    OBJECTIVE_CATEGORY,
    PEER_CATEGORY,
    check_entity_id,
    stream_for,
)
from chronik.domains.channels.reducer import REDUCERS, SNAPSHOT_EVERY, State
from chronik.errors import ValidationError
from chronik.ledger import Ledger

MAX_CACHED = 10_000


class Reconstruction(msgspec.Struct, frozen=True, kw_only=True):
    """An entity's state and how it was reached."""

    kind: str  # objective, channel or peer
    stream: str
    state: State
    version: int  # stream version of the last event folded (0: no events, the initial state)
    events_applied: int  # events this call folded
    from_snapshot: int | None = None  # stream version of the snapshot the replay started from
    from_cache: bool = False  # the cached state was used (and events_applied folded onto it)

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return list(self.state["warnings"])


class _Cached(msgspec.Struct):
    state: State
    version: int
    head: int  # the ledger head when this was current
    since_snapshot: int  # events folded onto it without a snapshot being saved


def stream_of_entity(kind: str, key: str) -> str:
    """The stream of an objective or channel id (checked), or of a peer id."""
    if kind not in REDUCERS:
        raise ValidationError("kind", f"{kind!r} is not objective, channel or peer", "name one of them")
    if kind in (OBJECTIVE_CATEGORY, CHANNEL_CATEGORY):
        key = check_entity_id(key, f"{kind}_id")
    elif not isinstance(key, str):
        raise ValidationError("peer_id", "must be a string", "give the peer's network id")
    return stream_for(kind, key)


class Reconstructor:
    """Reconstructs entities of one ledger, with the cache described above (thread-safe)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._lock = threading.Lock()

    def objective(self, objective_id: str) -> Reconstruction:
        return self.entity(OBJECTIVE_CATEGORY, objective_id)

    def channel(self, channel_id: str) -> Reconstruction:
        return self.entity(CHANNEL_CATEGORY, channel_id)

    def peer(self, peer_id: str) -> Reconstruction:
        return self.entity(PEER_CATEGORY, peer_id)

    def entity(self, kind: str, key: str) -> Reconstruction:
        return self.stream(kind, stream_of_entity(kind, key))

    def stream(self, kind: str, stream: str) -> Reconstruction:
        """The newest state of `stream` with the reducer of `kind`."""
        reducer = REDUCERS[kind]
        with self._lock:
            head = self.ledger.head().position
            cached = self._cache.get(stream)
            if cached is not None:
                self._cache.move_to_end(stream)
                if cached.head == head:
                    return Reconstruction(kind=kind, stream=stream, state=cached.state, version=cached.version,
                                          events_applied=0, from_cache=True)
                folded = self._fold_new(stream, reducer, cached, head)
                if folded is not None:
                    return Reconstruction(kind=kind, stream=stream, state=cached.state, version=cached.version,
                                          events_applied=folded, from_cache=True)
            result = self.ledger.replay(stream, reducer)
            since = result.version - (result.snapshot_saved or result.from_snapshot or 0)
            self._remember(stream, _Cached(result.state, result.version, head, since))
            return Reconstruction(kind=kind, stream=stream, state=result.state, version=result.version,
                                  events_applied=result.events_applied, from_snapshot=result.from_snapshot)

    def _fold_new(self, stream: str, reducer: Reducer, cached: _Cached, head: int) -> int | None:
        """Fold the stream's events past the cached version onto the cached state; None when a
        replay should do it instead (a snapshot is due)."""
        room = SNAPSHOT_EVERY - cached.since_snapshot
        events = list(self.ledger.read_stream(stream, start=cached.version + 1, limit=room + 1))
        if len(events) > room:
            return None
        state = cached.state
        for event in events:
            if event.position > head:
                break  # read past the head taken above: the next call sees it
            state = reducer.apply(state, event)
            cached.version = event.version
            cached.since_snapshot += 1
        applied = cached.version - (events[0].version - 1) if events else 0
        cached.state, cached.head = state, head
        return applied

    def at_position(self, kind: str, stream: str, position: int) -> Reconstruction:
        """The state of `stream` as of ledger position `position` (time travel; not cached)."""
        result = self.ledger.replay(stream, REDUCERS[kind], to_position=position)
        return Reconstruction(kind=kind, stream=stream, state=result.state, version=result.version,
                              events_applied=result.events_applied, from_snapshot=result.from_snapshot)

    def forget(self) -> None:
        """Drop the cache (a test, or after the ledger was replaced)."""
        with self._lock:
            self._cache.clear()

    def _remember(self, stream: str, cached: _Cached) -> None:
        self._cache[stream] = cached
        self._cache.move_to_end(stream)
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)

"""Replay: fold a stream's events through a reducer, to now or to a point in its past.

A point (a "target") is one of:

- the latest state (no target);
- `to_version=V`: the events with version <= V (V = 0 is the initial state);
- `to_position=P`: the events with position <= P (a prefix too: versions grow with positions);
- `at=T`: every event of the stream whose recorded time is <= T, folded in version order. Times
  are compared as UTC instants (each event's time is parsed and normalised, whatever its text
  form). Recorded times may go backwards (ADR 0002: a clock can jump back), so this is not always
  a prefix of the stream: an event recorded after T is left out even when a later version,
  recorded by a clock that had jumped back, is folded in. The result's version and position are
  those of the last event folded.

Replay starts from the newest usable snapshot of (reducer, stream) at or below the target (see
chronik.derive.snapshots); for `at=T` only from one whose events all have times <= T (each
snapshot records the latest time folded into it), for `to_position=P` one at a position <= P.
After a replay that is not `at`, when the reducer's `snapshot_every` is set and at least that many
events were folded past the snapshot it started from, the state reached is saved as a snapshot.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

from chronik import codec, rules
from chronik.derive.reducer import Reducer, check_reducer
from chronik.derive.snapshots import LoadedSnapshot, Snapshot, candidates, save_snapshot
from chronik.errors import IntegrityError, NotFound, StorageError, ValidationError
from chronik.model import Event
from chronik.stores.base import EventStore, Store, StoreOwner, limits_of, store_of

log = logging.getLogger("chronik.derive.replay")


class ReplayResult(msgspec.Struct, frozen=True, kw_only=True):
    """The state of a stream at a point, and how it was reached."""

    state: Any
    version: int  # stream version of the last event folded in (0: none, the initial state)
    position: int  # its position (0: none)
    events_applied: int  # events this call folded (after the snapshot, if one was used)
    from_snapshot: int | None  # stream version of the snapshot the replay started from
    warnings: list[str] = msgspec.field(default_factory=list)  # snapshots found corrupt or stale
    snapshot_saved: int | None = None  # version of the snapshot this replay saved (policy)


# ---------------------------------------------------------------- targets


_CANONICAL_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def time_key(text: str, position: int | None = None) -> str:
    """An event time as canonical UTC text (fixed width, so text order is time order): times
    already in chronik's form are kept, any other form (an imported ledger's) is parsed; an
    error names the event's `position` when given.

    On the hot path of every replay, so chronik's own form (2026-11-22T01:15:09.123456Z) is
    recognised by its length and separators before anything slower."""
    if len(text) == 27 and text[4:20:3] == "--T::." and text[26] == "Z":
        return text
    if _CANONICAL_TIME.fullmatch(text):
        return text
    return codec.canonical_time(text, "time" if position is None else f"position {position}.time")


class Target:
    """Which events of a stream a point includes, and which snapshots may stand in for them."""

    kind = "latest"
    max_version: int | None = None  # no event above this version is included
    prefix = True  # the included events are versions 1..n

    def accepts(self, snapshot: Snapshot) -> bool:
        return True

    def select(self, events: Iterable[Event]) -> Iterator[Event]:
        return iter(events)

    def includes(self, event: Event) -> bool:
        return True

    def past(self, event: Event) -> bool:
        """True once no later event can be included (events come in version order)."""
        return False

    def describe(self) -> dict[str, Any]:
        return {}


class ToVersion(Target):
    kind = "version"

    def __init__(self, version: int) -> None:
        self.version = self.max_version = version

    def includes(self, event: Event) -> bool:
        return event.version <= self.version

    def past(self, event: Event) -> bool:
        return event.version > self.version

    def describe(self) -> dict[str, Any]:
        return {"version": self.max_version}


class ToPosition(Target):
    kind = "position"

    def __init__(self, position: int) -> None:
        self.position = position

    def accepts(self, snapshot: Snapshot) -> bool:
        return snapshot.position <= self.position

    def select(self, events: Iterable[Event]) -> Iterator[Event]:
        limit = self.position
        for event in events:
            if event.position > limit:
                return
            yield event

    def includes(self, event: Event) -> bool:
        return event.position <= self.position

    def past(self, event: Event) -> bool:
        return event.position > self.position

    def describe(self) -> dict[str, Any]:
        return {"position": self.position}


class AtTime(Target):
    kind = "at"
    prefix = False

    def __init__(self, moment: str) -> None:
        self.moment = moment  # canonical UTC text

    def accepts(self, snapshot: Snapshot) -> bool:
        return snapshot.max_time <= self.moment

    def select(self, events: Iterable[Event]) -> Iterator[Event]:
        moment = self.moment
        for event in events:
            time = event.time
            if not (len(time) == 27 and time[4:20:3] == "--T::." and time[26] == "Z"):
                time = time_key(time, event.position)
            if time <= moment:
                yield event

    def includes(self, event: Event) -> bool:
        return time_key(event.time, event.position) <= self.moment

    def describe(self) -> dict[str, Any]:
        return {"at": self.moment}


def make_target(to_version: Any = None, to_position: Any = None, at: Any = None,
                field_prefix: str = "") -> Target:
    given = [name for name, value in (("to_version", to_version), ("to_position", to_position), ("at", at))
             if value is not None]
    if len(given) > 1:
        raise ValidationError(field_prefix + given[1], f"cannot be combined with {given[0]}",
                              "give at most one of to_version, to_position and at")
    if to_version is not None:
        return ToVersion(check_count(to_version, field_prefix + "to_version"))
    if to_position is not None:
        return ToPosition(check_count(to_position, field_prefix + "to_position"))
    if at is not None:
        return AtTime(codec.format_time(codec.parse_time(at, field_prefix + "at")))
    return Target()


def check_count(value: Any, field: str) -> int:
    return rules.check_count(value, field, minimum=0)


# ---------------------------------------------------------------- folding


class Fold(msgspec.Struct):
    """Where a fold got to: the state, the last event folded in, and the latest time seen."""

    state: Any
    version: int = 0
    position: int = 0
    event_hash: str = ""
    max_time: str = ""
    applied: int = 0
    from_snapshot: int | None = None


def start_from(store: EventStore, stream: str, reducer: Reducer, target: Target, include_snapshots: bool,
               warn: Callable[[str], None], snapshot_target: Target | None = None
               ) -> tuple[Fold, Iterator[Event]]:
    """The fold's starting point (the newest usable snapshot, else the initial state) and the
    stream's events after it, up to the target's highest version.

    A snapshot is used only if the stream's event at its version still has the position and hash
    it recorded; the first event read (at the snapshot's version) is that check."""
    snapshot_target = snapshot_target or target
    if include_snapshots:
        for loaded in candidates(store, reducer, stream, snapshot_target.max_version,
                                 snapshot_target.accepts, warn):
            events = _events_after(store, stream, loaded, target.max_version, warn)
            if events is not None:
                header = loaded.header
                return Fold(loaded.state, header.version, header.position, header.event_hash,
                            header.max_time, 0, header.version), events
    return Fold(reducer.initial()), store.read_stream(stream, 1, target.max_version, False, None)


def _events_after(store: EventStore, stream: str, loaded: LoadedSnapshot, end: int | None,
                  warn: Callable[[str], None]) -> Iterator[Event] | None:
    header = loaded.header
    events = store.read_stream(stream, header.version, end, False, None)
    anchor = next(events, None)
    if anchor is None or anchor.position != header.position or anchor.hash != header.event_hash:
        found = "no such event" if anchor is None else f"position {anchor.position}, hash {anchor.hash[:12]}"
        warn(f"snapshot {header.key} does not match the ledger (it records position {header.position}, "
             f"hash {header.event_hash[:12]}; the ledger has {found}); ignored")
        return None
    return events


def fold_events(fold: Fold, events: Iterable[Event], reducer: Reducer, target: Target) -> Fold:
    """Apply the target's events to the fold, asserting versions stay contiguous.

    The hot loop of every replay: locals only; each event's time goes through time_key, so the
    latest time seen is compared as fixed-width text."""
    apply = reducer.apply
    state, max_time, applied = fold.state, fold.max_time, 0
    expected = fold.version + 1 if target.prefix else None
    last = None
    for event in target.select(events):
        if expected is not None:
            if event.version != expected:
                raise IntegrityError(f"{event.stream}: read version {event.version} where {expected} "
                                     f"was expected; run chronik verify")
            expected += 1
        state = apply(state, event)
        moment = time_key(event.time, event.position)
        if moment > max_time:
            max_time = moment
        applied += 1
        last = event
    fold.state, fold.max_time, fold.applied = state, max_time, fold.applied + applied
    if last is not None:
        fold.version, fold.position, fold.event_hash = last.version, last.position, last.hash
    return fold


def collect_warnings(into: list[str]) -> Callable[[str], None]:
    def warn(message: str) -> None:
        log.warning("%s", message)
        into.append(message)

    return warn


# ---------------------------------------------------------------- the library calls


def replay(source: Store | StoreOwner, stream: str, reducer: Reducer, to_version: int | None = None,
           to_position: int | None = None, at: Any = None, include_snapshots: bool = True,
           include_archive: bool = False) -> ReplayResult:
    """The state of `stream` at a point (module docstring), using and saving snapshots unless
    `include_snapshots` is False. At most one of to_version, to_position and at."""
    store = store_of(source)
    rules.check_stream(stream, "stream", limits_of(source))
    reducer = check_reducer(reducer, "reducer")
    target = make_target(to_version, to_position, at)
    if not isinstance(include_snapshots, bool):
        raise ValidationError("include_snapshots", "must be True or False")
    warnings: list[str] = []
    warn = collect_warnings(warnings)
    events: Iterable[Event]
    if include_archive:  # the archived past first (chronik.lifecycle.archive), no snapshots
        from chronik.lifecycle.archive import with_archive

        include_snapshots = False
        live = store.read_stream(stream, 1, target.max_version, False, None)
        fold, events = Fold(reducer.initial()), (e for e in with_archive(store, live, stream)
                                                 if target.max_version is None or e.version <= target.max_version)
    else:
        fold, events = start_from(store, stream, reducer, target, include_snapshots, warn)
    fold = fold_events(fold, events, reducer, target)
    saved = None
    every = reducer.snapshot_every
    # A store opened read-only (a reading command, a read-only mount) keeps no snapshots: that
    # was asked for, so it is no warning.
    writable = not getattr(store, "read_only", False)
    if (include_snapshots and every and writable and target.prefix
            and fold.version - (fold.from_snapshot or 0) >= every):
        saved = _save_by_policy(store, stream, reducer, fold, warn)
    return ReplayResult(state=fold.state, version=fold.version, position=fold.position,
                        events_applied=fold.applied, from_snapshot=fold.from_snapshot,
                        warnings=warnings, snapshot_saved=saved)


def _save_by_policy(store: EventStore, stream: str, reducer: Reducer, fold: Fold,
                    warn: Callable[[str], None]) -> int | None:
    # A state that is not JSON raises ValidationError: the reducer asked for snapshots it cannot
    # have. A store that cannot write (read-only file, lost connection) only costs the snapshot.
    try:
        header = save_snapshot(store, reducer, stream, fold.state, version=fold.version,
                               position=fold.position, event_hash=fold.event_hash, max_time=fold.max_time)
    except StorageError as exc:
        warn(f"could not save a snapshot of {stream} at version {fold.version}: {exc}")
        return None
    return None if header is None else header.version


def take_snapshot(source: Store | StoreOwner, stream: str, reducer: Reducer,
                  to_version: int | None = None) -> Snapshot:
    """Replay `stream` (to `to_version`) and save the state as a snapshot, whatever the policy."""
    store = store_of(source)
    rules.check_stream(stream, "stream", limits_of(source))
    reducer = check_reducer(reducer, "reducer")
    target = make_target(to_version=to_version)
    warn = collect_warnings([])
    fold, events = start_from(store, stream, reducer, target, True, warn)
    fold = fold_events(fold, events, reducer, target)
    if fold.version == 0:
        raise NotFound(f"{stream} has no events" + ("" if to_version is None else " up to version 0")
                       + "; nothing to snapshot")
    header = save_snapshot(store, reducer, stream, fold.state, version=fold.version,
                           position=fold.position, event_hash=fold.event_hash, max_time=fold.max_time)
    if header is None:
        raise ValidationError("to_version", f"{reducer.keep_snapshots} newer snapshots of {stream} exist, "
                              f"so one at version {fold.version} would be pruned at once",
                              "snapshot a later version, or raise keep_snapshots")
    return header

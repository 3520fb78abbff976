"""Parked events (dead letters): events a subscription's handler failed on after its whole
retry budget, kept with the error so the subscription can move on.

Auxiliary records of kind `parked:<name>`, key the position zero-padded to 20 digits (so key
order is position order), value JSON (`ParkedEvent`). Kind `parked-names`, key the name, lists
the subscriptions that have parked events (aux records are looked up by kind). A parked record
is written in the same aux_write as the checkpoint that moves past its event, so a crash never
both skips an event and forgets to park it.

`replay_parked` calls a handler once per parked event, in position order: on success the record
is removed; on failure it stays, with the new error and one more attempt. `discard_parked`
removes records without calling anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from chronik.derive.checkpoints import check_name, now_text
from chronik.derive.delivery import describe
from chronik.errors import NotFound
from chronik.model import Event
from chronik.stores.base import (
    MAX_AUX_CHANGES,
    NO_FILTER,
    AuxChange,
    AuxRecords,
    EventStore,
    Store,
    StoreOwner,
    store_of,
)

PARKED_KIND_PREFIX = "parked:"
PARKED_NAMES_KIND = "parked-names"
POSITION_DIGITS = 20


class ParkedEvent(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    position: int
    event_id: str
    stream: str
    type: str
    error: str
    attempts: int
    parked_at: str
    last_attempt_at: str


class ReplayOutcome(msgspec.Struct, frozen=True):
    position: int
    ok: bool
    error: str | None = None


def parked_kind(name: str) -> str:
    return PARKED_KIND_PREFIX + name


def position_key(position: int) -> str:
    return f"{position:0{POSITION_DIGITS}d}"


def park_changes(name: str, event: Event, error: str, attempts: int) -> list[AuxChange]:
    """The aux changes that park `event` for subscription `name`."""
    now = now_text()
    parked = ParkedEvent(name=name, position=event.position, event_id=event.id, stream=event.stream,
                         type=event.type, error=error, attempts=attempts, parked_at=now,
                         last_attempt_at=now)
    return [AuxChange(parked_kind(name), position_key(event.position), msgspec.json.encode(parked)),
            AuxChange(PARKED_NAMES_KIND, name, b"{}")]


def list_parked(source: Store | StoreOwner, name: str, limit: int | None = None) -> list[ParkedEvent]:
    """Parked events of subscription `name`, in position order."""
    return _parked(store_of(source), name, limit)


def _parked(store: AuxRecords, name: str, limit: int | None = None) -> list[ParkedEvent]:
    records = store.aux_range(parked_kind(check_name(name)), limit=limit)
    return [msgspec.json.decode(raw, type=ParkedEvent) for _, raw in records]


def parked_names(source: Store | StoreOwner) -> list[str]:
    """Names of subscriptions and projections that have (or recently had) parked events."""
    return [key for key, _ in store_of(source).aux_range(PARKED_NAMES_KIND)]


def parked_event(store: EventStore, parked: ParkedEvent) -> Event:
    """The recorded event a parked record refers to."""
    found = list(store.read_all(parked.position - 1, 1, NO_FILTER, parked.position))
    if not found or found[0].id != parked.event_id:
        raise NotFound(f"position {parked.position} ({parked.event_id}) is no longer in the ledger "
                       f"(retention?); discard the parked record")
    return found[0]


def replay_parked(source: Store | StoreOwner, name: str, handler: Callable[[Event], Any] | None,
                  positions: Sequence[int] | None = None,
                  commit: Callable[[Event, list[AuxChange]], None] | None = None) -> list[ReplayOutcome]:
    """Call `handler` once for each parked event of `name` (all, or those at `positions`).

    On success the parked record is deleted; `commit(event, changes)`, when given instead of a
    handler, applies the event and writes that deletion itself (a projection writes it with the
    read-model changes). On failure the record is kept with the new error and attempts + 1."""
    assert (handler is None) != (commit is None), "give a handler or a commit, not both"
    store = store_of(source)
    outcomes = []
    for parked in _selected(store, name, positions):
        key = AuxChange(parked_kind(name), position_key(parked.position), None)
        try:
            event = parked_event(store, parked)
            if handler is not None:
                handler(event)
                store.aux_write([key])
            else:
                assert commit is not None
                commit(event, [key])
        except Exception as exc:  # kept parked, with what went wrong this time
            error = describe(exc)
            updated = msgspec.structs.replace(parked, error=error, attempts=parked.attempts + 1,
                                              last_attempt_at=now_text())
            store.aux_write([AuxChange(key.kind, key.key, msgspec.json.encode(updated))])
            outcomes.append(ReplayOutcome(parked.position, False, error))
            continue
        outcomes.append(ReplayOutcome(parked.position, True))
    _forget_name_if_empty(store, name)
    return outcomes


def discard_parked(source: Store | StoreOwner, name: str, positions: Sequence[int] | None = None) -> int:
    """Remove parked records (all, or those at `positions`) without calling anything."""
    store = store_of(source)
    selected = _selected(store, name, positions)
    deletes = [AuxChange(parked_kind(name), position_key(p.position), None) for p in selected]
    for start in range(0, len(deletes), MAX_AUX_CHANGES):
        store.aux_write(deletes[start:start + MAX_AUX_CHANGES])
    _forget_name_if_empty(store, name)
    return len(deletes)


def _selected(store: EventStore, name: str, positions: Sequence[int] | None) -> list[ParkedEvent]:
    parked = _parked(store, name)
    if positions is None:
        return parked
    wanted = set(positions)
    selected = [p for p in parked if p.position in wanted]
    missing = wanted - {p.position for p in selected}
    if missing:
        raise NotFound(f"{name}: no parked event at position(s) {sorted(missing)}; "
                       f"see `chronik parked list {name}`")
    return selected


def _forget_name_if_empty(store: AuxRecords, name: str) -> None:
    if not store.aux_range(parked_kind(name), limit=1):
        store.aux_write([AuxChange(PARKED_NAMES_KIND, name, None)])

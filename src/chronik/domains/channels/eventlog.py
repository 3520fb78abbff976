"""`EventLog`: the plan's store API as a thin facade over any chronik ledger.

    log = EventLog(open_ledger("sqlite:///node.db"))
    offset = log.append({"event_name": "objective-created", "payload": {...}})
    log.read_from(0); log.read_range(10, 20); len(log)
    sid = log.subscribe(lambda event, offset: ...); log.unsubscribe(sid)

append validates each payload against its schema, derives its content id (contentid.py), checks
it against the state of its objective or channel (transitions.py), and records it in its stream
(events.py) with the id as the chronik id; offsets come from offsets.py. Appending an event that
is already recorded returns its offset and writes nothing; an event refused by its entity's
state raises ValidationError and writes nothing. There is no update and no delete.

Concurrency: within a process one lock serialises the check-then-append of an EventLog; between
processes each stream's expectation (an objective's exact version; channel-created on a new
stream) makes a racing writer re-check and retry, up to MAX_APPEND_ATTEMPTS times.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import msgspec

from chronik.derive.checkpoints import CHECKPOINT_KIND
from chronik.derive.subscriptions import Subscription
from chronik.domains.channels import contentid, schema
from chronik.domains.channels.events import (
    CHANNEL_CATEGORY,
    OBJECTIVE_CATEGORY,
    PEER_CATEGORY,
    category_of,
    event_from_json,
    stream_of,
)
from chronik.domains.channels.offsets import PACK_FILTER, IndexHead, OffsetIndex
from chronik.domains.channels.reconstruct import Reconstructor
from chronik.domains.channels.reducer import REDUCERS
from chronik.domains.channels.transitions import problem_with
from chronik.errors import ConcurrencyError, DuplicateIdError, LimitExceeded, ValidationError
from chronik.ledger import Ledger
from chronik.model import AppendResult, Event, Expect, Expectation, NewEvent
from chronik.stores.base import AuxChange

MAX_APPEND_ATTEMPTS = 50
RETRY_PAUSE_S = 0.002
MAX_READ_RANGE = 100_000

Callback = Callable[["LoggedEvent", int], Any]


class LoggedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A channels event as read back: its offset, content id, name and payload, and where the
    ledger keeps it."""

    offset: int
    id: str
    event_name: str
    payload: dict[str, Any]
    stream: str
    position: int
    time: str


class PreparedEvent(msgspec.Struct):
    """An event checked and addressed by `prepare`, ready to append."""

    index: int  # in the caller's list
    event_name: str
    payload: dict[str, Any]
    id: str
    stream: str
    kind: str


def prepare(value: Any, index: int = 0, field: str = "event") -> PreparedEvent:
    """One event checked (shape, schema, a given id) and addressed (content id, stream)."""
    if isinstance(value, PreparedEvent):
        return value
    event = event_from_json(value, field)
    schema.validate_payload(event.event_name, event.payload, f"{field}.payload")
    canonical = contentid.canonical_json(event.payload)
    event_id = contentid.id_of_bytes(event.event_name, canonical)
    given_canonical = value.get("canonical_json") if isinstance(value, dict) else None
    if given_canonical is not None and given_canonical.encode("utf-8") != canonical:
        raise ValidationError(f"{field}.canonical_json", "differs from the payload's canonical JSON",
                              "omit it, or give the payload's canonical form (contentid.canonical_json)")
    given = value.get("id", value.get("expected_id")) if isinstance(value, dict) else None
    if given is not None and given != event_id:
        raise ValidationError(f"{field}.id", f"{given!r} is not this content's id ({event_id})",
                              "omit the id, or give the one computed from event_name and payload")
    return PreparedEvent(index, event.event_name, event.payload, event_id, stream_of(event),
                     category_of(event.event_name))


def logged(event: Event, offset: int) -> LoggedEvent:
    return LoggedEvent(offset=offset, id=event.id, event_name=event.type, payload=event.data,
                       stream=event.stream, position=event.position, time=event.time)


class EventLog:
    """The plan's event store over a chronik ledger (module docstring)."""

    def __init__(self, ledger: Ledger, reconstructor: Reconstructor | None = None) -> None:
        self.ledger = ledger
        self.index = OffsetIndex(ledger)
        self.reconstructor = reconstructor or Reconstructor(ledger)
        self._lock = threading.Lock()
        self._subscriptions: dict[int, Subscription] = {}
        self._ephemeral: set[int] = set()  # unnamed: their checkpoints go when they do
        self._participants: dict[str, list[str]] = {}  # channel stream -> its (fixed) participants
        self._ids = itertools.count()

    # ------------------------------------------------------------ writing

    def append(self, event: Any) -> int:
        """Record one event (`{"event_name", "payload"}` or a ChannelEvent); its offset."""
        return self.append_many([event])[0]

    def append_many(self, events: Sequence[Any]) -> list[int]:
        """Record events atomically (all or none); each one's offset, in the order given.
        Events of one stream keep their order; offsets follow the ledger's order."""
        if isinstance(events, (str, bytes, dict)) or not isinstance(events, Sequence) or not events:
            raise ValidationError("events", "must be a non-empty list of events", "pass [event, ...]")
        limit = self.ledger.limits.max_batch_events
        if len(events) > limit:
            raise LimitExceeded("events", "max_batch_events", limit, len(events), "append in several calls")
        prepared = [prepare(value, index, f"events[{index}]") for index, value in enumerate(events)]
        unique = list({p.id: p for p in reversed(prepared)}.values())[::-1]  # an id twice: one event
        with self._lock:
            recorded, results = self._commit(unique)
            offsets = self._offsets(unique, recorded, results)
        return [offsets[p.id] for p in prepared]

    def _commit(self, prepared: list[PreparedEvent]) -> tuple[set[str], dict[str, AppendResult]]:
        """Append what is not yet recorded; the ids found already recorded, and the results."""
        recorded: set[str] = set()
        for attempt in range(MAX_APPEND_ATTEMPTS):
            batches = self._batches([p for p in prepared if p.id not in recorded], recorded)
            if not batches:
                return recorded, {}
            try:
                return recorded, self.ledger.append_many(batches)
            except ConcurrencyError:
                pass  # another process appended to one of these streams: check again
            except DuplicateIdError:
                found = self._recorded_ids(prepared)  # a retry of some of them, or a racing twin
                if found <= recorded:
                    raise
                recorded |= found
            time.sleep(random.uniform(0, RETRY_PAUSE_S * (attempt + 1)))
        raise ConcurrencyError(", ".join(sorted({p.stream for p in prepared})), "a stable version", None)

    def _batches(self, prepared: list[PreparedEvent], recorded: set[str]
                 ) -> dict[str, tuple[list[NewEvent], Expectation]]:
        """The ledger batches for events not yet recorded, each checked against its entity's
        state as it is now (events of one stream in order). Adds to `recorded` any event found
        already recorded; raises ValidationError for a refused one."""
        by_stream: dict[str, list[PreparedEvent]] = {}
        for item in prepared:
            by_stream.setdefault(item.stream, []).append(item)
        batches: dict[str, tuple[list[NewEvent], Expectation]] = {}
        for stream, items in by_stream.items():
            kind = items[0].kind
            state, version = self._check_state(kind, stream)
            new: list[NewEvent] = []
            for item in items:
                problem = problem_with(kind, state, item.event_name, item.payload)
                if problem is not None:
                    if self._is_recorded(stream, item.id):
                        recorded.add(item.id)
                        continue
                    raise ValidationError(f"events[{item.index}]", problem,
                                          "append the events this one depends on first, in order")
                if kind == OBJECTIVE_CATEGORY:  # later events of the batch are checked after it
                    state = REDUCERS[kind].fold(state, item.event_name, item.payload, version + len(new) + 1)
                elif item.event_name == "channel-created":
                    state = {"status": "Created", "participants": item.payload["participants"]}
                new.append(NewEvent(item.event_name, item.payload, id=item.id))
            if new:
                batches[stream] = (new, self._expectation(kind, items, version))
        return batches

    def _check_state(self, kind: str, stream: str) -> tuple[dict[str, Any], int]:
        """What the checks of `kind` need of the stream's state now, and its version (-1 where
        it does not matter). A peer has no rules; a channel's rules need only whether it exists
        and its participants, which never change once it is created (so they are kept)."""
        if kind == PEER_CATEGORY:
            return {}, -1
        if kind == CHANNEL_CATEGORY and stream in self._participants:
            return {"status": "Created", "participants": self._participants[stream]}, -1
        current = self.reconstructor.stream(kind, stream)
        if kind == CHANNEL_CATEGORY and current.state["status"] is not None:
            self._participants[stream] = current.state["participants"]
        return current.state, current.version

    @staticmethod
    def _expectation(kind: str, items: list[PreparedEvent], version: int) -> Expectation:
        if kind == OBJECTIVE_CATEGORY:
            return version  # every transition depends on the status the check saw
        if kind == CHANNEL_CATEGORY:
            # Participants never change after channel-created, so only its creation races.
            creates = any(item.event_name == "channel-created" for item in items)
            return max(version, 0) if creates else Expect.EXISTS
        return Expect.ANY

    def _is_recorded(self, stream: str, event_id: str) -> bool:
        return any(event.id == event_id for event in self.ledger.read_stream(stream, backwards=True))

    def _recorded_ids(self, prepared: list[PreparedEvent]) -> set[str]:
        found: set[str] = set()
        for stream in {p.stream for p in prepared}:
            found |= set(self._locate(stream, {p.id for p in prepared if p.stream == stream}))
        return found

    def _locate(self, stream: str, ids: set[str]) -> dict[str, int]:
        """The positions of those of `ids` recorded in `stream` (read newest first)."""
        positions: dict[str, int] = {}
        for event in self.ledger.read_stream(stream, backwards=True):
            if event.id in ids:
                positions[event.id] = event.position
                if len(positions) == len(ids):
                    break
        return positions

    def _offsets(self, prepared: list[PreparedEvent], recorded: set[str], results: dict[str, AppendResult]
                 ) -> dict[str, int]:
        if results and not recorded:  # all new: each stream's events hold its result's positions
            placed = sorted((result.first_position + i, item) for stream, result in results.items()
                            for i, item in enumerate(p for p in prepared if p.stream == stream))
            if all(results[s].last_position - results[s].first_position + 1 == len(results[s].ids) for s in results):
                head = self.index.extend([position for position, _ in placed])
                if head is not None:
                    first = head.count - len(placed)
                    return {item.id: first + i for i, (_, item) in enumerate(placed)}
        head, indexed = self.index.catch_up()
        first = head.count - len(indexed)
        offsets = {event.id: first + i for i, event in enumerate(indexed)}
        missing = [p for p in prepared if p.id not in offsets]
        for stream in {p.stream for p in missing}:
            for event_id, position in self._locate(stream, {p.id for p in missing if p.stream == stream}).items():
                offset = self.index.offset_of(position, head)
                assert offset is not None, f"position {position} is committed but not indexed"
                offsets[event_id] = offset
        return offsets

    # ------------------------------------------------------------ reading

    def __len__(self) -> int:
        return self.index.catch_up()[0].count

    def read_from(self, offset: int) -> Iterator[LoggedEvent]:
        """Every event at or after `offset`, in offset order (up to the length at the call)."""
        head = self._head_for(offset, "offset")
        return self._read(offset, head.count, head)

    def read_range(self, start: int, end: int) -> list[LoggedEvent]:
        """Events start..end-1; `end` is exclusive and clamped to the length."""
        head = self._head_for(start, "start")
        if not isinstance(end, int) or isinstance(end, bool) or end < 0:
            raise ValidationError("end", f"{end!r} is not an offset", "pass an int >= 0 (exclusive)")
        end = min(end, head.count)
        if end - start > MAX_READ_RANGE:
            raise LimitExceeded("end", "max_read_range", MAX_READ_RANGE, end - start, "read in several ranges")
        return list(self._read(start, end, head))

    def _head_for(self, offset: Any, field: str) -> IndexHead:
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ValidationError(field, f"{offset!r} is not an offset", "pass an int >= 0")
        return self.index.catch_up()[0]

    def _read(self, start: int, end: int, head: IndexHead) -> Iterator[LoggedEvent]:
        if start >= end:
            return
        first = self.index.position_of(start, head)
        assert first is not None
        offset = start
        for event in self.ledger.read_all(after=first - 1, filter=PACK_FILTER):
            if offset >= end:
                return
            yield logged(event, offset)
            offset += 1

    def event_at(self, offset: int) -> LoggedEvent | None:
        found = self.read_range(offset, offset + 1)
        return found[0] if found else None

    # ------------------------------------------------------------ subscriptions

    def subscribe(self, callback: Callback, name: str | None = None, **options: Any) -> int:
        """Call `callback(event, offset)` for every event appended from now on (by any process),
        in offset order, after it is committed, from a background thread. A named subscription
        resumes where it stopped. A callback that raises is retried with backoff, then its
        event is parked (chronik.derive.parking) and delivery moves on; appends never see it.
        Options as for Ledger.subscribe (retry, breaker, ...). Returns the subscription id."""
        if not callable(callback):
            raise ValidationError("callback", "must be callable", "pass def on_event(event, offset): ...")
        head = self.index.catch_up()[0]
        subscription_name = name or f"channels-{uuid.uuid4().hex}"
        subscription = Subscription(self.ledger, None, after=head.scanned, filter=PACK_FILTER,
                                    name=subscription_name, **options)
        start = self.index.count_through(subscription.started_after, self.index.catch_up()[0])
        subscription.handler = _OffsetHandler(callback, start)
        subscription_id = next(self._ids)
        self._subscriptions[subscription_id] = subscription
        if name is None:
            self._ephemeral.add(subscription_id)
        subscription.start()
        return subscription_id

    def unsubscribe(self, subscription_id: int) -> bool:
        """Stop a subscription (an unnamed one's checkpoint is removed); False if unknown."""
        subscription = self._subscriptions.pop(subscription_id, None)
        if subscription is None:
            return False
        subscription.stop()
        if subscription_id in self._ephemeral and subscription.name and not subscription.parked():
            self.ledger.store.aux_write([AuxChange(CHECKPOINT_KIND, subscription.name, None)])
        self._ephemeral.discard(subscription_id)
        return True

    def subscription(self, subscription_id: int) -> Subscription | None:
        return self._subscriptions.get(subscription_id)

    def close(self) -> None:
        """Stop the subscriptions and write the offsets learned in memory (a later process
        would otherwise scan for them again)."""
        for subscription_id in list(self._subscriptions):
            self.unsubscribe(subscription_id)
        self.index.persist()


class _OffsetHandler:
    """Numbers the delivered events: they come in position order with the same filter as the
    index, so each is the next offset (a retried event keeps its number)."""

    def __init__(self, callback: Callback, first_offset: int) -> None:
        self.callback = callback
        self._next = first_offset
        self._last: tuple[int, int] | None = None

    def __call__(self, event: Event) -> Any:
        if self._last is not None and self._last[0] == event.position:
            offset = self._last[1]
        else:
            offset, self._next = self._next, self._next + 1
            self._last = (event.position, offset)
        return self.callback(logged(event, offset), offset)

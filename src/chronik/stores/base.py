"""The store contract: what every backend does, and the rules they all share.

The ledger validates input and hands a store `StreamBatch`es of `PendingEvent`s whose data and
meta are already canonical bytes. The store, under its own write lock, checks idempotency and
expectations, assigns positions and versions, links each event into the hash chain
(`codec.event_hash`) and makes the whole call durable at once, or writes nothing.

Every store passes the same suite, tests/contract/. A new store is a new module here plus a line
in `chronik.stores.open_store` and in the contract parametrisation.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import msgspec

from chronik import codec
from chronik.errors import (
    ConcurrencyError,
    DuplicateIdError,
    IntegrityError,
    LimitExceeded,
    StorageError,
    ValidationError,
)
from chronik.model import AppendResult, Event, Expect, Expectation, Head, StreamInfo

# Rows fetched per round trip by stores that page their reads.
READ_PAGE_ROWS = 1_000
# How often Store.wait_for_change polls the head when a store has no cheaper signal.
DEFAULT_CHANGE_POLL_S = 0.05


class PendingEvent(msgspec.Struct, frozen=True):
    """A validated event waiting for its position: data and meta are canonical JSON bytes."""

    type: str
    id: str
    time: str
    data: bytes
    meta: bytes
    id_given: bool


class StreamBatch(msgspec.Struct, frozen=True):
    stream: str
    expect: Expectation
    events: list[PendingEvent]


class ReadFilter(msgspec.Struct, frozen=True):
    """A Filter after validation: times canonical, text lower-cased, empty lists dropped."""

    streams: tuple[str, ...] | None = None
    categories: tuple[str, ...] | None = None
    types: tuple[str, ...] | None = None
    since: str | None = None
    until: str | None = None
    text: str | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.streams or self.categories or self.types or self.since or self.until
                    or self.text)


NO_FILTER = ReadFilter()


class AuxChange(msgspec.Struct, frozen=True):
    """One change to an auxiliary record: `value` None deletes it."""

    kind: str
    key: str
    value: bytes | None


# Auxiliary records per aux_write call, and per aux_range page.
MAX_AUX_CHANGES = 10_000
MAX_AUX_RANGE = 10_000


def check_aux_changes(changes: Sequence[AuxChange]) -> list[AuxChange]:
    """Every store checks a whole aux_write before applying any of it (all or none)."""
    changes = list(changes)
    if len(changes) > MAX_AUX_CHANGES:
        raise LimitExceeded("changes", "max_aux_changes", MAX_AUX_CHANGES, len(changes),
                            "write in several calls")
    for index, change in enumerate(changes):
        if not isinstance(change, AuxChange) or not isinstance(change.kind, str) \
                or not isinstance(change.key, str) or not change.kind:
            raise ValidationError(f"changes[{index}]", "must be an AuxChange with str kind and key",
                                  "build it as AuxChange(kind, key, value)")
        if change.value is not None and not isinstance(change.value, bytes):
            raise ValidationError(f"changes[{index}].value", "must be bytes or None",
                                  "encode the value, e.g. with msgspec.json.encode")
    return changes


class Store(abc.ABC):
    """One backend. Methods are safe to call from several threads."""

    url: str
    # signer(hash) -> sig, or None: set by the Ledger from its keyring. A store that has one
    # signs every event it appends, under its write lock, right after linking its hash
    # (chronik.integrity.signing; docs/adr/0009).
    signer: Callable[[str], str] | None = None

    @abc.abstractmethod
    def append(self, batches: Sequence[StreamBatch]) -> dict[str, AppendResult]:
        """Record all batches atomically and durably, or raise and record nothing."""

    @abc.abstractmethod
    def import_events(self, events: Sequence[Event]) -> None:
        """Append already-recorded events verbatim (positions, versions, ids, times, data, meta,
        prev, hash and sig kept), atomically and durably, under the store's write lock.

        The caller has re-verified the hashes (chain.ChainChecker); the store checks, under its
        lock, that the events continue its head (`check_import`) and raises IntegrityError,
        writing nothing, when they do not."""

    @abc.abstractmethod
    def read_stream(self, stream: str, start: int, end: int | None, backwards: bool,
                    limit: int | None) -> Iterator[Event]:
        """Events of one stream with start <= version <= end, in version order."""

    @abc.abstractmethod
    def read_all(self, after: int, limit: int | None, filter: ReadFilter,
                 until_position: int | None = None) -> Iterator[Event]:
        """Matching events with position > after (and <= until_position), in position order."""

    @abc.abstractmethod
    def count(self, filter: ReadFilter, after: int = 0) -> int:
        """How many events match `filter` with position > after."""

    @abc.abstractmethod
    def streams(self, category: str | None) -> list[StreamInfo]:
        """Every stream (of one category), ordered by name."""

    @abc.abstractmethod
    def head(self) -> Head:
        """The last position and its hash."""

    @abc.abstractmethod
    def stats(self) -> dict[str, Any]:
        """events, streams, size_bytes, first_time, last_time, types {type: count}."""

    # Auxiliary records: derived data kept beside the events (snapshots, subscription
    # checkpoints, parked events, projection read models). Never part of the chain or of
    # verify; keys order by code point in every store.

    @abc.abstractmethod
    def aux_get(self, kind: str, key: str) -> bytes | None:
        """The value of one auxiliary record, or None."""

    @abc.abstractmethod
    def aux_range(self, kind: str, low: str = "", high: str | None = None, reverse: bool = False,
                  limit: int | None = None) -> list[tuple[str, bytes]]:
        """Records of `kind` with low <= key < high (no upper bound when None), in key order."""

    @abc.abstractmethod
    def aux_write(self, changes: Sequence[AuxChange]) -> None:
        """Apply every change atomically and durably (all or none)."""

    def remove_events(self, positions: Sequence[int]) -> int:
        """Remove the events at `positions`, which retention has already archived and fsynced
        (chronik.lifecycle.retention), atomically and durably; returns how many were removed.

        Positions that are not live (already removed) are ignored, so an interrupted removal can
        simply be run again. Positions are never reused: later events keep theirs, the head's
        position and hash stay, and each stream's version continues past its removed events.
        Rules (ValidationError, nothing removed): the head event is never removed, and of each
        stream only a prefix of its live events (so live versions stay contiguous)."""
        raise StorageError(f"{type(self).__name__} cannot remove archived events")

    @abc.abstractmethod
    def close(self) -> None:
        """Release files and connections. Further calls raise StorageError."""

    # Live change detection, for subscriptions (chronik.derive.subscriptions).

    def wait_for_change(self, known_position: int, timeout_s: float) -> bool:
        """Wait until the head is past `known_position` or `timeout_s` passes; True when it is.

        A hint only: callers always resume by position (head, then read_all up to it), so a
        spurious True or a missed wake-up costs a round trip, never an event. Each store
        overrides this with its cheap signal; this default polls the head."""
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            if self.head().position > known_position:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(DEFAULT_CHANGE_POLL_S, remaining))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


# ---------------------------------------------------------------- rules shared by every store


def check_expectation(stream: str, expect: Expectation, current_version: int) -> None:
    """Raise ConcurrencyError unless `current_version` (0 = no stream) meets `expect`."""
    if expect is Expect.ANY:
        return
    if expect is Expect.NO_STREAM:
        ok = current_version == 0
    elif expect is Expect.EXISTS:
        ok = current_version > 0
    else:
        ok = current_version == expect
    if not ok:
        raise ConcurrencyError(stream, expect, current_version or None)


def replayed_result(batch: StreamBatch, recorded: list[Event | None]) -> AppendResult | None:
    """Idempotency: decide what a batch whose ids may already be recorded means.

    `recorded[i]` is the stored event with the id of `batch.events[i]`, or None. Returns the
    original result when every event is already recorded with identical content (a retry),
    None when none is recorded (a new append), and raises DuplicateIdError otherwise.
    """
    if all(event is None for event in recorded):
        return None
    for index, (pending, event) in enumerate(zip(batch.events, recorded, strict=True)):
        field = f"{batch.stream}.events[{index}].id"
        if event is None:
            raise DuplicateIdError(field, "this batch mixes ids already recorded with new ones",
                                   "retry the original batch unchanged, or use fresh ids")
        if (event.stream != batch.stream or event.type != pending.type
                or codec.encode_json(event.data) != pending.data
                or codec.encode_json(event.meta) != pending.meta):
            raise DuplicateIdError(field, f"id {pending.id!r} is already recorded at position "
                                   f"{event.position} with different content",
                                   "use a fresh id for a different event")
    positions = [event.position for event in recorded if event is not None]
    versions = [event.version for event in recorded if event is not None]
    return AppendResult(min(positions), max(positions), max(versions), [p.id for p in batch.events])


class Link(msgspec.Struct, frozen=True, array_like=True):
    """Where a pending event lands: its position, version, the hash before it and its own, and
    its signature when the store has a signer."""

    position: int
    version: int
    prev: str
    hash: str
    sig: str | None = None


def reject_partial_replay(replayed: dict[str, AppendResult], fresh: Sequence[StreamBatch]) -> None:
    """A call whose events are partly recorded already is not a retry of one atomic append."""
    if replayed and fresh:
        raise DuplicateIdError(f"{fresh[0].stream}.events[0].id",
                               f"streams {sorted(replayed)} are already recorded with these ids but "
                               f"{fresh[0].stream!r} is not",
                               "retry the original call unchanged, or use fresh ids")


def link_batch(stream: str, events: Sequence[PendingEvent], first_position: int,
               first_version: int, prev_hash: str,
               signer: Callable[[str], str] | None = None) -> list[Link]:
    """Assign positions, versions and chain hashes (and signatures, with a signer) to one
    stream's pending events."""
    links: list[Link] = []
    position, version, prev = first_position, first_version, prev_hash
    for pending in events:
        digest = codec.event_hash(position, stream, version, pending.type, pending.id,
                                  pending.time, pending.data, pending.meta, prev)
        links.append(Link(position, version, prev, digest, None if signer is None else signer(digest)))
        position, version, prev = position + 1, version + 1, digest
    return links


def check_removal_rows(head_position: int, older_kept: int, doomed: Sequence[int]) -> None:
    """The rules of `Store.remove_events` for the SQL stores, from what they counted."""
    if head_position and head_position in doomed:
        raise ValidationError("positions", f"position {head_position} is the head, which retention "
                              "never removes", "leave the newest event in place")
    if older_kept:
        raise ValidationError("positions", f"{older_kept} live events are older than removed events "
                              "of their streams; only a prefix of each stream may be removed",
                              "remove a prefix of each stream")


def check_import(events: Sequence[Event], head: Head, current_version: Callable[[str], int],
                 id_recorded: Callable[[str], bool] | None = None) -> dict[str, Event]:
    """The rules of `Store.import_events`, checked under the store's write lock.

    The first event must follow `head` (position + 1, prev = head hash); positions and prev links
    are contiguous; each event has its stream's next version (`current_version(stream)`, 0 for a
    new stream); no id repeats or, when `id_recorded` is given, is already recorded. Raises
    IntegrityError naming the first position at fault. Returns each stream's last event."""
    position, prev = head.position, head.hash
    versions: dict[str, int] = {}
    last_of_stream: dict[str, Event] = {}
    ids: set[str] = set()
    for event in events:
        if event.position != position + 1:
            raise IntegrityError(f"import: position {event.position} does not follow {position}; "
                                 f"expected {position + 1} (nothing was imported)")
        if event.prev != prev:
            raise IntegrityError(f"import: position {event.position} has prev {event.prev[:16]}..., "
                                 f"not the hash {prev[:16]}... of position {position} "
                                 f"(nothing was imported)")
        current = versions.get(event.stream)
        if current is None:
            current = current_version(event.stream)
        if event.version != current + 1:
            raise IntegrityError(f"import: position {event.position} is {event.stream} version "
                                 f"{event.version}; expected {current + 1} (nothing was imported)")
        if event.id in ids or (id_recorded is not None and id_recorded(event.id)):
            raise IntegrityError(f"import: position {event.position} has id {event.id!r}, which is "
                                 f"already recorded (nothing was imported)")
        ids.add(event.id)
        versions[event.stream] = event.version
        last_of_stream[event.stream] = event
        position, prev = event.position, event.hash
    return last_of_stream


def keyset_pages(fetch_page: Callable[[int, int], list[tuple]], cursor: int,
                 next_cursor: Callable[[tuple], int], limit: int | None, page_rows: int,
                 decode: Callable[[tuple], Event]) -> Iterator[Event]:
    """Keyset pagination shared by the SQL stores: `fetch_page(cursor, n)` returns up to n rows
    after `cursor`; `next_cursor(last_row)` moves past a page. No cursor stays open between
    pages, and only one page of rows is held at a time."""
    remaining = limit if limit is not None else 2**62
    while remaining > 0:
        page = min(page_rows, remaining)
        rows = fetch_page(cursor, page)
        fetched = len(rows)
        if fetched:
            cursor = next_cursor(rows[-1])
        yield from map(decode, rows)
        del rows  # one page in memory at a time, not two while the next is fetched
        if fetched < page:
            return
        remaining -= fetched


def event_from_row(row: tuple, _decode: Any = codec.decode_object) -> Event:
    """An Event from a SQL row in EVENT_COLUMNS order (data/meta as JSON text). The hot path of
    every SQL read: the decoder is bound once, and the usual empty meta skips it (a fresh dict
    each time, as decoding gives)."""
    meta = row[7]
    return Event(row[0], row[1], row[2], row[3], row[4], row[5], _decode(row[6]),
                 {} if meta == "{}" else _decode(meta), row[8], row[9], row[10])


def category_bounds(category: str) -> tuple[str, str]:
    """Stream names of a category sort in [low, high): 'order:' <= s < 'order;'."""
    return f"{category}:", f"{category};"


def text_haystack(type_: str, data: bytes | str, meta: bytes | str) -> str:
    """What a text filter searches: type, data and meta JSON, lower-cased, fields kept apart."""
    if isinstance(data, bytes):
        data = data.decode()
    if isinstance(meta, bytes):
        meta = meta.decode()
    return f"{type_}\x00{data}\x00{meta}".lower()


def matches(event: Event, data_json: bytes, meta_json: bytes, filter: ReadFilter) -> bool:
    """The filter predicate for stores that filter in Python (memory, jsonl)."""
    if filter.streams and event.stream not in filter.streams:
        return False
    if filter.categories and event.stream.partition(":")[0] not in filter.categories:
        return False
    if filter.types and event.type not in filter.types:
        return False
    if filter.since and event.time < filter.since:
        return False
    if filter.until and event.time > filter.until:
        return False
    return not (filter.text and filter.text not in text_haystack(event.type, data_json, meta_json))

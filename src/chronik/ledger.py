"""The ledger: the facade applications use.

It validates input (naming the field and the fix), assigns ids and times, and hands canonical
bytes to a store, which orders, chains and records them. It never writes anything for input it
rejects: every check happens before the store is called.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chronik import codec
from chronik.errors import LimitExceeded, ValidationError
from chronik.limits import DEFAULT_LIMITS, Limits
from chronik.model import (
    AppendResult,
    Event,
    Expect,
    Expectation,
    Filter,
    Head,
    NewEvent,
    Page,
    StreamInfo,
    VerifyReport,
)
from chronik.stores import open_store, resolve_url
from chronik.stores.base import NO_FILTER, PendingEvent, ReadFilter, Store, StreamBatch

if TYPE_CHECKING:  # the derive layer is imported only when used (docs/adr/0008)
    from chronik.derive.diff import Diff
    from chronik.derive.reducer import Reducer
    from chronik.derive.replay import ReplayResult
    from chronik.derive.snapshots import Snapshot
    from chronik.integrity.anchors import Anchor
    from chronik.integrity.keys import Keyring

Clock = Callable[[], datetime]

STREAM_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*:[A-Za-z0-9_.:@+=~-]+")
CATEGORY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
TYPE_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")

STREAM_FIX = "use category:id, e.g. order:42, with letters, digits and _ . - (and : @ + = ~ in the id)"
TYPE_FIX = "use snake_case or kebab-case, e.g. order_created"
# Positions, versions and counts are signed 64-bit in every store.
MAX_COUNT = 2**63 - 1


def _system_clock() -> datetime:
    return datetime.now(UTC)


class Ledger:
    def __init__(self, store: Store, *, clock: Clock | None = None, limits: Limits = DEFAULT_LIMITS,
                 keyring: Keyring | None = None) -> None:
        self.store = store
        self.limits = limits
        self._clock = clock or _system_clock
        # With a keyring that has an active key, the store signs every appended event
        # (sig = kid:HMAC-SHA256(key, hash); docs/adr/0009) and verify checks signatures.
        self.keyring = keyring
        store.signer = keyring.sign if keyring is not None and keyring.can_sign else None

    @property
    def url(self) -> str:
        return self.store.url

    # ------------------------------------------------------------ writing

    def append(self, stream: str, events: Sequence[NewEvent], expect: Expectation = Expect.ANY) -> AppendResult:
        """Record `events` at the end of `stream`, atomically, if the stream meets `expect`."""
        self._check_stream(stream, "stream")  # before it is used as a dict key
        return self.append_many({stream: (events, expect)})[stream]

    def append_many(self, batches: Mapping[str, tuple[Sequence[NewEvent], Expectation]]
                    ) -> dict[str, AppendResult]:
        """Record events on several streams in one atomic step: all, or none if any
        expectation fails. Returns each stream's result."""
        if not isinstance(batches, Mapping) or not batches:
            raise ValidationError("batches", "must be a non-empty mapping of stream to (events, expect)",
                                  "pass {\"order:1\": ([NewEvent(...)], Expect.ANY)}")
        now = codec.format_time(self._clock())
        total = 0
        seen_ids: set[str] = set()
        prepared: list[StreamBatch] = []
        for stream, entry in batches.items():
            self._check_stream(stream, "stream")
            events, expect = self._unpack(stream, entry)
            total += len(events)
            if total > self.limits.max_batch_events:
                raise LimitExceeded("events", "max_batch_events", self.limits.max_batch_events, total,
                                    "split the append into several calls")
            pending = [self._prepare(event, f"{stream}.events[{i}]", now, seen_ids)
                       for i, event in enumerate(events)]
            prepared.append(StreamBatch(stream, expect, pending))
        return self.store.append(prepared)

    def _unpack(self, stream: str, entry: Any) -> tuple[Sequence[NewEvent], Expectation]:
        if not (isinstance(entry, tuple) and len(entry) == 2):
            raise ValidationError(stream, "must map to a pair (events, expect)",
                                  "pass ([NewEvent(...)], Expect.ANY)")
        events, expect = entry
        if isinstance(events, NewEvent):
            events = [events]
        if not isinstance(events, Sequence) or isinstance(events, (str, bytes)) or not events:
            raise ValidationError(f"{stream}.events", "must be a non-empty list of NewEvent",
                                  "pass [NewEvent(\"created\", {...})]")
        return events, self._check_expect(expect, f"{stream}.expect")

    def _check_expect(self, expect: Any, field: str) -> Expectation:
        if isinstance(expect, Expect):
            return expect
        if isinstance(expect, int) and not isinstance(expect, bool) and expect >= 0:
            return expect
        raise ValidationError(field, f"{expect!r} is not an expectation",
                              "use Expect.ANY, Expect.NO_STREAM, Expect.EXISTS or a version >= 0")

    def _prepare(self, event: Any, field: str, now: str, seen_ids: set[str]) -> PendingEvent:
        if not isinstance(event, NewEvent):
            raise ValidationError(field, f"must be a NewEvent, got {type(event).__name__}",
                                  "wrap it: NewEvent(type, data, meta=..., id=...)")
        limits = self.limits
        self._check_type(event.type, f"{field}.type")
        if event.id is None:
            event_id, given = codec.new_event_id(), False
        else:
            event_id, given = codec.check_event_id(event.id, f"{field}.id", limits.max_id_chars), True
        if event_id in seen_ids:
            raise ValidationError(f"{field}.id", f"id {event_id!r} appears twice in this call",
                                  "give each event its own id")
        seen_ids.add(event_id)
        data = codec.canonical_json(event.data, f"{field}.data", limits.max_depth)
        meta = codec.canonical_json(event.meta, f"{field}.meta", limits.max_depth)
        size = len(data) + len(meta)
        if size > limits.max_event_bytes:
            raise LimitExceeded(f"{field}.data", "max_event_bytes", limits.max_event_bytes, size,
                                "store large payloads elsewhere and record a reference")
        return PendingEvent(event.type, event_id, now, data, meta, given)

    def _check_stream(self, stream: Any, field: str) -> str:
        if not isinstance(stream, str):
            raise ValidationError(field, f"must be a string, got {type(stream).__name__}", STREAM_FIX)
        if len(stream) > self.limits.max_stream_name_chars:
            raise LimitExceeded(field, "max_stream_name_chars", self.limits.max_stream_name_chars,
                                len(stream), "use a shorter stream name")
        if not STREAM_PATTERN.fullmatch(stream):
            raise ValidationError(field, f"{stream!r} is not a stream name", STREAM_FIX)
        return stream

    def _check_type(self, type_: Any, field: str) -> str:
        if not isinstance(type_, str):
            raise ValidationError(field, f"must be a string, got {type(type_).__name__}", TYPE_FIX)
        if len(type_) > self.limits.max_type_chars:
            raise LimitExceeded(field, "max_type_chars", self.limits.max_type_chars, len(type_),
                                "use a shorter type name")
        if not TYPE_PATTERN.fullmatch(type_):
            raise ValidationError(field, f"{type_!r} is not an event type name", TYPE_FIX)
        return type_

    # ------------------------------------------------------------ reading

    def read_stream(self, stream: str, start: int = 1, end: int | None = None, backwards: bool = False,
                    limit: int | None = None) -> Iterator[Event]:
        """Events of `stream` with start <= version <= end; newest first when `backwards`."""
        self._check_stream(stream, "stream")
        start = self._check_count(start, "start", minimum=1)
        end = None if end is None else self._check_count(end, "end", minimum=0)
        limit = None if limit is None else self._check_count(limit, "limit", minimum=0)
        return self.store.read_stream(stream, start, end, backwards, limit)

    def read_all(self, after: int = 0, limit: int | None = None, filter: Filter | None = None) -> Iterator[Event]:
        """Every matching event with position > `after`, in position order, up to the head
        at the time of the call."""
        after = self._check_count(after, "after", minimum=0)
        limit = None if limit is None else self._check_count(limit, "limit", minimum=0)
        return self.store.read_all(after, limit, self._read_filter(filter))

    def query(self, filter: Filter | None = None, limit: int = 100, cursor: str | None = None) -> Page:
        """One page of matching events in position order. Pass `next_cursor` back for the next
        page; pages never repeat or skip an event, even while others append."""
        limit = self._check_count(limit, "limit", minimum=1)
        if limit > self.limits.max_page_size:
            raise LimitExceeded("limit", "max_page_size", self.limits.max_page_size, limit,
                                "page through results with the cursor")
        read_filter = self._read_filter(filter)
        after = 0 if cursor is None else _decode_cursor(cursor, read_filter)
        events = list(self.store.read_all(after, limit + 1, read_filter))
        has_more = len(events) > limit
        events = events[:limit]
        next_cursor = _encode_cursor(events[-1].position, read_filter) if has_more else None
        return Page(events, self.store.count(read_filter), has_more, next_cursor)

    def follow(self, after: int = 0, filter: Filter | None = None, poll_interval_ms: int = 200,
               stop: Callable[[], bool] | None = None) -> Iterator[Event]:
        """Matching events after `after`, then each new one as it is committed, forever (or
        until `stop()` is true). Resumes by position, so nothing is skipped or repeated."""
        # Checked now, not on the first next(): a caller learns of bad input before it starts.
        read_filter = self._read_filter(filter)
        after = self._check_count(after, "after", minimum=0)
        poll_interval_ms = self._check_count(poll_interval_ms, "poll_interval_ms", minimum=1)
        return self._follow(after, read_filter, poll_interval_ms, stop)

    def _follow(self, after: int, read_filter: ReadFilter, poll_interval_ms: int,
                stop: Callable[[], bool] | None) -> Iterator[Event]:
        while stop is None or not stop():
            # Read up to a head taken first: positions are commit-ordered, so nothing can
            # appear at or below it later, and a filter that matches nothing still advances.
            head = self.store.head().position
            if head <= after:
                time.sleep(poll_interval_ms / 1000)
                continue
            yield from self.store.read_all(after, None, read_filter, head)
            after = head

    def subscribe(self, handler: Callable[[Event], Any] | None = None, after: int = 0,
                  filter: Filter | None = None, name: str | None = None, **options: Any) -> Any:
        """A `chronik.derive.Subscription`: matching events after `after` in position order,
        catch-up then live, to `handler` (sub.run(), run_until(), start()/stop()) or by
        iterating (`for event in sub`). A named subscription resumes from its durable
        checkpoint (`after` only applies to its first run); failing handlers are retried with
        backoff under a circuit breaker, then their events parked. Options: queue_size, retry,
        breaker, sleep, rng, checkpoint_every, wait_for_change_s."""
        # The service layer sits above the ledger: imported here, when used (docs/adr/0008).
        from chronik.derive.subscriptions import Subscription

        return Subscription(self, handler, after=after, filter=filter, name=name, **options)

    def streams(self, category: str | None = None) -> list[StreamInfo]:
        if category is not None:
            self._check_category(category, "category")
        return self.store.streams(category)

    def head(self) -> Head:
        return self.store.head()

    def stats(self) -> dict[str, Any]:
        stats = self.store.stats()
        head = self.store.head()
        return {"url": self.url, **stats, "head_position": head.position, "head_hash": head.hash}

    def verify(self, *, keyring: Keyring | None = None, anchor: Anchor | None = None,
               from_position: int | None = None, to_position: int | None = None,
               require_signatures: bool = False) -> VerifyReport:
        """Walk the chain: positions, prev links, hashes and stream versions; signatures with a
        keyring (the ledger's own by default); with an anchor, also tail truncation and rollback.
        `from_position`/`to_position` limit the walk to a range. The full report, with what was
        checked, is chronik.integrity.verify.verify_ledger's."""
        # The integrity service sits above the ledger: imported when used (docs/adr/0008).
        from chronik.integrity.verify import verify_ledger

        return verify_ledger(self, keyring=keyring, anchor=anchor, from_position=from_position,
                             to_position=to_position, require_signatures=require_signatures
                             ).to_verify_report()

    # ------------------------------------------------------------ deriving state
    # The service layer (chronik.derive) sits above the ledger; these delegate to it with a
    # function-local import, so the core never imports it at load time (docs/adr/0008).

    def replay(self, stream: str, reducer: Reducer, to_version: int | None = None,
               to_position: int | None = None, at: datetime | str | None = None,
               include_snapshots: bool = True, include_archive: bool = False) -> ReplayResult:
        """Fold `stream` through `reducer`: the newest state, or the state at a version, at a
        position, or `at` a time (every event recorded at or before it, in version order).
        Starts from the newest usable snapshot and saves one per the reducer's policy unless
        `include_snapshots` is False. At most one of to_version, to_position and at."""
        from chronik.derive.replay import replay

        return replay(self, stream, reducer, to_version=to_version, to_position=to_position, at=at,
                      include_snapshots=include_snapshots, include_archive=include_archive)

    def diff(self, stream: str, reducer: Reducer, a: Any, b: Any) -> Diff:
        """What changed in `stream`'s state from point `a` to point `b` (a version, None for the
        newest, {"version": n}, {"position": n} or {"at": time}) and which events changed it."""
        from chronik.derive.diff import diff

        return diff(self, stream, reducer, a, b)

    def snapshot(self, stream: str, reducer: Reducer, to_version: int | None = None) -> Snapshot:
        """Replay `stream` (to `to_version`) and save the state as a snapshot now."""
        from chronik.derive.replay import take_snapshot

        return take_snapshot(self, stream, reducer, to_version=to_version)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Ledger {self.url}>"

    # ------------------------------------------------------------ input checks

    def _check_count(self, value: Any, field: str, minimum: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= MAX_COUNT:
            raise ValidationError(field, f"{value!r} is not an integer from {minimum} to {MAX_COUNT}",
                                  f"pass a whole number >= {minimum} that fits in 64 bits")
        return value

    def _check_category(self, category: Any, field: str) -> str:
        if not isinstance(category, str) or not CATEGORY_PATTERN.fullmatch(category):
            raise ValidationError(field, f"{category!r} is not a category name",
                                  "a category is the text before the first ':' of a stream name")
        return category

    def _read_filter(self, filter: Filter | None) -> ReadFilter:
        if filter is None:
            return NO_FILTER
        if not isinstance(filter, Filter):
            raise ValidationError("filter", f"must be a Filter, got {type(filter).__name__}",
                                  "pass Filter(types=[...], ...)")
        text = None
        if filter.text is not None:
            if not isinstance(filter.text, str):
                raise ValidationError("filter.text", "must be a string", "pass the text to search for")
            if len(filter.text) > self.limits.max_text_filter_chars:
                raise LimitExceeded("filter.text", "max_text_filter_chars",
                                    self.limits.max_text_filter_chars, len(filter.text),
                                    "search for a shorter text")
            text = filter.text.lower() or None
        return ReadFilter(
            streams=self._filter_values(filter.streams, "filter.streams", self._check_stream),
            categories=self._filter_values(filter.categories, "filter.categories", self._check_category),
            types=self._filter_values(filter.types, "filter.types", self._check_type),
            since=None if filter.since is None else codec.canonical_time(filter.since, "filter.since"),
            until=None if filter.until is None else codec.canonical_time(filter.until, "filter.until"),
            text=text,
        )

    def _filter_values(self, values: Any, field: str, check: Callable[[Any, str], str]) -> tuple[str, ...] | None:
        if values is None:
            return None
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, (list, tuple, set, frozenset)):
            raise ValidationError(field, "must be a list of strings", f"pass {field.split('.')[-1]}=[...]")
        if len(values) > self.limits.max_filter_values:
            raise LimitExceeded(field, "max_filter_values", self.limits.max_filter_values, len(values),
                                "narrow the filter, or filter by category")
        checked = tuple(sorted({check(value, field) for value in values}))
        return checked or None


def _filter_digest(read_filter: ReadFilter) -> str:
    return hashlib.sha256(codec.encode_json(read_filter)).hexdigest()[:12]


def _encode_cursor(position: int, read_filter: ReadFilter) -> str:
    raw = f"1.{position}.{_filter_digest(read_filter)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: Any, read_filter: ReadFilter) -> int:
    fix = "pass the next_cursor of the previous page unchanged, with the same filter"
    if not isinstance(cursor, str) or len(cursor) > 200:
        raise ValidationError("cursor", "is not a cursor from this ledger", fix)
    try:
        version, position, digest = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)) \
            .decode().split(".")
        after = int(position)
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("cursor", "is not a cursor from this ledger", fix) from None
    if version != "1" or not 0 <= after <= MAX_COUNT:
        raise ValidationError("cursor", "is not a cursor from this ledger", fix)
    if digest != _filter_digest(read_filter):
        raise ValidationError("cursor", "was made for a different filter", fix)
    return after


def open_ledger(url: str | None = None, *, clock: Clock | None = None, limits: Limits = DEFAULT_LIMITS,
                keyring: Keyring | None = None) -> Ledger:
    """Open the ledger at `url` (else $CHRONIK_URL, else sqlite:///~/.chronik/ledger.db).

    `keyring` signs appends and checks signatures; without one, the keyring of $CHRONIK_KEYS or
    $CHRONIK_KEYS_FILE is used when either is set (chronik.integrity.keys)."""
    if keyring is None and (os.environ.get("CHRONIK_KEYS") or os.environ.get("CHRONIK_KEYS_FILE")):
        from chronik.integrity.keys import keyring_from_environment

        keyring = keyring_from_environment()
    return Ledger(open_store(resolve_url(url)), clock=clock, limits=limits, keyring=keyring)

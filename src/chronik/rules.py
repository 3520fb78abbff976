"""The input rules every layer checks: names, counts, filters and new events.

They live in the core so that the facade, the services (replay, import) and the stores check the
same thing the same way, and so that no service needs the facade to validate what it is given.
Each check raises a typed error naming the field and the fix, before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from chronik import codec
from chronik.errors import LimitExceeded, ValidationError
from chronik.limits import Limits
from chronik.model import (
    NO_FILTER,
    Expect,
    Expectation,
    Filter,
    NewEvent,
    PendingEvent,
    ReadFilter,
    StreamBatch,
)

STREAM_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*:[A-Za-z0-9_.:@+=~-]+")
CATEGORY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
TYPE_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")

STREAM_FIX = "use category:id, e.g. order:42, with letters, digits and _ . - (and : @ + = ~ in the id)"
TYPE_FIX = "use snake_case or kebab-case, e.g. order_created"
# Positions, versions and counts are signed 64-bit in every store.
MAX_COUNT = 2**63 - 1


def check_count(value: Any, field: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= MAX_COUNT:
        raise ValidationError(field, f"{value!r} is not an integer from {minimum} to {MAX_COUNT}",
                              f"pass a whole number >= {minimum} that fits in 64 bits")
    return value


def check_stream(stream: Any, field: str, limits: Limits) -> str:
    if not isinstance(stream, str):
        raise ValidationError(field, f"must be a string, got {type(stream).__name__}", STREAM_FIX)
    if len(stream) > limits.max_stream_name_chars:
        raise LimitExceeded(field, "max_stream_name_chars", limits.max_stream_name_chars,
                            len(stream), "use a shorter stream name")
    if not STREAM_PATTERN.fullmatch(stream):
        raise ValidationError(field, f"{stream!r} is not a stream name", STREAM_FIX)
    return stream


def check_type(type_: Any, field: str, limits: Limits) -> str:
    if not isinstance(type_, str):
        raise ValidationError(field, f"must be a string, got {type(type_).__name__}", TYPE_FIX)
    if len(type_) > limits.max_type_chars:
        raise LimitExceeded(field, "max_type_chars", limits.max_type_chars, len(type_),
                            "use a shorter type name")
    if not TYPE_PATTERN.fullmatch(type_):
        raise ValidationError(field, f"{type_!r} is not an event type name", TYPE_FIX)
    return type_


def check_category(category: Any, field: str) -> str:
    if not isinstance(category, str) or not CATEGORY_PATTERN.fullmatch(category):
        raise ValidationError(field, f"{category!r} is not a category name",
                              "a category is the text before the first ':' of a stream name")
    return category


def check_expect(expect: Any, field: str) -> Expectation:
    if isinstance(expect, Expect):
        return expect
    # A version beyond 64 bits was a ConcurrencyError on SQLite and a StorageError on PostgreSQL.
    if isinstance(expect, int) and not isinstance(expect, bool) and 0 <= expect <= MAX_COUNT:
        return expect
    raise ValidationError(field, f"{expect!r} is not an expectation",
                          f"use Expect.ANY, Expect.NO_STREAM, Expect.EXISTS or a version from 0 to {MAX_COUNT}")


# ---------------------------------------------------------------- filters


def read_filter(filter: Filter | None, limits: Limits) -> ReadFilter:
    """A caller's Filter, checked and normalised into what stores take."""
    if filter is None:
        return NO_FILTER
    if not isinstance(filter, Filter):
        raise ValidationError("filter", f"must be a Filter, got {type(filter).__name__}",
                              "pass Filter(types=[...], ...)")
    text = None
    if filter.text is not None:
        if not isinstance(filter.text, str):
            raise ValidationError("filter.text", "must be a string", "pass the text to search for")
        if len(filter.text) > limits.max_text_filter_chars:
            raise LimitExceeded("filter.text", "max_text_filter_chars", limits.max_text_filter_chars,
                                len(filter.text), "search for a shorter text")
        text = filter.text.lower() or None
    return ReadFilter(
        streams=_filter_values(filter.streams, "filter.streams", limits,
                               lambda value, field: check_stream(value, field, limits)),
        categories=_filter_values(filter.categories, "filter.categories", limits, check_category),
        types=_filter_values(filter.types, "filter.types", limits,
                             lambda value, field: check_type(value, field, limits)),
        since=None if filter.since is None else codec.canonical_time(filter.since, "filter.since"),
        until=None if filter.until is None else codec.canonical_time(filter.until, "filter.until"),
        text=text,
    )


def _filter_values(values: Any, field: str, limits: Limits,
                   check: Callable[[Any, str], str]) -> tuple[str, ...] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple, set, frozenset)):
        raise ValidationError(field, "must be a list of strings", f"pass {field.split('.')[-1]}=[...]")
    if len(values) > limits.max_filter_values:
        raise LimitExceeded(field, "max_filter_values", limits.max_filter_values, len(values),
                            "narrow the filter, or filter by category")
    checked = tuple(sorted({check(value, field) for value in values}))
    return checked or None


# ---------------------------------------------------------------- new events


def stream_batches(batches: Any, now: str, limits: Limits) -> list[StreamBatch]:
    """Check an append_many argument ({stream: (events, expect)}) whole, before anything is
    written, and turn it into the batches stores record; every event is stamped `now`."""
    if not isinstance(batches, Mapping) or not batches:
        raise ValidationError("batches", "must be a non-empty mapping of stream to (events, expect)",
                              "pass {\"order:1\": ([NewEvent(...)], Expect.ANY)}")
    total = 0
    seen_ids: set[str] = set()
    prepared: list[StreamBatch] = []
    for stream, entry in batches.items():
        check_stream(stream, "stream", limits)
        events, expect = _unpack(stream, entry)
        total += len(events)
        if total > limits.max_batch_events:
            raise LimitExceeded("events", "max_batch_events", limits.max_batch_events, total,
                                "split the append into several calls")
        pending = [pending_event(event, f"{stream}.events[{i}]", now, seen_ids, limits)
                   for i, event in enumerate(events)]
        prepared.append(StreamBatch(stream, expect, pending))
    return prepared


def _unpack(stream: str, entry: Any) -> tuple[Sequence[NewEvent], Expectation]:
    if not (isinstance(entry, tuple) and len(entry) == 2):
        raise ValidationError(stream, "must map to a pair (events, expect)",
                              "pass ([NewEvent(...)], Expect.ANY)")
    events, expect = entry
    if isinstance(events, NewEvent):
        events = [events]
    if not isinstance(events, Sequence) or isinstance(events, (str, bytes)) or not events:
        raise ValidationError(f"{stream}.events", "must be a non-empty list of NewEvent",
                              "pass [NewEvent(\"created\", {...})]")
    return events, check_expect(expect, f"{stream}.expect")


def pending_event(event: Any, field: str, now: str, seen_ids: set[str], limits: Limits) -> PendingEvent:
    """One NewEvent checked (type, id, data, meta, size) and encoded to canonical bytes."""
    if not isinstance(event, NewEvent):
        raise ValidationError(field, f"must be a NewEvent, got {type(event).__name__}",
                              "wrap it: NewEvent(type, data, meta=..., id=...)")
    check_type(event.type, f"{field}.type", limits)
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

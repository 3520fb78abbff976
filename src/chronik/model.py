"""The value types of chronik: what callers append, what the ledger records and returns.

All are immutable msgspec Structs: cheap to build (reading 100,000 events builds 100,000 of
them) and comparable by value.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec


class Expect(enum.Enum):
    """What the caller expects of a stream before appending. An int means that exact version."""

    ANY = "any"
    NO_STREAM = "no-stream"
    EXISTS = "exists"

    def __str__(self) -> str:
        return self.value


# An expectation is one of the Expect members or an exact stream version (0 = no stream).
Expectation = Expect | int


class NewEvent(msgspec.Struct, frozen=True):
    """An event a caller wants recorded. `id` defaults to a fresh UUIDv7."""

    type: str
    data: dict[str, Any] = msgspec.field(default_factory=dict)
    meta: dict[str, Any] = msgspec.field(default_factory=dict)
    id: str | None = None


class Event(msgspec.Struct, frozen=True, gc=False):
    """A recorded event: a NewEvent plus everything the ledger assigned."""

    position: int
    stream: str
    version: int
    type: str
    id: str
    time: str
    data: dict[str, Any]
    meta: dict[str, Any]
    prev: str
    hash: str
    sig: str | None = None

    @property
    def category(self) -> str:
        return self.stream.partition(":")[0]

    def to_dict(self) -> dict[str, Any]:
        return msgspec.structs.asdict(self)


class AppendResult(msgspec.Struct, frozen=True):
    """What one stream's part of an append produced."""

    first_position: int
    last_position: int
    version: int
    ids: list[str]


class StreamInfo(msgspec.Struct, frozen=True):
    stream: str
    version: int
    last_position: int
    last_type: str
    last_time: str


class Head(msgspec.Struct, frozen=True):
    """The newest position and its hash; position 0 with the genesis hash when empty."""

    position: int
    hash: str


class Filter(msgspec.Struct, frozen=True, kw_only=True):
    """Which events a read or query returns. Every given criterion must match (AND);
    within one list, any value matches (OR). `since`/`until` are inclusive times;
    `text` is a case-insensitive substring of the type, data or meta JSON."""

    streams: list[str] | None = None
    categories: list[str] | None = None
    types: list[str] | None = None
    since: datetime | str | None = None
    until: datetime | str | None = None
    text: str | None = None


# What Page.total holds: int, or None when the count was not asked for (Ledger.query).
Total = TypeVar("Total", int, int | None)


class Page(msgspec.Struct, Generic[Total], frozen=True):
    events: list[Event]
    # Every matching event, counted when the page was read; None for a query made with
    # include_total=False, which skips the count (a pass over every match).
    total: Total
    has_more: bool
    next_cursor: str | None


class Problem(msgspec.Struct, frozen=True):
    """One thing verify found wrong, at a position (0 when it concerns the whole ledger)."""

    position: int
    kind: str
    detail: str


class VerifyReport(msgspec.Struct, frozen=True):
    ok: bool
    checked: int
    first_bad_position: int | None
    problems: list[Problem]
    head: Head | None = None
    notes: list[str] = msgspec.field(default_factory=list)


# ---------------------------------------------------------------- validated input, as stores receive it
# Built by chronik.rules from what callers pass; every store takes these and only these.


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

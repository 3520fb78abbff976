"""Reading an instance's events: the query, replay to a sequence number, and the statistics.

Query semantics (the real system's, made exact): the instance's events in sequence order,
filtered by type (one or a list; aliases such as deployment_done name their canonical type),
start and end date (inclusive instants in any offset; a date or a time without a zone is read
as UTC, and an end date without a time means the end of that day), a case-insensitive keyword
(a substring of the type, the data or the metadata as JSON, the same on every store: the
ledger's text filter) and the lineage fields; `limit` is clamped to 1..1000 (default 100);
pages by `offset` or by the `next_cursor` of the previous page.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import msgspec

from chronik import codec
from chronik.domains.sessions.checks import Catalog
from chronik.domains.sessions.events import LINEAGE_NAMES, STREAM_CATEGORY, check_instance_id, instance_stream
from chronik.domains.sessions.instances import last_event, replayed_state
from chronik.domains.sessions.reducer import plan_final_state
from chronik.errors import ValidationError
from chronik.ledger import Ledger
from chronik.model import Event, Filter
from chronik.stores.filters import text_haystack

DEFAULT_LIMIT = 100
MAX_LIMIT = 1_000
MAX_OFFSET = 1_000_000
MAX_TYPES = 100
MAX_KEYWORD_CHARS = 200
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
_NAIVE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?")
DATE_FIX = "use ISO 8601, e.g. 2026-01-28, 2026-01-28T10:00:00Z or 2026-01-28T11:00:00+01:00"


class QueryResult(msgspec.Struct, frozen=True):
    events: list[dict[str, Any]]
    total_count: int
    has_more: bool
    next_cursor: str | None = None


def event_view(event: Event) -> dict[str, Any]:
    """An event as the real system returned it: event_id, event_type, sequence_num, timestamp,
    event_data, metadata, and the lineage fields when set."""
    meta = event.meta
    view = {"event_id": event.id, "event_type": event.type, "sequence_num": event.version,
            "timestamp": event.time, "event_data": event.data,
            "metadata": {k: v for k, v in meta.items() if k not in LINEAGE_NAMES} if meta else {}}
    for name in LINEAGE_NAMES:
        if name in meta:
            view[name] = meta[name]
    return view


def clamp_limit(limit: Any) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise ValidationError("limit", f"must be an integer, got {type(limit).__name__}", "use 1 to 1000")
    return min(max(limit, 1), MAX_LIMIT)


def query(ledger: Ledger, instance_id: str, event_type: str | Sequence[str] | None = None,
          start_date: str | None = None, end_date: str | None = None, keyword: str | None = None,
          lineage: dict[str, Any] | None = None, limit: int | None = DEFAULT_LIMIT, offset: int | None = 0,
          cursor: str | None = None, catalog: Catalog | None = None) -> QueryResult:
    """One page of the instance's matching events, ascending by sequence (module docstring)."""
    check_instance_id(instance_id)
    limit = clamp_limit(limit)
    offset = _offset(offset)
    since = _instant(start_date, "start_date", end_of_day=False)
    until = _instant(end_date, "end_date", end_of_day=True)
    if since and until and until < since:
        raise ValidationError("end_date", f"{end_date} is before start_date {start_date}",
                              "give an end_date at or after the start_date")
    page = Page(instance_id, _types(event_type, catalog), since, until, _keyword(keyword), _lineage(lineage or {}),
                limit, offset)
    after = 0 if cursor is None else page.version_of(cursor)
    newest = last_event(ledger, instance_id)  # an unknown instance is an error, not an empty page
    if not page.filters:
        return page.by_version(ledger, newest.version, after)
    # One instance's events, tested here: bounded by the instance whatever the ledger's size,
    # served by the (stream, version) index on every store, and one rule for the keyword.
    matches = [event for event in ledger.read_stream(instance_stream(instance_id)) if page.keeps(event)]
    return page.result((event for event in matches if event.version > after), len(matches))


class Page:
    """One query's page: what it keeps, where it starts, and how the next page is named."""

    def __init__(self, instance_id: str, types: list[str] | None, since: str | None, until: str | None,
                 keyword: str | None, lineage: dict[str, Any], limit: int, offset: int) -> None:
        self.instance_id, self.types, self.keyword, self.lineage = instance_id, types, keyword, lineage
        self.since, self.until, self.limit, self.offset = since, until, limit, offset
        self.filters = bool(types or since or until or keyword or lineage)
        self.wanted_types = frozenset(types or ())
        self.needle = None if keyword is None else keyword.lower()  # as the ledger's text filter does
        self.digest = hashlib.sha256(codec.encode_json([instance_id, types, since, until, keyword, lineage])
                                     ).hexdigest()[:12]

    def keeps(self, event: Event) -> bool:
        """Type, inclusive time bounds (canonical UTC text compares as time), the keyword as the
        ledger's text filter matches it (stores.filters.text_haystack, every store's rule) and
        the lineage fields."""
        if self.wanted_types and event.type not in self.wanted_types:
            return False
        if (self.since and event.time < self.since) or (self.until and event.time > self.until):
            return False
        if self.needle is not None and self.needle not in text_haystack(
                event.type, codec.encode_json(event.data), codec.encode_json(event.meta)):
            return False
        return all(event.meta.get(name) == value for name, value in self.lineage.items())

    def result(self, events: Iterable[Event], total: int) -> QueryResult:
        found = list(islice(events, self.offset, self.offset + self.limit + 1))
        shown = found[:self.limit]
        has_more = len(found) > self.limit
        return QueryResult([event_view(e) for e in shown], total, has_more,
                           self.cursor_after(shown[-1].version) if has_more else None)

    def by_version(self, ledger: Ledger, newest: int, after: int) -> QueryResult:
        """No filter: the page is a range of versions (live versions are contiguous)."""
        stream = instance_stream(self.instance_id)
        first = next(ledger.read_stream(stream, limit=1)).version
        total = newest - first + 1
        start = max(first, after + 1) + self.offset
        shown = list(ledger.read_stream(stream, start=start, limit=self.limit))
        has_more = bool(shown) and shown[-1].version < newest
        return QueryResult([event_view(e) for e in shown], total, has_more,
                           self.cursor_after(shown[-1].version) if has_more else None)

    def cursor_after(self, version: int) -> str:
        return base64.urlsafe_b64encode(f"s1.{version}.{self.digest}".encode()).decode().rstrip("=")

    def version_of(self, cursor: Any) -> int:
        fix = "pass the next_cursor of the previous page unchanged, with the same filters"
        if not isinstance(cursor, str) or len(cursor) > 100:
            raise ValidationError("cursor", "is not a cursor of this query", fix)
        try:
            tag, position, digest = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(".")
            after = int(position)
        except (ValueError, UnicodeDecodeError):
            raise ValidationError("cursor", "is not a cursor of this query", fix) from None
        if tag != "s1" or after < 0:
            raise ValidationError("cursor", "is not a cursor of this query", fix)
        if digest != self.digest:
            raise ValidationError("cursor", "was made for a different query", fix)
        if self.offset:
            raise ValidationError("cursor", "cannot be combined with offset", "page with the cursor alone")
        return after


def _offset(offset: Any) -> int:
    if offset is None:
        return 0
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
        raise ValidationError("offset", f"{offset!r} is not an offset", f"use a whole number from 0 to {MAX_OFFSET}")
    return offset


def _instant(text: Any, field: str, end_of_day: bool) -> str | None:
    """A bound as canonical UTC text: a date is its whole day, a time without a zone is UTC."""
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        raise ValidationError(field, f"must be a date string, got {type(text).__name__}", DATE_FIX)
    value = text.strip()
    if _DATE_ONLY.fullmatch(value):
        moment = codec.parse_time(value, field)
        if end_of_day:
            moment += timedelta(days=1, microseconds=-1)
        return codec.format_time(moment)
    if _NAIVE_TIME.fullmatch(value):
        try:
            naive = datetime.fromisoformat(value.replace(" ", "T")[:26])
        except ValueError:
            raise ValidationError(field, f"{value[:60]!r} is not a date", DATE_FIX) from None
        return codec.format_time(naive.replace(tzinfo=UTC))
    try:
        return codec.format_time(codec.parse_time(value, field))
    except ValidationError:
        raise ValidationError(field, f"{value[:60]!r} is not a date", DATE_FIX) from None


def _types(event_type: Any, catalog: Catalog | None) -> list[str] | None:
    if event_type is None or event_type == []:
        return None
    names = [event_type] if isinstance(event_type, str) else event_type
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) and n for n in names):
        raise ValidationError("event_type", "must be a type name or a list of them",
                              'e.g. "epic_completed" or ["test_passed", "test_failed"]')
    if len(names) > MAX_TYPES:
        raise ValidationError("event_type", f"{len(names)} types is more than {MAX_TYPES}", "ask for fewer")
    aliases = catalog.aliases if catalog is not None else {}
    return sorted({aliases.get(name) or name for name in names})


def _keyword(keyword: Any) -> str | None:
    if keyword is None or keyword == "":
        return None
    if not isinstance(keyword, str):
        raise ValidationError("keyword", f"must be a string, got {type(keyword).__name__}", "pass a word to find")
    if len(keyword) > MAX_KEYWORD_CHARS:
        raise ValidationError("keyword", f"is longer than {MAX_KEYWORD_CHARS} characters", "use a shorter keyword")
    return keyword


def _lineage(given: dict[str, Any]) -> dict[str, Any]:
    wanted = {}
    for name, value in given.items():
        if name not in LINEAGE_NAMES:
            raise ValidationError(name, "is not a lineage field", f"use {', '.join(LINEAGE_NAMES)}")
        if value is None:
            continue
        kind_ok = isinstance(value, int) and not isinstance(value, bool) if name == "depth" else isinstance(value, str)
        if not kind_ok:
            raise ValidationError(name, f"has the wrong type ({type(value).__name__})",
                                  "depth is an integer, parent_uuid and root_uuid are strings")
        wanted[name] = value
    return wanted


# ---------------------------------------------------------------- replay


class Replayed(msgspec.Struct, frozen=True):
    """The real system's replay result: {final_state, events_replayed, duration_ms, success}."""

    final_state: dict[str, Any]
    events_replayed: int
    duration_ms: float
    success: bool = True


def replay(ledger: Ledger, instance_id: str, to_sequence_num: int | None = None) -> Replayed:
    """The instance's state after its events up to `to_sequence_num` (inclusive; past the newest,
    the newest; none: all). events_replayed counts the events the state reflects."""
    check_instance_id(instance_id)
    if to_sequence_num is not None and (not isinstance(to_sequence_num, int) or isinstance(to_sequence_num, bool)
                                        or to_sequence_num < 0):
        raise ValidationError("to_sequence_num", f"{to_sequence_num!r} is not a sequence number",
                              "use a whole number >= 0, or leave it out for the newest state")
    started = time.perf_counter()
    last_event(ledger, instance_id)
    state = replayed_state(ledger, instance_id, to_sequence_num)
    duration_ms = (time.perf_counter() - started) * 1000
    return Replayed(plan_final_state(state), state["total_events"], round(duration_ms, 3))


# ---------------------------------------------------------------- statistics

# The recorded durations the statistics summarise: (event type, field).
DURATIONS = (("epic_completed", "duration_hours"), ("epic_failed", "duration_hours"),
             ("test_passed", "duration_seconds"), ("test_failed", "duration_seconds"),
             ("deployment_completed", "response_time_ms"), ("tool_result", "duration_ms"),
             ("command_logged", "duration_ms"))


def stats(ledger: Ledger, instance_id: str | None = None) -> dict[str, Any]:
    """Counts per type, epic outcomes (failure rate, the epics that fail most) and p50/p95 of the
    recorded durations, for one instance or all of them."""
    if instance_id is not None:
        last_event(ledger, check_instance_id(instance_id))
        events: Iterable[Event] = ledger.read_stream(instance_stream(instance_id))
    else:
        events = ledger.read_all(filter=Filter(categories=[STREAM_CATEGORY]))
    counts: dict[str, int] = {}
    outcomes: dict[str, dict[str, int]] = {}
    samples: dict[str, list[float]] = {f"{t}.{f}": [] for t, f in DURATIONS}
    wanted = {t: f for t, f in DURATIONS}
    instances = set()
    for event in events:
        instances.add(event.stream)
        counts[event.type] = counts.get(event.type, 0) + 1
        epic = event.data.get("epic_id")
        if event.type in ("epic_started", "epic_completed", "epic_failed") and isinstance(epic, str):
            tally = outcomes.setdefault(epic, {"started": 0, "completed": 0, "failed": 0})
            tally[event.type.partition("_")[2]] += 1
        field = wanted.get(event.type)
        value = event.data.get(field) if field else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            samples[f"{event.type}.{field}"].append(float(value))
    completed = sum(t["completed"] for t in outcomes.values())
    failed = sum(t["failed"] for t in outcomes.values())
    failing = sorted(((name, t) for name, t in outcomes.items() if t["failed"]),
                     key=lambda item: (-item[1]["failed"], item[0]))[:10]
    return {"instance_id": instance_id, "instances": len(instances), "total_events": sum(counts.values()),
            "event_type_counts": dict(sorted(counts.items())),
            "epics": {"count": len(outcomes), "completed": completed, "failed": failed,
                      "failure_rate": round(failed / (completed + failed), 4) if completed + failed else None,
                      "most_failed": [{"epic_id": name, **tally} for name, tally in failing]},
            "durations": {name: _summary(values) for name, values in samples.items() if values}}


def _summary(values: list[float]) -> dict[str, float | int]:
    ordered = sorted(values)
    return {"count": len(ordered), "p50": _percentile(ordered, 50), "p95": _percentile(ordered, 95),
            "max": ordered[-1]}


def _percentile(ordered: list[float], percent: int) -> float:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, -(-percent * len(ordered) // 100))
    return ordered[rank - 1]

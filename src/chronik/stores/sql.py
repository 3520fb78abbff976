"""What the SQL stores (SQLite, PostgreSQL) share: the event row, keyset paging, and the read
queries, built once for a dialect (placeholder style, how a list is bound, how text is searched).

Every value is bound as a parameter; only table names (validated by the store) and fixed SQL are
formatted into statements.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from chronik import codec
from chronik.model import Event, Head, ReadFilter, StreamInfo
from chronik.stores.filters import category_bounds

# fetch(sql, params) -> rows: how a store runs one read statement (with its error mapping).
Fetch = Callable[[str, Sequence[Any]], list[tuple]]


@dataclass(frozen=True)
class TextIndex:
    """A full-text index that answers a text filter in place of testing every row (ADR 0013)."""

    # The FROM clause: the index, then the events table joined to it, so that the index drives.
    source: str
    # The index's position column: reads bound, order and page by it, so the index is read in
    # position order and a page stops after `limit` matches.
    position: str
    # match(needle) -> (condition, params) on the index, or None when the index cannot answer
    # this needle (too short, say), which is then tested row by row with `text_match`.
    match: Callable[[str], tuple[str, list[Any]] | None]


@dataclass(frozen=True)
class SqlDialect:
    """The differences between the SQL stores that their queries depend on."""

    placeholder: str
    # Bind a list as one array parameter (`x = ANY(%s)`: one prepared statement for any length)
    # rather than one parameter per element (`x IN (?, ?)`).
    array_params: bool
    # Appended to ORDER BY on names, so that they order by code point as in every store.
    collate: str
    # text_match(needle) -> (condition, params): a case-insensitive substring of type, data or meta.
    text_match: Callable[[str], tuple[str, list[Any]]]
    # The text index of the store, when it has one.
    text_index: TextIndex | None = None


def where_clause(filter: ReadFilter, dialect: SqlDialect) -> tuple[str, list[Any]]:
    """SQL conditions (each prefixed with AND) and their parameters for a filter."""
    p = dialect.placeholder
    clauses: list[str] = []
    params: list[Any] = []

    def member(column: str, values: tuple[str, ...]) -> None:
        if dialect.array_params:
            clauses.append(f"{column} = ANY({p})")
            params.append(list(values))
        else:
            clauses.append(f"{column} IN ({', '.join([p] * len(values))})")
            params.extend(values)

    if filter.streams:
        member("stream", filter.streams)
    if filter.categories:
        ranges = []
        for category in filter.categories:
            ranges.append(f"(stream >= {p} AND stream < {p})")
            params.extend(category_bounds(category))
        clauses.append(f"({' OR '.join(ranges)})")
    if filter.types:
        member("type", filter.types)
    if filter.since:
        clauses.append(f"time >= {p}")
        params.append(filter.since)
    if filter.until:
        clauses.append(f"time <= {p}")
        params.append(filter.until)
    if filter.text:
        condition, text_params = dialect.text_match(filter.text)
        clauses.append(condition)
        params.extend(text_params)
    return "".join(f" AND {clause}" for clause in clauses), params


class EventQueries:
    """The read side of one events table and its streams table."""

    def __init__(self, events: str, streams: str, columns: str, dialect: SqlDialect) -> None:
        p = dialect.placeholder
        self.dialect = dialect
        self._events = events
        self._streams = streams
        self._columns = columns
        self.head_sql = f"SELECT position, hash FROM {events} ORDER BY position DESC LIMIT 1"
        stream_range = f"SELECT {columns} FROM {events} WHERE stream = {p} AND version >= {p} AND version <= {p}"
        self._read_stream = f"{stream_range} ORDER BY version LIMIT {p}"
        self._read_stream_backwards = f"{stream_range} ORDER BY version DESC LIMIT {p}"
        # Unfiltered reads have one bound in SQL and are cut at `until` here: with
        # `position > $1 AND position <= $2` and no statistics yet (a freshly written table)
        # PostgreSQL's planner guessed 0.5 % of the rows and sorted a sequential scan of the
        # whole table for every page, 5x slower; with one bound it takes the key in order.
        self._read_after = f"SELECT {columns} FROM {events} WHERE position > {p} ORDER BY position LIMIT {p}"
        self._streams_sql = f"SELECT stream, version, last_position, last_type, last_time FROM {streams}"
        # One round trip for the figures of `stats`; first and last in position order, the
        # ledger's only order (a clock may jump back).
        self._summary = (f"SELECT (SELECT count(*) FROM {events}), "
                         f"(SELECT time FROM {events} ORDER BY position LIMIT 1), "
                         f"(SELECT time FROM {events} ORDER BY position DESC LIMIT 1), "
                         f"(SELECT count(*) FROM {streams})")
        self._types = f"SELECT type, count(*) FROM {events} GROUP BY type ORDER BY type{dialect.collate}"

    def head(self, fetch: Fetch) -> Head:
        rows = fetch(self.head_sql, ())
        return Head(*rows[0]) if rows else Head(0, codec.GENESIS_HASH)

    def read_stream(self, fetch: Fetch, stream: str, start: int, end: int | None, backwards: bool,
                    limit: int | None, page_rows: int) -> Iterator[Event]:
        low, high = max(start, 1), end if end is not None else 2**62
        if backwards:
            sql = self._read_stream_backwards
            return keyset_pages(lambda top, n: fetch(sql, (stream, low, top, n)), high,
                                lambda row: row[2] - 1, limit, page_rows, event_from_row)
        sql = self._read_stream
        return keyset_pages(lambda bottom, n: fetch(sql, (stream, bottom, high, n)), low,
                            lambda row: row[2] + 1, limit, page_rows, event_from_row)

    def read_all(self, fetch: Fetch, after: int, limit: int | None, filter: ReadFilter, until: int,
                 page_rows: int) -> Iterator[Event]:
        """Matching events with after < position <= until, in position order."""
        if after >= until:
            return iter(())
        if filter.is_empty:
            sql = self._read_after

            def page(cursor: int, n: int) -> list[tuple]:
                rows = fetch(sql, (cursor, n))
                if rows and rows[-1][0] > until:
                    rows = [row for row in rows if row[0] <= until]
                return rows

            return keyset_pages(page, after, lambda row: row[0], limit, page_rows, event_from_row)
        p = self.dialect.placeholder
        source, position, where, params = self._source(filter)
        sql = (f"SELECT {self._columns} FROM {source} WHERE {position} > {p} AND {position} <= {p}"
               f"{where} ORDER BY {position} LIMIT {p}")
        return keyset_pages(lambda cursor, n: fetch(sql, (cursor, until, *params, n)), after,
                            lambda row: row[0], limit, page_rows, event_from_row)

    def count(self, fetch: Fetch, filter: ReadFilter, after: int) -> int:
        source, position, where, params = self._source(filter)
        p = self.dialect.placeholder
        return fetch(f"SELECT count(*) FROM {source} WHERE {position} > {p}{where}", (after, *params))[0][0]

    def _source(self, filter: ReadFilter) -> tuple[str, str, str, list[Any]]:
        """Where a filtered read takes its rows from: (FROM clause, position column, the
        conditions, their parameters). The text index when the store has one that can answer
        the filter's text, else the events table with every condition tested row by row."""
        index = self.dialect.text_index
        found = index.match(filter.text) if index is not None and filter.text else None
        if index is None or found is None:
            where, params = where_clause(filter, self.dialect)
            return self._events, "position", where, params
        condition, match_params = found
        where, params = where_clause(msgspec.structs.replace(filter, text=None), self.dialect)
        return index.source, index.position, f" AND {condition}{where}", [*match_params, *params]

    def streams(self, fetch: Fetch, category: str | None) -> list[StreamInfo]:
        sql = self._streams_sql
        params: tuple[str, ...] = ()
        if category is not None:
            p = self.dialect.placeholder
            sql += f" WHERE stream >= {p} AND stream < {p}"
            params = category_bounds(category)
        return [StreamInfo(*row) for row in fetch(f"{sql} ORDER BY stream{self.dialect.collate}", params)]

    def stats(self, fetch: Fetch, size_bytes: int) -> dict[str, Any]:
        """events, streams, size_bytes (measured by the store), first_time, last_time, types."""
        count, first, last, streams = fetch(self._summary, ())[0]
        types = dict(fetch(self._types, ()))
        return {"events": count, "streams": streams, "size_bytes": size_bytes, "first_time": first,
                "last_time": last, "types": types}


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

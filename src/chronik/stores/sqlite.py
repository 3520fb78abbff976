"""`sqlite:///path` — the embedded default: one file, many processes, durable commits.

Ordering: every append runs in `BEGIN IMMEDIATE`, which takes SQLite's single write lock before
reading the head, so positions are assigned, hashed and committed in one order. WAL lets readers
run while a writer commits; `synchronous=FULL` makes COMMIT fsync the WAL before returning.
Positions come from an AUTOINCREMENT key, so a position is never reused even if rows go.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from chronik import codec
from chronik.errors import StorageError, StoreBusy
from chronik.model import AppendResult, Event, Head, StreamInfo
from chronik.stores import aux_sqlite
from chronik.stores.base import (
    READ_PAGE_ROWS,
    AuxChange,
    ReadFilter,
    Store,
    StreamBatch,
    category_bounds,
    check_aux_changes,
    check_expectation,
    check_import,
    check_removal_rows,
    event_from_row,
    keyset_pages,
    link_batch,
    reject_partial_replay,
    replayed_result,
    text_haystack,
)

SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS chronik_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    stream   TEXT NOT NULL,
    version  INTEGER NOT NULL CHECK (version >= 1),
    type     TEXT NOT NULL,
    id       TEXT NOT NULL,
    time     TEXT NOT NULL,
    data     TEXT NOT NULL,
    meta     TEXT NOT NULL,
    prev     TEXT NOT NULL,
    hash     TEXT NOT NULL,
    sig      TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS events_stream_version ON events (stream, version);
CREATE UNIQUE INDEX IF NOT EXISTS events_id ON events (id);
CREATE TABLE IF NOT EXISTS streams (
    stream        TEXT PRIMARY KEY,
    version       INTEGER NOT NULL,
    last_position INTEGER NOT NULL,
    last_type     TEXT NOT NULL,
    last_time     TEXT NOT NULL
) WITHOUT ROWID;
"""

HEAD = "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"
EVENT_COLUMNS = "position, stream, version, type, id, time, data, meta, prev, hash, sig"
INSERT_EVENT = f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
UPSERT_STREAM = """
INSERT INTO streams (stream, version, last_position, last_type, last_time) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (stream) DO UPDATE SET version = excluded.version, last_position = excluded.last_position,
    last_type = excluded.last_type, last_time = excluded.last_time
"""

# remove_events: live events older than a removed event of the same stream (must be none).
REMOVAL_CHECK = """
WITH doomed(p) AS (SELECT value FROM json_each(?)),
     reach AS (SELECT stream, max(version) AS v FROM events WHERE position IN (SELECT p FROM doomed)
               GROUP BY stream)
SELECT count(*) FROM events e JOIN reach r ON e.stream = r.stream
 WHERE e.version < r.v AND e.position NOT IN (SELECT value FROM json_each(?))
"""

DURABILITY_SYNC = {"full": "FULL", "relaxed": "NORMAL"}
# wait_for_change: how often it asks SQLite whether another connection committed.
CHANGE_POLL_S = 0.002


class SQLiteStore(Store):
    def __init__(self, url: str, path: str, durability: str = "full", busy_timeout_ms: int = 30_000) -> None:
        if durability not in DURABILITY_SYNC:
            raise StorageError(f"durability={durability!r} is not one of {sorted(DURABILITY_SYNC)}")
        self.url = url
        self.path = path
        self.durability = durability
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._all_connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._create_schema()

    # ------------------------------------------------------------ connections

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection for reads and writes."""
        return getattr(self._local, "conn", None) or self._open_connection("conn", self._configure)

    def _configure(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        conn.execute(f"PRAGMA synchronous = {DURABILITY_SYNC[self.durability]}")
        conn.execute("PRAGMA mmap_size = 268435456")
        conn.create_function("chronik_text", 4, _text_contains, deterministic=True)

    def _open_connection(self, slot: str, configure: Callable[[sqlite3.Connection], None] | None
                         ) -> sqlite3.Connection:
        """A new connection kept per thread under `slot`, closed with the store."""
        if self._closed:
            raise StorageError("the ledger is closed; open it again")
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=self.busy_timeout_ms / 1000, cached_statements=256)
            if configure is not None:
                configure(conn)
        except sqlite3.Error as exc:
            raise _storage_error(exc, f"cannot open {self.path}") from exc
        setattr(self._local, slot, conn)
        with self._connections_lock:
            self._all_connections.append(conn)
        return conn

    def _create_schema(self) -> None:
        conn = self._connection()
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                # WAL is a property of the file; setting it needs a moment alone with the file.
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    self._migrate(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise _storage_error(exc, f"cannot initialise {self.path}") from exc
                time.sleep(0.01)
            except sqlite3.DatabaseError as exc:
                raise StorageError(f"{self.path} is not a chronik SQLite ledger: {exc}") from exc

    def _migrate(self, conn: sqlite3.Connection) -> None:
        found = conn.execute("PRAGMA user_version").fetchone()[0]
        if found > SCHEMA_VERSION:
            raise StorageError(f"{self.path} has schema version {found}, newer than this chronik "
                               f"({SCHEMA_VERSION}); upgrade chronik")
        if found == SCHEMA_VERSION:
            return
        if found < 1:
            # Statement by statement: executescript() would COMMIT the surrounding transaction.
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT OR IGNORE INTO chronik_meta (key, value) VALUES ('ledger_id', ?)",
                         (str(uuid.uuid4()),))
            conn.execute("INSERT OR IGNORE INTO chronik_meta (key, value) VALUES ('created', ?)",
                         (codec.format_time(_now()),))
        if found < 2:
            conn.execute(aux_sqlite.AUX_SCHEMA)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # ------------------------------------------------------------ writing

    def append(self, batches: Sequence[StreamBatch]) -> dict[str, AppendResult]:
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _storage_error(exc, "cannot start an append") from exc
        try:
            results = self._append_locked(conn, batches)
            conn.execute("COMMIT")
            return results
        except BaseException as exc:
            _rollback(conn)
            if isinstance(exc, sqlite3.Error):
                raise _storage_error(exc, "append failed; nothing was written") from exc
            raise

    def _append_locked(self, conn: sqlite3.Connection, batches: Sequence[StreamBatch]) -> dict[str, AppendResult]:
        results: dict[str, AppendResult] = {}
        fresh: list[tuple[StreamBatch, int]] = []
        for batch in batches:
            replay = self._replayed(conn, batch)
            if replay is not None:
                results[batch.stream] = replay
                continue
            row = conn.execute("SELECT version FROM streams WHERE stream = ?", (batch.stream,)).fetchone()
            current = row[0] if row else 0
            check_expectation(batch.stream, batch.expect, current)
            fresh.append((batch, current))
        reject_partial_replay(results, [batch for batch, _ in fresh])
        if not fresh:
            return results
        row = conn.execute(HEAD).fetchone()
        last_position, prev = row if row else (self._sequence(conn), codec.GENESIS_HASH)
        position = last_position + 1
        for batch, current in fresh:
            links = link_batch(batch.stream, batch.events, position, current + 1, prev, self.signer)
            rows = [(link.position, batch.stream, link.version, pending.type, pending.id, pending.time,
                     pending.data.decode(), pending.meta.decode(), link.prev, link.hash, link.sig)
                    for pending, link in zip(batch.events, links, strict=True)]
            if len(rows) == 1:
                conn.execute(INSERT_EVENT, rows[0])  # executemany's setup costs more than one row
            else:
                conn.executemany(INSERT_EVENT, rows)
            last, last_event = links[-1], batch.events[-1]
            conn.execute(UPSERT_STREAM, (batch.stream, last.version, last.position, last_event.type,
                                         last_event.time))
            results[batch.stream] = AppendResult(links[0].position, last.position, last.version,
                                                 [p.id for p in batch.events])
            position, prev = last.position + 1, last.hash
        return results

    def remove_events(self, positions: Sequence[int]) -> int:
        """DELETE the archived rows in one transaction; the streams table keeps each stream's
        version and AUTOINCREMENT keeps positions from being reused."""
        wanted = {int(p) for p in positions}
        doomed = codec.encode_json(sorted(wanted)).decode()
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _storage_error(exc, "cannot start removing archived events") from exc
        try:
            head = conn.execute(HEAD).fetchone()
            older = conn.execute(REMOVAL_CHECK, (doomed, doomed)).fetchone()[0]
            check_removal_rows(head[0] if head else 0, older, wanted)
            removed = conn.execute("DELETE FROM events WHERE position IN (SELECT value FROM json_each(?))",
                                   (doomed,)).rowcount
            conn.execute("COMMIT")
            return removed
        except BaseException as exc:
            _rollback(conn)
            if isinstance(exc, sqlite3.Error):
                raise _storage_error(exc, "removing archived events failed; nothing was removed") from exc
            raise

    def import_events(self, events: Sequence[Event]) -> None:
        if not events:
            return
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _storage_error(exc, "cannot start an import") from exc
        try:
            self._import_locked(conn, events)
            conn.execute("COMMIT")
        except BaseException as exc:
            _rollback(conn)
            if isinstance(exc, sqlite3.Error):
                raise _storage_error(exc, "import failed; nothing was imported") from exc
            raise

    def _import_locked(self, conn: sqlite3.Connection, events: Sequence[Event]) -> None:
        row = conn.execute("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1").fetchone()
        head = Head(*row) if row else Head(self._sequence(conn), codec.GENESIS_HASH)
        recorded_ids = {found for (found,) in conn.execute(
            "SELECT id FROM events WHERE id IN (SELECT value FROM json_each(?))",
            (codec.encode_json([event.id for event in events]).decode(),))}

        def current_version(stream: str) -> int:
            found = conn.execute("SELECT version FROM streams WHERE stream = ?", (stream,)).fetchone()
            return found[0] if found else 0

        last_of_stream = check_import(events, head, current_version, recorded_ids.__contains__)
        encode = codec.encode_json
        conn.executemany(INSERT_EVENT, [
            (e.position, e.stream, e.version, e.type, e.id, e.time, encode(e.data).decode(),
             encode(e.meta).decode(), e.prev, e.hash, e.sig) for e in events])
        conn.executemany(UPSERT_STREAM, [(e.stream, e.version, e.position, e.type, e.time)
                                         for e in last_of_stream.values()])

    @staticmethod
    def _sequence(conn: sqlite3.Connection) -> int:
        # An empty table after retention still must not reuse positions.
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return row[0] if row else 0

    def _replayed(self, conn: sqlite3.Connection, batch: StreamBatch) -> AppendResult | None:
        if not any(p.id_given for p in batch.events):
            return None
        recorded = []
        for pending in batch.events:
            row = conn.execute(f"SELECT {EVENT_COLUMNS} FROM events WHERE id = ?", (pending.id,)).fetchone()
            recorded.append(event_from_row(row) if row else None)
        return replayed_result(batch, recorded)

    # ------------------------------------------------------------ reading

    def read_stream(self, stream: str, start: int, end: int | None, backwards: bool,
                    limit: int | None) -> Iterator[Event]:
        low, high = max(start, 1), end if end is not None else 2**62
        if backwards:
            sql = (f"SELECT {EVENT_COLUMNS} FROM events WHERE stream = ? AND version >= ? AND version <= ? "
                   f"ORDER BY version DESC LIMIT ?")
            return keyset_pages(lambda top, n: self._fetch(sql, (stream, low, top, n)), high,
                                lambda row: row[2] - 1, limit, READ_PAGE_ROWS, event_from_row)
        sql = (f"SELECT {EVENT_COLUMNS} FROM events WHERE stream = ? AND version >= ? AND version <= ? "
               f"ORDER BY version LIMIT ?")
        return keyset_pages(lambda bottom, n: self._fetch(sql, (stream, bottom, high, n)), low,
                            lambda row: row[2] + 1, limit, READ_PAGE_ROWS, event_from_row)

    def read_all(self, after: int, limit: int | None, filter: ReadFilter,
                 until_position: int | None = None) -> Iterator[Event]:
        where, params = _where(filter)
        until = self.head().position if until_position is None else until_position
        sql = (f"SELECT {EVENT_COLUMNS} FROM events WHERE position > ? AND position <= ?{where} "
               f"ORDER BY position LIMIT ?")
        return keyset_pages(lambda cursor, n: self._fetch(sql, (cursor, until, *params, n)), after,
                            lambda row: row[0], limit, READ_PAGE_ROWS, event_from_row)

    def count(self, filter: ReadFilter, after: int = 0) -> int:
        where, params = _where(filter)
        return self._fetch(f"SELECT count(*) FROM events WHERE position > ?{where}", (after, *params))[0][0]

    def streams(self, category: str | None) -> list[StreamInfo]:
        sql = "SELECT stream, version, last_position, last_type, last_time FROM streams"
        params: tuple = ()
        if category is not None:
            sql += " WHERE stream >= ? AND stream < ?"
            params = category_bounds(category)
        rows = self._fetch(sql + " ORDER BY stream", params)
        return [StreamInfo(*row) for row in rows]

    def head(self) -> Head:
        rows = self._fetch(HEAD, ())
        return Head(*rows[0]) if rows else Head(0, codec.GENESIS_HASH)

    def stats(self) -> dict[str, Any]:
        count = self._fetch("SELECT count(*) FROM events", ())[0][0]
        # First and last in position order, the ledger's only order (a clock may jump back).
        first = self._fetch("SELECT time FROM events ORDER BY position LIMIT 1", ())
        last = self._fetch("SELECT time FROM events ORDER BY position DESC LIMIT 1", ())
        first, last = (first[0][0], last[0][0]) if count else (None, None)
        streams = self._fetch("SELECT count(*) FROM streams", ())[0][0]
        types = dict(self._fetch("SELECT type, count(*) FROM events GROUP BY type ORDER BY type", ()))
        size = sum(os.path.getsize(p) for p in (self.path, self.path + "-wal") if os.path.exists(p))
        return {"events": count, "streams": streams, "size_bytes": size, "first_time": first,
                "last_time": last, "types": types}

    # ------------------------------------------------------------ auxiliary records

    def aux_get(self, kind: str, key: str) -> bytes | None:
        try:
            return aux_sqlite.get(self._connection(), kind, key)
        except sqlite3.Error as exc:
            raise _storage_error(exc, "reading an auxiliary record failed") from exc

    def aux_range(self, kind: str, low: str = "", high: str | None = None, reverse: bool = False,
                  limit: int | None = None) -> list[tuple[str, bytes]]:
        try:
            return aux_sqlite.key_range(self._connection(), kind, low, high, reverse,
                                        limit if limit is not None else -1)
        except sqlite3.Error as exc:
            raise _storage_error(exc, "reading auxiliary records failed") from exc

    def aux_write(self, changes: Sequence[AuxChange]) -> None:
        changes = check_aux_changes(changes)
        aux_sqlite.write(self._connection(), changes, _storage_error)

    # ------------------------------------------------------------ change detection

    def wait_for_change(self, known_position: int, timeout_s: float) -> bool:
        """Poll `PRAGMA data_version` on a watcher connection of this thread that never writes:
        it changes when any other connection (process or thread) commits. A few microseconds
        per poll; the head is read only when it changed."""
        deadline = time.monotonic() + max(timeout_s, 0.0)
        watcher = self._watcher()
        # Read the version before the head, so a commit between the two is never missed.
        version = self._data_version(watcher)
        while True:
            if self.head().position > known_position:
                return True
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                time.sleep(min(CHANGE_POLL_S, remaining))
                current = self._data_version(watcher)
                if current != version:
                    version = current
                    break

    def _watcher(self) -> sqlite3.Connection:
        """This thread's read-only connection for PRAGMA data_version: it must never write, or
        its own commits would not count as changes."""
        return getattr(self._local, "watcher", None) or self._open_connection("watcher", None)

    @staticmethod
    def _data_version(conn: sqlite3.Connection) -> int:
        try:
            return conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise _storage_error(exc, "watching for changes failed") from exc

    def ledger_id(self) -> str:
        return self._fetch("SELECT value FROM chronik_meta WHERE key = 'ledger_id'", ())[0][0]

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        try:
            return self._connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _storage_error(exc, "read failed") from exc

    def close(self) -> None:
        with self._connections_lock:
            self._closed = True
            for conn in self._all_connections:
                conn.close()
            self._all_connections.clear()
        self._local = threading.local()


# ---------------------------------------------------------------- helpers


def _where(filter: ReadFilter) -> tuple[str, list[Any]]:
    """SQL conditions (each prefixed with AND) and their parameters for a filter."""
    clauses: list[str] = []
    params: list[Any] = []
    if filter.streams:
        clauses.append(f"stream IN ({', '.join('?' * len(filter.streams))})")
        params.extend(filter.streams)
    if filter.categories:
        ranges = []
        for category in filter.categories:
            ranges.append("(stream >= ? AND stream < ?)")
            params.extend(category_bounds(category))
        clauses.append(f"({' OR '.join(ranges)})")
    if filter.types:
        clauses.append(f"type IN ({', '.join('?' * len(filter.types))})")
        params.extend(filter.types)
    if filter.since:
        clauses.append("time >= ?")
        params.append(filter.since)
    if filter.until:
        clauses.append("time <= ?")
        params.append(filter.until)
    if filter.text:
        clauses.append("chronik_text(type, data, meta, ?)")
        params.append(filter.text)
    return "".join(f" AND {clause}" for clause in clauses), params


def _text_contains(type_: str, data: str, meta: str, needle: str) -> bool:
    return needle in text_haystack(type_, data, meta)


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _storage_error(exc: sqlite3.Error, context: str) -> StorageError:
    if _is_busy(exc):
        return StoreBusy(f"{context}: the ledger stayed locked by other writers beyond the busy "
                         f"timeout; retry, or raise busy_timeout_ms")
    return StorageError(f"{context}: {exc}")


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the transaction is gone either way; the original error is the one to report


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)

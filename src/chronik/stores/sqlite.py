"""`sqlite:///path` — the embedded default: one file, many processes, durable commits.

Ordering: every append runs in `BEGIN IMMEDIATE`, which takes SQLite's single write lock before
reading the head, so positions are assigned, hashed and committed in one order. WAL lets readers
run while a writer commits; `synchronous=FULL` makes COMMIT fsync the WAL before returning.
Positions come from an AUTOINCREMENT key, so a position is never reused even if rows go.

Read-only (`read_only=True`): nothing is created; the file is opened with `mode=ro`, or
`immutable=1` where not even its -shm file can be created (a read-only folder or mount), and
every write raises StorageError. Opening, the schema and error mapping: sqlite_engine.py and
sqlite_schema.py.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from chronik import codec
from chronik.errors import NotFound, StorageError, StoreBusy, ValidationError
from chronik.model import AppendResult, Event, Head, StreamInfo
from chronik.stores import aux_sqlite, sqlite_engine, sqlite_schema, sqlite_text, sqlite_wal
from chronik.stores.base import (
    READ_PAGE_ROWS,
    AuxChange,
    ReadFilter,
    SchemaUpgrade,
    Signer,
    StorageFinding,
    Store,
    StreamBatch,
    check_aux_changes,
    check_expectation,
    check_import,
    check_removal_rows,
    environment_error,
    link_batch,
    reject_partial_replay,
    replayed_result,
    text_haystack,
)
from chronik.stores.group_commit import GroupCommit, Regroup, Request, run_each, run_unguarded
from chronik.stores.leases import DEFAULT_LEASE_WAIT_S, Lease, take_file_lease
from chronik.stores.sql import EventQueries, SqlDialect, event_from_row

if TYPE_CHECKING:
    from concurrent.futures import Future

SCHEMA_VERSION = sqlite_schema.SCHEMA_VERSION
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

# The text filter runs in Python (chronik_text, registered on every connection) so that it
# means exactly what it means in the memory and JSON Lines stores.
SQLITE = SqlDialect(placeholder="?", array_params=False, collate="",
                    text_match=lambda needle: ("chronik_text(type, data, meta, ?)", [needle]))
QUERIES = EventQueries("events", "streams", EVENT_COLUMNS, SQLITE)
# Reads of a ledger with the text index (ADR 0013), which then answers most text filters.
INDEXED_QUERIES = EventQueries("events", "streams", EVENT_COLUMNS,
                               dataclasses.replace(SQLITE, text_index=sqlite_text.INDEX))

class SQLiteStore(Store):
    # The ledger file (archives and sidecars go beside it); a SQLite ledger always has one.
    path: str

    def __init__(self, url: str, path: str, durability: str = "full", busy_timeout_ms: int = 30_000,
                 read_only: bool = False) -> None:
        if durability not in DURABILITY_SYNC:
            raise StorageError(f"durability={durability!r} is not one of {sorted(DURABILITY_SYNC)}")
        self.url = url
        self.path = path
        self.durability = durability
        self.busy_timeout_ms = busy_timeout_ms
        self.read_only = read_only
        self._local = threading.local()
        self._all_connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        self._applied_at_open: list[int] = []
        self._mode = "rw"
        # Whether the current write transaction keeps the text index (sqlite_text.py): looked up
        # at the start of each one, under SQLite's write lock, so no writer misses the switch.
        self._text_indexed = False
        # (position, hash) after the last append of the group being committed, so the next
        # append of the same transaction need not read the head again. Touched only by the
        # thread that commits (one at a time: GroupCommit); None outside a group transaction.
        self._group_head: tuple[int, str] | None = None
        # Appends from this process's threads and tasks share commits (ADR 0012).
        self.group_commit: GroupCommit[sqlite3.Connection] = GroupCommit(self._run_group, path)
        try:
            if read_only:
                self._open_read_only()
            else:
                try:
                    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                except OSError as exc:
                    raise environment_error(exc, "cannot create the folder of the ledger") from None
                sqlite_schema.check_header(path)
                self._applied_at_open = self._create_schema()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ opening

    def _open_read_only(self) -> None:
        try:
            os.stat(self.path)
        except FileNotFoundError:
            raise NotFound(f"no ledger at {self.path}; append creates one") from None
        except OSError as exc:
            raise environment_error(exc, "cannot read the ledger") from None
        sqlite_schema.check_header(self.path)  # before SQLite opens (and may create files beside) it
        try:
            self._mode = sqlite_engine.read_only_mode(self.path, self.busy_timeout_ms)
            sqlite_schema.check_readable(self._connection(), self.path)
        except sqlite3.Error as exc:
            raise sqlite_engine.sqlite_error(exc, "cannot open the ledger", self.path) from exc

    def _create_schema(self) -> list[int]:
        conn = self._connection()
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                # WAL is a property of the file; setting it needs a moment alone with the file.
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                if sqlite_schema.is_current(conn, self.path):
                    return []  # the usual open: no write lock taken
                with sqlite_engine.write_transaction(conn, self.path, "initialising the ledger",
                                                     "nothing was written"):
                    return sqlite_schema.migrate(conn, self.path)
            except (sqlite3.OperationalError, StoreBusy) as exc:
                # Another process is creating the same file: wait for it, within the timeout.
                busy = isinstance(exc, StoreBusy) or sqlite_engine.is_busy(exc)
                if not busy or time.monotonic() > deadline:
                    if isinstance(exc, StoreBusy):
                        raise
                    raise sqlite_engine.sqlite_error(exc, "cannot initialise the ledger", self.path) from exc
                time.sleep(0.01)
            except sqlite3.Error as exc:
                raise sqlite_engine.sqlite_error(exc, "cannot open the ledger", self.path) from exc

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
            conn = sqlite_engine.connect(self.path, self._mode, self.busy_timeout_ms)
            if configure is not None:
                configure(conn)
        except sqlite3.Error as exc:
            raise sqlite_engine.sqlite_error(exc, "cannot open the ledger", self.path) from exc
        setattr(self._local, slot, conn)
        with self._connections_lock:
            self._all_connections.append(conn)
        return conn

    def _writable(self, what: str) -> sqlite3.Connection:
        if self.read_only:
            raise StorageError(f"cannot {what}: {self.path} was opened read-only")
        return self._connection()

    # ------------------------------------------------------------ writing

    def append(self, batches: Sequence[StreamBatch], signer: Signer | None = None) -> dict[str, AppendResult]:
        self._writable("append")
        return self.group_commit.submit(lambda conn: self._append_locked(conn, batches, signer))

    def append_future(self, batches: Sequence[StreamBatch], signer: Signer | None = None
                      ) -> Future[dict[str, AppendResult]]:
        self._writable("append")
        return self.group_commit.submit_future(lambda conn: self._append_locked(conn, batches, signer))

    def _run_group(self, requests: Sequence[Request]) -> list[Any]:
        """One write transaction for a group of appends (stores/group_commit.py): without
        savepoints, or, when an append failed after writing, again with one per append."""
        conn = self._connection()
        try:
            return self._group_transaction(conn, requests, guarded=False)
        except Regroup:
            return self._group_transaction(conn, requests, guarded=True)

    def _group_transaction(self, conn: sqlite3.Connection, requests: Sequence[Request], guarded: bool) -> list[Any]:
        with sqlite_engine.write_transaction(conn, self.path, "append", "nothing was written"):
            self._text_indexed = sqlite_text.exists(conn)
            try:
                if guarded:
                    return run_each(requests, lambda request: request(conn), conn.execute)
                return run_unguarded(requests, lambda request: request(conn), lambda: conn.total_changes,
                                     lambda: conn.in_transaction)
            finally:
                self._group_head = None

    def _append_locked(self, conn: sqlite3.Connection, batches: Sequence[StreamBatch],
                       signer: Signer | None) -> dict[str, AppendResult]:
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
        if self._group_head is not None:  # an earlier append of this transaction left it
            last_position, prev = self._group_head
        else:
            row = conn.execute(QUERIES.head_sql).fetchone()
            last_position, prev = row if row else (self._sequence(conn), codec.GENESIS_HASH)
        position = last_position + 1
        for batch, current in fresh:
            links = link_batch(batch.stream, batch.events, position, current + 1, prev, signer)
            rows = [(link.position, batch.stream, link.version, pending.type, pending.id, pending.time,
                     pending.data.decode(), pending.meta.decode(), link.prev, link.hash, link.sig)
                    for pending, link in zip(batch.events, links, strict=True)]
            if len(rows) == 1:
                conn.execute(INSERT_EVENT, rows[0])  # executemany's setup costs more than one row
            else:
                conn.executemany(INSERT_EVENT, rows)
            if self._text_indexed:
                sqlite_text.index_rows(conn, rows)
            last, last_event = links[-1], batch.events[-1]
            conn.execute(UPSERT_STREAM, (batch.stream, last.version, last.position, last_event.type,
                                         last_event.time))
            results[batch.stream] = AppendResult(links[0].position, last.position, last.version,
                                                 [p.id for p in batch.events])
            position, prev = last.position + 1, last.hash
        # Set only once every write of this append is done: one that raises before leaves the
        # head of the appends before it, which is what a rollback of it leaves too.
        self._group_head = (position - 1, prev)
        return results

    def remove_events(self, positions: Sequence[int]) -> int:
        """DELETE the archived rows in one transaction; the streams table keeps each stream's
        version and AUTOINCREMENT keeps positions from being reused."""
        wanted = {int(p) for p in positions}
        doomed = codec.encode_json(sorted(wanted)).decode()
        conn = self._writable("remove archived events")
        with sqlite_engine.write_transaction(conn, self.path, "removing archived events",
                                             "nothing was removed"):
            head = conn.execute(QUERIES.head_sql).fetchone()
            older = conn.execute(REMOVAL_CHECK, (doomed, doomed)).fetchone()[0]
            check_removal_rows(head[0] if head else 0, older, list(wanted))
            if sqlite_text.exists(conn):
                sqlite_text.delete_rows(conn, doomed)
            return conn.execute("DELETE FROM events WHERE position IN (SELECT value FROM json_each(?))",
                                (doomed,)).rowcount

    def import_events(self, events: Sequence[Event]) -> None:
        if not events:
            return
        conn = self._writable("import")
        with sqlite_engine.write_transaction(conn, self.path, "import", "nothing was imported"):
            self._text_indexed = sqlite_text.exists(conn)
            self._import_locked(conn, events)

    def _import_locked(self, conn: sqlite3.Connection, events: Sequence[Event]) -> None:
        row = conn.execute(QUERIES.head_sql).fetchone()
        head = Head(*row) if row else Head(self._sequence(conn), codec.GENESIS_HASH)
        recorded_ids = {found for (found,) in conn.execute(
            "SELECT id FROM events WHERE id IN (SELECT value FROM json_each(?))",
            (codec.encode_json([event.id for event in events]).decode(),))}

        def current_version(stream: str) -> int:
            found = conn.execute("SELECT version FROM streams WHERE stream = ?", (stream,)).fetchone()
            return found[0] if found else 0

        last_of_stream = check_import(events, head, current_version, recorded_ids.__contains__)
        encode = codec.encode_json
        rows = [(e.position, e.stream, e.version, e.type, e.id, e.time, encode(e.data).decode(),
                 encode(e.meta).decode(), e.prev, e.hash, e.sig) for e in events]
        conn.executemany(INSERT_EVENT, rows)
        if self._text_indexed:
            sqlite_text.index_rows(conn, rows)
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
        return QUERIES.read_stream(self._fetch, stream, start, end, backwards, limit, READ_PAGE_ROWS)

    def read_all(self, after: int, limit: int | None, filter: ReadFilter,
                 until_position: int | None = None) -> Iterator[Event]:
        until = self.head().position if until_position is None else until_position
        return self._queries_for(filter).read_all(self._fetch, after, limit, filter, until, READ_PAGE_ROWS)

    def count(self, filter: ReadFilter, after: int = 0) -> int:
        return self._queries_for(filter).count(self._fetch, filter, after)

    def _queries_for(self, filter: ReadFilter) -> EventQueries:
        """Reads with a text filter use the index when the ledger has it switched on (looked
        up per read, so a switch by another process is seen); other reads never ask."""
        if filter.text is None:
            return QUERIES
        return INDEXED_QUERIES if sqlite_schema.has_text_index(self._connection()) else QUERIES

    def set_text_index(self, enabled: bool) -> bool:
        """Switch the text index on (built over every event now, in one write transaction) or
        off (dropped); returns whether anything changed. ADR 0013."""
        if not isinstance(enabled, bool):
            raise ValidationError("enabled", f"{enabled!r} is not True or False", "pass True or False")
        if enabled and not sqlite_text.available():
            raise ValidationError("text_index", f"this process's SQLite {sqlite3.sqlite_version} has no FTS5 "
                                  f"trigram tokenizer", "use a Python whose SQLite is >= 3.34 with FTS5")
        conn = self._writable("switch the text index")
        with sqlite_engine.write_transaction(conn, self.path, "switching the text index", "nothing changed"):
            if sqlite_text.exists(conn) == enabled:
                return False
            if enabled:
                sqlite_text.create(conn)
            else:
                sqlite_text.drop(conn)
            return True

    def streams(self, category: str | None) -> list[StreamInfo]:
        return QUERIES.streams(self._fetch, category)

    def head(self) -> Head:
        return QUERIES.head(self._fetch)

    def stats(self) -> dict[str, Any]:
        size = 0
        for name in (self.path, self.path + "-wal"):
            try:
                size += os.path.getsize(name)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise environment_error(exc, "cannot measure the ledger") from None
        return QUERIES.stats(self._fetch, size)

    # ------------------------------------------------------------ auxiliary records

    def aux_get(self, kind: str, key: str) -> bytes | None:
        try:
            return aux_sqlite.get(self._connection(), kind, key)
        except sqlite3.Error as exc:
            raise sqlite_engine.sqlite_error(exc, "reading an auxiliary record failed", self.path) from exc

    def aux_range(self, kind: str, low: str = "", high: str | None = None, reverse: bool = False,
                  limit: int | None = None) -> list[tuple[str, bytes]]:
        try:
            return aux_sqlite.key_range(self._connection(), kind, low, high, reverse,
                                        limit if limit is not None else -1)
        except sqlite3.Error as exc:
            raise sqlite_engine.sqlite_error(exc, "reading auxiliary records failed", self.path) from exc

    def aux_write(self, changes: Sequence[AuxChange]) -> None:
        changes = check_aux_changes(changes)
        aux_sqlite.write(self._writable("write auxiliary records"), changes, self.path)

    def lease(self, name: str, wait_s: float = DEFAULT_LEASE_WAIT_S) -> Lease:
        """flock on `<ledger>.lease-<name>` (chronik.stores.leases): released by the kernel when
        the holder's process dies."""
        self._writable("take a lease")
        return take_file_lease(self.path, name, wait_s, self.aux_write)

    # ------------------------------------------------------------ change detection

    def change_signal(self) -> sqlite_engine.DataVersionSignal:
        return sqlite_engine.DataVersionSignal(self._watcher(), self.path)

    def _watcher(self) -> sqlite3.Connection:
        """This thread's connection for PRAGMA data_version: it must never write, or its own
        commits would not count as changes."""
        return getattr(self._local, "watcher", None) or self._open_connection("watcher", None)

    # ------------------------------------------------------------ declared capabilities

    def ledger_id(self) -> str:
        return self._fetch("SELECT value FROM chronik_meta WHERE key = 'ledger_id'", ())[0][0]

    def upgrade(self) -> SchemaUpgrade:
        """SQLite ledgers are migrated when opened for writing; this says what that did."""
        if self.read_only:
            raise StorageError(f"cannot upgrade: {self.path} was opened read-only")
        done = f"migrations {self._applied_at_open} applied when opened" if self._applied_at_open \
            else "nothing to upgrade"
        version = SCHEMA_VERSION
        return SchemaUpgrade(kind=self.kind, applied=list(self._applied_at_open), schema_version=version,
                             message=f"{done}: SQLite ledgers are migrated when opened")

    def check_storage(self, thorough: bool = False) -> list[StorageFinding]:
        return sqlite_engine.engine_check(self._connection(), self.path, thorough)

    def repair(self) -> list[StorageFinding]:
        """A commit torn by a crash, left in the -wal, moved to a quarantine file
        (sqlite_wal.repair_torn_commit); SQLite repairs everything else itself on open."""
        conn = self._writable("repair")
        try:
            return sqlite_wal.repair_torn_commit(conn, self.path)
        except sqlite3.Error as exc:
            raise sqlite_engine.sqlite_error(exc, "repair failed", self.path) from exc

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        try:
            return self._connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise sqlite_engine.sqlite_error(exc, "read failed", self.path) from exc

    def close(self) -> None:
        self.group_commit.close()
        with self._connections_lock:
            self._closed = True
            for conn in self._all_connections:
                conn.close()
            self._all_connections.clear()
        self._local = threading.local()


def _text_contains(type_: str, data: str, meta: str, needle: str) -> bool:
    return needle in text_haystack(type_, data, meta)

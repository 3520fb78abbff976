"""`postgresql://...` — the scale-out store: many machines, one PostgreSQL server.

Each append is one round trip: `SELECT * FROM <schema>.append_events(...)`, a server-side
function that takes one transaction-scoped advisory lock (so commit order equals position
order and a reader that checkpointed position N never sees an event <= N appear later), checks
idempotency and expectations, links the chain and inserts (see postgres_schema.py). Reads page by
keyset (`position > %s ORDER BY position LIMIT n`), never OFFSET, with prepared statements and
every value bound as a parameter (chronik.stores.sql, shared with SQLite).

URL options (removed before the URL reaches libpq): `schema=NAME` (default `chronik`, several
ledgers in one database), `lock_timeout_ms`, `statement_timeout_ms`, `pool_max`. libpq's own
`connect_timeout` (seconds) defaults to 5.

Read-only (`read_only=True`): no schema is created and no migration runs; a schema that holds no
ledger is NotFound; sessions are `default_transaction_read_only`, and writes raise StorageError.

The modules: postgres_pool.py (connections, retries, errors), postgres_writes.py (appends,
import, removal, aux writes), postgres_schema.py (migrations and the append function).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import psycopg

from chronik.errors import NotFound, StorageError, ValidationError
from chronik.model import AppendResult, Event, Head, StreamInfo
from chronik.stores import postgres_schema
from chronik.stores.base import (
    READ_PAGE_ROWS,
    AuxChange,
    ReadFilter,
    SchemaUpgrade,
    Signer,
    Store,
    StreamBatch,
    check_aux_changes,
)
from chronik.stores.group_commit import GroupCommit, run_each
from chronik.stores.leases import DEFAULT_LEASE_WAIT_S, Lease
from chronik.stores.postgres_lease import take_lease
from chronik.stores.postgres_pool import Listeners, Pool, redact, roll_back, split_url, translate
from chronik.stores.postgres_writes import Writes
from chronik.stores.sql import EventQueries, SqlDialect

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["PostgresStore", "split_url"]

SCHEMA_PATTERN = re.compile(r"[a-z_][a-z0-9_]{0,62}")
EVENT_COLUMNS = "position, stream, version, type, id, time, data::text, meta::text, prev, hash, sig"
# Each page is a network round trip, so pages are larger than SQLite's.
PAGE_ROWS = READ_PAGE_ROWS * 5
# wait_for_change re-reads the head at least this often, even when no notification arrives
# (the polling fallback: a lost LISTEN connection or a missed NOTIFY delays, never loses).
LISTEN_FALLBACK_POLL_S = 0.5

def _like_pattern(needle: str) -> str:
    return "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _ilike(needle: str) -> tuple[str, list[Any]]:
    # ILIKE folds case by the database's LC_CTYPE (docs/architecture.md: use a UTF-8 ctype).
    pattern = _like_pattern(needle)
    return "(type ILIKE %s OR data::text ILIKE %s OR meta::text ILIKE %s)", [pattern, pattern, pattern]


def _search_text_like(needle: str) -> tuple[str, list[Any]]:
    """The same test on the search_text column of migration 5 (ADR 0013): in a UTF-8 database
    PostgreSQL evaluates ILIKE as lower(text) LIKE lower(pattern), and search_text holds each
    field already lower-cased, so this is the ILIKE of each field without lower-casing every row
    it reads (4x faster), and the condition its trigram index answers. A needle holding the separator could span two fields
    there: it gets the ILIKE of each field."""
    if postgres_schema.SEARCH_TEXT_SEPARATOR in needle:
        return _ilike(needle)
    return "search_text LIKE lower(%s)", [_like_pattern(needle)]


POSTGRES = SqlDialect(placeholder="%s", array_params=True, collate=' COLLATE "C"', text_match=_ilike)
# Schemas at migration 5 or later.
POSTGRES_SEARCH_TEXT = dataclasses.replace(POSTGRES, text_match=_search_text_like)
# The planner setting of a text-filtered read, for its transaction only (PostgresStore._fetch_text).
TEXT_PLANNING = "SET LOCAL random_page_cost = 1.1"


class PostgresStore(Store):
    def __init__(self, url: str, read_only: bool = False) -> None:
        self.url = url
        self.read_only = read_only
        conninfo, options = split_url(url)
        self.schema = options.pop("schema", "chronik")
        if not SCHEMA_PATTERN.fullmatch(self.schema) or self.schema.startswith("pg_"):
            raise ValidationError("schema", f"{self.schema!r} is not a schema name",
                                  "use lower-case letters, digits and _ (at most 63), not starting with pg_")
        lock_timeout_ms = _option_int(options, "lock_timeout_ms", 10_000)
        statement_timeout_ms = _option_int(options, "statement_timeout_ms", 60_000)
        pool_max = _option_int(options, "pool_max", 8, minimum=1)
        if options:
            raise ValidationError("url", f"unknown option(s) {sorted(options)}",
                                  "supported: schema, lock_timeout_ms, statement_timeout_ms, pool_max, "
                                  "and libpq's own (connect_timeout, sslmode, ...)")
        settings = {"lock_timeout": str(lock_timeout_ms), "statement_timeout": str(statement_timeout_ms),
                    "synchronous_commit": "on"}
        if read_only:
            # The server refuses writes too, whatever a bug here might try.
            settings["default_transaction_read_only"] = "on"
        s = f'"{self.schema}"'
        self.channel = f"chronik_{self.schema}"
        # A caller waiting for a pooled connection waits as long as one waiting for the lock
        # (lock_timeout 0 is PostgreSQL's "wait forever").
        self._pool = Pool(conninfo, pool_max, settings, wait_s=lock_timeout_ms / 1000 or None)
        self._listeners = Listeners(self._pool, self.channel)
        self._queries = EventQueries(f"{s}.events", f"{s}.streams", EVENT_COLUMNS, POSTGRES)
        self._writes = Writes(self.schema)
        self._s = s
        # Appends from this process's threads and tasks share commits (ADR 0012).
        self.group_commit: GroupCommit[psycopg.Connection] = GroupCommit(self._run_group, self.schema)
        try:
            self._applied_at_open = [] if read_only else self._migrate()
            self._version = self._check_schema()
        except BaseException:
            self.close()
            raise

    @property
    def kind(self) -> str:
        return "postgresql"

    # ------------------------------------------------------------ schema

    def _migrate(self) -> list[int]:
        with self._pool.connection() as conn:
            try:
                return postgres_schema.migrate(conn, self.schema)
            except psycopg.Error as exc:
                raise translate(exc, f"cannot create or upgrade schema {self.schema}") from exc

    def _check_schema(self) -> int:
        version = self._pool.read(lambda conn: postgres_schema.schema_version(conn, self.schema),
                                  "reading the schema version failed")
        if version is None:
            raise NotFound(f"no ledger at {redact(self._pool.conninfo)} (schema {self.schema} holds none); "
                           f"append creates one")
        postgres_schema.check_version(version, self.schema)
        # A schema before migration 5 (opened read-only, say) has no search_text column.
        dialect = POSTGRES_SEARCH_TEXT if version >= postgres_schema.SEARCH_TEXT_VERSION else POSTGRES
        self._queries = EventQueries(f"{self._s}.events", f"{self._s}.streams", EVENT_COLUMNS, dialect)
        return version

    def upgrade(self) -> SchemaUpgrade:
        """Apply pending migrations (safe to run twice, and from several processes at once).
        A ledger opened for writing is migrated when opened; this reports that too."""
        self._check_writable("upgrade")
        applied = self._applied_at_open + self._migrate()
        self._applied_at_open = []
        self._version = self._check_schema()
        return SchemaUpgrade(kind=self.kind, applied=applied, schema_version=self._version,
                             message="upgraded" if applied else "already up to date", schema=self.schema)

    def _check_writable(self, what: str) -> None:
        if self.read_only:
            raise StorageError(f"cannot {what}: the ledger at {redact(self._pool.conninfo)} "
                               f"(schema {self.schema}) was opened read-only")

    # ------------------------------------------------------------ writing

    def append(self, batches: Sequence[StreamBatch], signer: Signer | None = None) -> dict[str, AppendResult]:
        self._check_writable("append")
        return self.group_commit.submit((batches, signer))

    def append_future(self, batches: Sequence[StreamBatch], signer: Signer | None = None
                      ) -> Future[dict[str, AppendResult]]:
        self._check_writable("append")
        return self.group_commit.submit_future((batches, signer))

    def _run_group(self, requests: Sequence[tuple[Sequence[StreamBatch], Signer | None]]) -> list[Any]:
        """A lone append is one autocommit round trip. A group of unsigned appends is one
        pipeline (BEGIN, the appends, COMMIT: one round trip, one WAL flush); when one of them
        fails, or any is signed (its signatures need the hashes back), the group runs as one
        transaction with a savepoint per append (stores/group_commit.py)."""
        with self._pool.connection() as conn:
            if len(requests) == 1:
                return [self._writes.append(conn, *requests[0])]
            if all(signer is None for _, signer in requests):
                try:
                    return list(self._writes.append_pipelined(conn, [batches for batches, _ in requests]))
                except psycopg.Error as exc:
                    roll_back(conn)
                    if conn.closed or exc.sqlstate is None:  # the COMMIT's fate is unknown: never run it twice
                        raise translate(exc, "append failed; whether it was written is unknown") from exc
            return self._run_guarded(conn, requests)

    def _run_guarded(self, conn: psycopg.Connection,
                     requests: Sequence[tuple[Sequence[StreamBatch], Signer | None]]) -> list[Any]:
        try:
            conn.execute("BEGIN", prepare=False)
            # Transaction control is never prepared (psycopg prepares a statement on its 5th use):
            # a prepared one skipped in an aborted transaction or pipeline would be remembered as
            # prepared, and the next use fails with "prepared statement _pg3_N does not exist".
            outcomes = run_each(requests, lambda request: self._writes.append_in_transaction(conn, *request),
                                lambda sql: conn.execute(sql, prepare=False))
            conn.execute("COMMIT", prepare=False)
        except BaseException as exc:
            roll_back(conn)
            if isinstance(exc, psycopg.Error):
                raise translate(exc, "append failed; nothing was written") from exc
            raise
        return outcomes

    def import_events(self, events: Sequence[Event]) -> None:
        self._check_writable("import")
        if not events:
            return
        with self._pool.connection() as conn:
            self._writes.import_events(conn, events)

    def remove_events(self, positions: Sequence[int]) -> int:
        self._check_writable("remove archived events")
        with self._pool.connection() as conn:
            return self._writes.remove_events(conn, positions)

    def aux_write(self, changes: Sequence[AuxChange]) -> None:
        changes = check_aux_changes(changes)
        self._check_writable("write auxiliary records")
        with self._pool.connection() as conn:
            self._writes.aux_write(conn, changes)

    # ------------------------------------------------------------ reading

    def read_stream(self, stream: str, start: int, end: int | None, backwards: bool,
                    limit: int | None) -> Iterator[Event]:
        return self._queries.read_stream(self._fetch, stream, start, end, backwards, limit, PAGE_ROWS)

    def read_all(self, after: int, limit: int | None, filter: ReadFilter,
                 until_position: int | None = None) -> Iterator[Event]:
        until = self.head().position if until_position is None else until_position
        return self._queries.read_all(self._fetch_for(filter), after, limit, filter, until, PAGE_ROWS)

    def count(self, filter: ReadFilter, after: int = 0) -> int:
        return self._queries.count(self._fetch_for(filter), filter, after)

    def _fetch_for(self, filter: ReadFilter) -> Callable[[str, Sequence[Any]], list[tuple]]:
        return self._fetch_text if filter.text else self._fetch

    def _fetch_text(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        """A text-filtered read, planned for its needle (ADR 0013). Not prepared: a prepared
        statement's generic plan cannot tell a rare needle (read the trigram index: 1 ms) from a
        common one (walk the key in order until the page is full), and took the walk for both,
        500 ms over 100,000 events. With random_page_cost 1.1 (the usual value for data in
        memory or on SSD) for this statement only: at the default 4 the planner priced reading
        the 1,000 events the index found above walking 100,000 in key order (4 ms against 61)."""
        def run(conn: psycopg.Connection) -> list[tuple]:
            with conn.transaction(), conn.cursor(binary=True) as cur:
                cur.execute(TEXT_PLANNING)
                cur.execute(sql, params, prepare=False)
                return cur.fetchall()

        return self._pool.read(run, "read failed")

    def streams(self, category: str | None) -> list[StreamInfo]:
        return self._queries.streams(self._fetch, category)

    def head(self) -> Head:
        return self._queries.head(self._fetch)

    def stats(self) -> dict[str, Any]:
        size = self._fetch("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                           "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
                           "AND c.relkind = 'r'", (self.schema,))[0][0]
        return self._queries.stats(self._fetch, int(size))

    def aux_get(self, kind: str, key: str) -> bytes | None:
        rows = self._fetch(f"SELECT value FROM {self._s}.aux WHERE kind = %s AND key = %s", (kind, key))
        return bytes(rows[0][0]) if rows else None

    def aux_range(self, kind: str, low: str = "", high: str | None = None, reverse: bool = False,
                  limit: int | None = None) -> list[tuple[str, bytes]]:
        sql = f"SELECT key, value FROM {self._s}.aux WHERE kind = %s AND key >= %s"
        params: list[Any] = [kind, low]
        if high is not None:
            sql += " AND key < %s"
            params.append(high)
        sql += f" ORDER BY key {'DESC' if reverse else 'ASC'}"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        return [(key, bytes(value)) for key, value in self._fetch(sql, params)]

    def ledger_id(self) -> str:
        return self._fetch(f"SELECT value FROM {self._s}.meta WHERE key = 'ledger_id'", ())[0][0]

    def set_text_index(self, enabled: bool) -> bool:
        """Switch the pg_trgm GIN index of `search_text` (ADR 0013) off (dropped) or on (built
        over every event now; appends wait for the build); whether anything changed. The
        `search_text` column stays either way, so text filters mean the same and only get
        slower without the index. Off for a bulk import, on after it: building the index once
        costs a fraction of maintaining it row by row (ADR 0018)."""
        if not isinstance(enabled, bool):
            raise ValidationError("enabled", f"{enabled!r} is not True or False", "pass True or False")
        self._check_writable("switch the text index")
        if self._version < postgres_schema.SEARCH_TEXT_VERSION:
            raise ValidationError("text_index", f"schema {self.schema} predates the text index",
                                  "run `chronik db upgrade` first")
        with self._pool.connection() as conn:
            try:
                with conn.transaction():
                    return postgres_schema.switch_text_index(conn, self.schema, enabled)
            except psycopg.Error as exc:
                raise translate(exc, "switching the text index failed; nothing changed") from exc

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        def run(conn: psycopg.Connection) -> list[tuple]:
            with conn.cursor(binary=True) as cur:
                cur.execute(sql, params, prepare=True)
                return cur.fetchall()

        return self._pool.read(run, "read failed")

    def lease(self, name: str, wait_s: float = DEFAULT_LEASE_WAIT_S) -> Lease:
        """A session advisory lock on a connection of its own (chronik.stores.postgres_lease)."""
        self._check_writable("take a lease")
        return take_lease(self._pool, self._writes, name, wait_s)

    # ------------------------------------------------------------ change detection

    def change_signal(self) -> ListenSignal:
        return ListenSignal(self._listeners)

    def close(self) -> None:
        self.group_commit.close()
        self._pool.close()
        self._listeners.close()


class ListenSignal:
    """LISTEN on the store's channel (append_events NOTIFYs the new head position at commit),
    on a dedicated connection per waiting thread, listening before the head is first read so
    nothing slips between; a re-read of the head at least every LISTEN_FALLBACK_POLL_S, and
    polling only while the LISTEN connection cannot be had."""

    def __init__(self, listeners: Listeners) -> None:
        self._listeners = listeners
        self._conn = listeners.get()

    def wait(self, known_position: int, timeout_s: float) -> bool:
        wait_s = min(timeout_s, LISTEN_FALLBACK_POLL_S)
        if self._conn is None:
            time.sleep(min(wait_s, 0.05))
            self._conn = self._listeners.get()
            return True
        try:
            notified = [n.payload for n in self._conn.notifies(timeout=wait_s, stop_after=1)]
        except psycopg.Error:
            self._listeners.drop(self._conn)
            self._conn = None
            return True
        if not notified:
            return wait_s < timeout_s  # the fallback: read the head anyway
        return _notified_position(notified[0]) > known_position


def _notified_position(payload: str) -> int:
    try:
        return int(payload)
    except ValueError:
        return 2**63 - 1  # not ours to parse: read the head and see


def _option_int(options: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    value = options.pop(name, None)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < minimum:
        raise ValidationError(name, f"{value!r} is not a whole number >= {minimum}", f"use e.g. ?{name}={default}")
    return number

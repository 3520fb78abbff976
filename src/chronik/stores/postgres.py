"""`postgresql://...` — the scale-out store: many machines, one PostgreSQL server.

Each append is one round trip: `SELECT * FROM <schema>.append_events(...)`, a server-side
function that takes one transaction-scoped advisory lock (so commit order equals position
order and a reader that checkpointed position N never sees an event <= N appear later), checks
idempotency and expectations, links the chain and inserts (see postgres_schema.py). Reads page by
keyset (`position > %s ORDER BY position LIMIT n`), never OFFSET, with prepared statements and
every value bound as a parameter.

URL options (removed before the URL reaches libpq): `schema=NAME` (default `chronik`, several
ledgers in one database), `lock_timeout_ms`, `statement_timeout_ms`, `pool_max`.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg.copy import QueuedLibpqWriter
from psycopg_pool import ConnectionPool

from chronik import codec
from chronik.errors import (
    ConcurrencyError,
    DuplicateIdError,
    IntegrityError,
    StorageError,
    StoreBusy,
    ValidationError,
)
from chronik.model import AppendResult, Event, Expect, Expectation, Head, StreamInfo
from chronik.stores import postgres_schema
from chronik.stores.base import (
    READ_PAGE_ROWS,
    AuxChange,
    ReadFilter,
    Store,
    StreamBatch,
    category_bounds,
    check_aux_changes,
    check_import,
    check_removal_rows,
    event_from_row,
    keyset_pages,
)

SCHEMA_PATTERN = re.compile(r"[a-z_][a-z0-9_]{0,62}")
EVENT_COLUMNS = "position, stream, version, type, id, time, data::text, meta::text, prev, hash, sig"
# Any key that stays fixed identifies chronik's migration lock among other advisory locks.
# How long an operation waits for a pooled connection before StorageError.
CONNECT_TIMEOUT_S = 10.0
MIGRATION_LOCK_KEY = 0x63_68_72_6F_6E_69_6B  # "chronik"
# Events per COPY chunk built and sent at a time by import_events.
COPY_CHUNK_EVENTS = 1_000
# wait_for_change re-reads the head at least this often, even when no notification arrives
# (the polling fallback: a lost LISTEN connection or a missed NOTIFY delays, never loses).
LISTEN_FALLBACK_POLL_S = 0.5


class PostgresStore(Store):
    def __init__(self, url: str) -> None:
        self.url = url
        conninfo, options = split_url(url)
        self.schema = options.pop("schema", "chronik")
        if not SCHEMA_PATTERN.fullmatch(self.schema) or self.schema.startswith("pg_"):
            raise ValidationError("schema", f"{self.schema!r} is not a schema name",
                                  "use lower-case letters, digits and _ (at most 63), not starting with pg_")
        lock_timeout_ms = int(options.pop("lock_timeout_ms", 10_000))
        statement_timeout_ms = int(options.pop("statement_timeout_ms", 60_000))
        pool_max = int(options.pop("pool_max", 8))
        if options:
            raise ValidationError("url", f"unknown option(s) {sorted(options)}",
                                  "supported: schema, lock_timeout_ms, statement_timeout_ms, pool_max")
        self.channel = f"chronik_{self.schema}"
        self._conninfo = conninfo
        # wait_for_change: one LISTEN connection per waiting thread, outside the pool.
        self._listeners = threading.local()
        self._all_listeners: list[psycopg.Connection] = []
        self._listeners_lock = threading.Lock()
        self._s = f'"{self.schema}"'
        self._closed = False

        def configure(conn: psycopg.Connection) -> None:
            conn.execute(f"SET lock_timeout = {lock_timeout_ms}")
            conn.execute(f"SET statement_timeout = {statement_timeout_ms}")
            conn.execute("SET synchronous_commit = on")

        try:
            self._pool = ConnectionPool(conninfo, min_size=1, max_size=pool_max, open=True,
                                        kwargs={"autocommit": True}, configure=configure,
                                        name=f"chronik-{self.schema}")
            self._pool.wait(timeout=10)
        except Exception as exc:  # PoolTimeout and libpq errors alike
            raise StorageError(f"cannot connect to PostgreSQL at {redact(conninfo)}: {exc}") from exc
        self._sql = _Statements(self._s)
        self.upgrade()

    # ------------------------------------------------------------ schema

    def schema_version(self) -> int:
        with self._connection() as conn:
            exists = conn.execute("SELECT to_regclass(%s)", (f"{self._s}.schema_version",)).fetchone()[0]
            if exists is None:
                return 0
            return conn.execute(f"SELECT coalesce(max(version), 0) FROM {self._s}.schema_version").fetchone()[0]

    def upgrade(self) -> list[int]:
        """Apply pending migrations (safe to run twice, and from several processes at once)."""
        applied: list[int] = []
        with self._connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self._s}")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {self._s}.schema_version ("
                         "version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            current = conn.execute(f"SELECT coalesce(max(version), 0) FROM {self._s}.schema_version").fetchone()[0]
            if current > len(postgres_schema.MIGRATIONS):
                raise StorageError(f"schema {self.schema} has version {current}, newer than this chronik "
                                   f"({len(postgres_schema.MIGRATIONS)}); upgrade chronik")
            for index in range(current, len(postgres_schema.MIGRATIONS)):
                conn.execute(postgres_schema.migration_sql(index, self.schema))
                conn.execute(f"INSERT INTO {self._s}.schema_version (version) VALUES (%s)", (index + 1,))
                applied.append(index + 1)
        return applied

    # ------------------------------------------------------------ writing

    def append(self, batches: Sequence[StreamBatch]) -> dict[str, AppendResult]:
        params = append_params(batches)
        with self._connection() as conn:
            try:
                if self.signer is None:
                    rows = conn.execute(self._sql.append, params, prepare=True).fetchall()
                else:
                    rows = self._append_signed(conn, params)
            except psycopg.Error as exc:
                if exc.sqlstate in ("CK001", "CK002"):
                    raise _raised(exc, batches) from None
                raise _translate(exc, "append failed; nothing was written") from exc
        by_stream = {row[0]: row for row in rows}
        results = {}
        for batch in batches:
            _, first, last, version = by_stream[batch.stream]
            results[batch.stream] = AppendResult(first, last, version, [p.id for p in batch.events])
        return results

    def _append_signed(self, conn: psycopg.Connection, params: tuple[str, ...]) -> list[tuple]:
        """append_events computes the hashes server-side; with a signer the MACs are computed
        here, from the hashes it recorded, and set before COMMIT, in the same transaction (whose
        ordering lock append_events holds until then), so no reader ever sees an unsigned event
        that will be signed. The key never leaves this process (docs/adr/0009). Events already
        recorded (an idempotent retry) keep their sig; unsigned ones in the range get one."""
        with conn.transaction():
            rows = conn.execute(self._sql.append, params, prepare=True).fetchall()
            low, high = min(row[1] for row in rows), max(row[2] for row in rows)
            hashes = conn.execute(self._sql.unsigned_hashes, (low, high), prepare=True).fetchall()
            if hashes:
                sign = self.signer
                positions = "{" + ",".join(str(position) for position, _ in hashes) + "}"
                sigs = '{"' + '","'.join(sign(digest) for _, digest in hashes) + '"}'
                conn.execute(self._sql.set_sigs, (positions, sigs), prepare=True)
        return rows

    def import_events(self, events: Sequence[Event]) -> None:
        """COPY the events in, in one transaction under the ordering lock of append_events."""
        if not events:
            return
        streams = codec.encode_json(sorted({event.stream for event in events})).decode()
        with self._connection() as conn:
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)",
                                 (postgres_schema.order_lock_key(self.schema),))
                    row = conn.execute(self._sql.head).fetchone()
                    head = Head(*row) if row else Head(0, codec.GENESIS_HASH)
                    versions = dict(conn.execute(self._sql.stream_versions, (streams,)).fetchall())
                    last_of_stream = check_import(events, head, lambda stream: versions.get(stream, 0))
                    # The rows are built a chunk at a time while a writer thread sends the
                    # previous chunk, so the client's encoding overlaps the server's inserting.
                    with conn.cursor() as cur, cur.copy(self._sql.copy_events, writer=QueuedLibpqWriter(cur)) as copy:
                        for start in range(0, len(events), COPY_CHUNK_EVENTS):
                            copy.write(_copy_text(events[start:start + COPY_CHUNK_EVENTS]))
                    conn.execute(self._sql.upsert_streams, (_stream_heads_json(last_of_stream),))
                    conn.execute(self._sql.notify, (self.channel, str(events[-1].position)))
            except pg_errors.UniqueViolation as exc:
                # The events' ids (or stream versions) are recorded already: the UNIQUE
                # constraints of the events table check that, inside the COPY.
                raise IntegrityError(f"import: {exc.diag.message_detail or exc}; nothing was "
                                     f"imported") from None
            except psycopg.Error as exc:
                raise _translate(exc, "import failed; nothing was imported") from exc

    def remove_events(self, positions: Sequence[int]) -> int:
        """DELETE the archived rows in one transaction; the streams table keeps each stream's
        version and the head (never removed) keeps the next position."""
        doomed = sorted({int(p) for p in positions})
        s = self._s
        with self._connection() as conn:
            try:
                with conn.transaction():
                    row = conn.execute(self._sql.head).fetchone()
                    older = conn.execute(
                        f"WITH reach AS (SELECT stream, max(version) AS v FROM {s}.events "
                        f"WHERE position = ANY(%s) GROUP BY stream) "
                        f"SELECT count(*) FROM {s}.events e JOIN reach r ON e.stream = r.stream "
                        f"WHERE e.version < r.v AND NOT e.position = ANY(%s)", (doomed, doomed)).fetchone()[0]
                    check_removal_rows(row[0] if row else 0, older, set(doomed))
                    return conn.execute(f"DELETE FROM {s}.events WHERE position = ANY(%s)", (doomed,)).rowcount
            except psycopg.Error as exc:
                raise _translate(exc, "removing archived events failed; nothing was removed") from exc

    # ------------------------------------------------------------ reading

    def read_stream(self, stream: str, start: int, end: int | None, backwards: bool,
                    limit: int | None) -> Iterator[Event]:
        low, high = max(start, 1), end if end is not None else 2**62
        if backwards:
            sql = self._sql.read_stream_backwards
            return keyset_pages(lambda top, n: self._fetch(sql, (stream, low, top, n)), high,
                                lambda row: row[2] - 1, limit, READ_PAGE_ROWS, event_from_row)
        sql = self._sql.read_stream
        return keyset_pages(lambda bottom, n: self._fetch(sql, (stream, bottom, high, n)), low,
                            lambda row: row[2] + 1, limit, READ_PAGE_ROWS * 5, event_from_row)

    def read_all(self, after: int, limit: int | None, filter: ReadFilter,
                 until_position: int | None = None) -> Iterator[Event]:
        where, params = _where(filter)
        until = self.head().position if until_position is None else until_position
        if after >= until:
            return iter(())
        # Larger pages than SQLite's: each page is a network round trip.
        if not where:
            # Unfiltered (the common full read): no upper bound in SQL, the page is cut at `until`
            # here. With `position > $1 AND position <= $2` and no statistics yet (a freshly
            # written table, before autovacuum's ANALYZE) the planner guessed 0.5 % of the rows
            # and sorted a sequential scan of the whole table for every page (external merge
            # on disk): 5x slower reads. With one bound it takes the primary key in order.
            sql = f"SELECT {EVENT_COLUMNS} FROM {self._s}.events WHERE position > %s ORDER BY position LIMIT %s"

            def page(cursor: int, n: int) -> list[tuple]:
                rows = self._fetch(sql, (cursor, n))
                if rows and rows[-1][0] > until:
                    rows = [row for row in rows if row[0] <= until]
                return rows

            return keyset_pages(page, after, lambda row: row[0], limit, READ_PAGE_ROWS * 5, event_from_row)
        sql = (f"SELECT {EVENT_COLUMNS} FROM {self._s}.events WHERE position > %s AND position <= %s"
               f"{where} ORDER BY position LIMIT %s")
        return keyset_pages(lambda cursor, n: self._fetch(sql, (cursor, until, *params, n)), after,
                            lambda row: row[0], limit, READ_PAGE_ROWS * 5, event_from_row)

    def count(self, filter: ReadFilter, after: int = 0) -> int:
        where, params = _where(filter)
        return self._fetch(f"SELECT count(*) FROM {self._s}.events WHERE position > %s{where}",
                           (after, *params))[0][0]

    def streams(self, category: str | None) -> list[StreamInfo]:
        sql = f"SELECT stream, version, last_position, last_type, last_time FROM {self._s}.streams"
        params: tuple = ()
        if category is not None:
            sql += " WHERE stream >= %s AND stream < %s"
            params = category_bounds(category)
        return [StreamInfo(*row) for row in self._fetch(sql + " ORDER BY stream COLLATE \"C\"", params)]

    def head(self) -> Head:
        rows = self._fetch(self._sql.head, ())
        return Head(*rows[0]) if rows else Head(0, codec.GENESIS_HASH)

    def stats(self) -> dict[str, Any]:
        count = self._fetch(f"SELECT count(*) FROM {self._s}.events", ())[0][0]
        # First and last in position order, the ledger's only order (a clock may jump back).
        first = self._fetch(f"SELECT time FROM {self._s}.events ORDER BY position LIMIT 1", ())
        last = self._fetch(f"SELECT time FROM {self._s}.events ORDER BY position DESC LIMIT 1", ())
        first, last = (first[0][0], last[0][0]) if count else (None, None)
        streams = self._fetch(f"SELECT count(*) FROM {self._s}.streams", ())[0][0]
        types = dict(self._fetch(f"SELECT type, count(*) FROM {self._s}.events GROUP BY type "
                                 f"ORDER BY type COLLATE \"C\"", ()))
        size = self._fetch("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                           "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
                           "AND c.relkind = 'r'", (self.schema,))[0][0]
        return {"events": count, "streams": streams, "size_bytes": int(size), "first_time": first,
                "last_time": last, "types": types}

    # ------------------------------------------------------------ auxiliary records

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

    def aux_write(self, changes: Sequence[AuxChange]) -> None:
        changes = check_aux_changes(changes)
        upserts = [(c.kind, c.key, c.value) for c in changes if c.value is not None]
        deletes = [(c.kind, c.key) for c in changes if c.value is None]
        with self._connection() as conn:
            try:
                with conn.transaction(), conn.cursor() as cur:
                    if upserts:
                        cur.executemany(f"INSERT INTO {self._s}.aux (kind, key, value) VALUES (%s, %s, %s) "
                                        f"ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value",
                                        upserts)
                    if deletes:
                        cur.executemany(f"DELETE FROM {self._s}.aux WHERE kind = %s AND key = %s", deletes)
            except psycopg.Error as exc:
                raise _translate(exc, "writing auxiliary records failed; nothing was written") from exc

    # ------------------------------------------------------------ change detection

    def wait_for_change(self, known_position: int, timeout_s: float) -> bool:
        """LISTEN on the store's channel (append_events NOTIFYs the new head position at
        commit), on a dedicated connection per waiting thread; re-read the head at least every
        LISTEN_FALLBACK_POLL_S, and poll only while the LISTEN connection cannot be had."""
        deadline = time.monotonic() + max(timeout_s, 0.0)
        listener = self._listener()  # listening before the head is read: nothing slips between
        while True:
            if self.head().position > known_position:
                return True
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                wait_s = min(remaining, LISTEN_FALLBACK_POLL_S)
                if listener is None:
                    time.sleep(min(wait_s, 0.05))
                    listener = self._listener()
                    break
                try:
                    notified = [n.payload for n in listener.notifies(timeout=wait_s, stop_after=1)]
                except psycopg.Error:
                    self._drop_listener(listener)
                    listener = None
                    break
                if not notified:
                    break  # the fallback: read the head anyway
                if _notified_position(notified[0]) > known_position:
                    return True

    def _listener(self) -> psycopg.Connection | None:
        conn = getattr(self._listeners, "conn", None)
        if conn is not None and not conn.closed:
            return conn
        if self._closed:
            raise StorageError("the ledger is closed; open it again")
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT_S))
            conn.execute(f'LISTEN "{self.channel}"')
        except psycopg.Error:
            return None  # poll until the server takes connections again
        self._listeners.conn = conn
        with self._listeners_lock:
            self._all_listeners.append(conn)
        return conn

    def _drop_listener(self, conn: psycopg.Connection) -> None:
        self._listeners.conn = None
        with self._listeners_lock:
            if conn in self._all_listeners:
                self._all_listeners.remove(conn)
        with contextlib.suppress(psycopg.Error):
            conn.close()

    def ledger_id(self) -> str:
        return self._fetch(f"SELECT value FROM {self._s}.meta WHERE key = 'ledger_id'", ())[0][0]

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        with self._connection() as conn:
            try:
                with conn.cursor(binary=True) as cur:
                    cur.execute(sql, params, prepare=True)
                    return cur.fetchall()
            except psycopg.Error as exc:
                raise _translate(exc, "read failed") from exc

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        if self._closed:
            raise StorageError("the ledger is closed; open it again")
        try:
            with self._pool.connection(timeout=CONNECT_TIMEOUT_S) as conn:
                yield conn
        except psycopg.Error as exc:  # getting or returning the connection (PoolTimeout too)
            raise _translate(exc, "PostgreSQL request failed") from exc

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._pool.close()
            with self._listeners_lock:
                listeners, self._all_listeners = self._all_listeners, []
            for conn in listeners:
                with contextlib.suppress(psycopg.Error):
                    conn.close()


# ---------------------------------------------------------------- helpers


class _Statements:
    def __init__(self, s: str) -> None:
        self.append = f"SELECT * FROM {s}.append_events(%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        self.head = f"SELECT position, hash FROM {s}.events ORDER BY position DESC LIMIT 1"
        # Signing an append (PostgresStore._append_signed), in its transaction.
        self.unsigned_hashes = (f"SELECT position, hash FROM {s}.events WHERE position >= %s "
                                f"AND position <= %s AND sig IS NULL ORDER BY position")
        self.set_sigs = (f"UPDATE {s}.events AS e SET sig = v.sig FROM unnest(%s::bigint[], %s::text[]) "
                         f"AS v(position, sig) WHERE e.position = v.position")
        # import_events (under the ordering lock of append_events): COPY, then the streams' heads.
        self.stream_versions = (f"SELECT stream, version FROM {s}.streams "
                                f"WHERE stream IN (SELECT json_array_elements_text(%s::json))")
        self.copy_events = (f"COPY {s}.events (position, stream, version, type, id, time, data, meta, "
                            f"prev, hash, sig) FROM STDIN")
        self.upsert_streams = (
            f"INSERT INTO {s}.streams AS st (stream, version, last_position, last_type, last_time) "
            f"SELECT * FROM json_to_recordset(%s::json) AS x(stream text, version bigint, "
            f"last_position bigint, last_type text, last_time text) "
            f"ON CONFLICT ON CONSTRAINT streams_pkey DO UPDATE SET version = excluded.version, "
            f"last_position = excluded.last_position, last_type = excluded.last_type, "
            f"last_time = excluded.last_time")
        self.notify = "SELECT pg_notify(%s, %s)"
        self.read_stream = (f"SELECT {EVENT_COLUMNS} FROM {s}.events WHERE stream = %s AND version >= %s "
                            f"AND version <= %s ORDER BY version LIMIT %s")
        self.read_stream_backwards = (f"SELECT {EVENT_COLUMNS} FROM {s}.events WHERE stream = %s "
                                      f"AND version >= %s AND version <= %s ORDER BY version DESC LIMIT %s")


def append_params(batches: Sequence[StreamBatch]) -> tuple[str, ...]:
    """The arguments of `append_events`: per stream, then per event flattened in stream order.

    Each is one PostgreSQL array literal (`{"a","b"}`) sent as a string, which the server casts to
    the parameter's array type. psycopg's own adaptation of Python lists inspects every element in
    Python and cost ~0.3 ms of the ~1 ms of a single-event append; this is a few string joins.
    Every element is double-quoted with its `"` and `\\` escaped (canonical JSON has them; the
    ledger's streams, types, ids and times do not)."""
    streams, expects, counts = [], [], []
    types, ids, given, times, data, meta = [], [], [], [], [], []
    for batch in batches:
        streams.append(batch.stream)
        expects.append(str(_expect_code(batch.expect)))
        counts.append(str(len(batch.events)))
        for pending in batch.events:
            types.append(pending.type)
            ids.append(pending.id)
            given.append("t" if pending.id_given else "f")
            times.append(pending.time)
            data.append(_array_element(pending.data))
            meta.append(_array_element(pending.meta))
    return (_plain_array(streams), _plain_array(expects), _plain_array(counts), _plain_array(types),
            _plain_array(ids), _plain_array(given), _plain_array(times),
            "{" + ",".join(data) + "}", "{" + ",".join(meta) + "}")


def _plain_array(values: list[str]) -> str:
    """An array literal of text values, every element double-quoted (so `{`, `}`, `,`, spaces and
    the word NULL need nothing); `"` and `\\` are escaped, though the ledger's names have none."""
    if not values:
        return "{}"
    if '"' in (joined := "".join(values)) or "\\" in joined:
        return "{" + ",".join(_array_element(value.encode()) for value in values) + "}"
    return '{"' + '","'.join(values) + '"}'


def _array_element(json_bytes: bytes) -> str:
    """One double-quoted array element holding canonical JSON text."""
    text = json_bytes.decode()
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """libpq conninfo (chronik's own options removed) and those options."""
    parts = urlsplit(url)
    ours = {"schema", "lock_timeout_ms", "statement_timeout_ms", "pool_max"}
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = {k: v for k, v in query if k in ours}
    rest = [(k, v) for k, v in query if k not in ours]
    scheme = "postgresql" if parts.scheme in ("postgres", "postgresql") else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(rest), parts.fragment)), options


def redact(conninfo: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(conninfo)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return conninfo


# COPY text format: fields separated by tabs, rows by newlines, NULL written \\N, and a backslash,
# tab, newline or carriage return inside a field escaped with a backslash.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_COPY_FIELDS = 11


def _copy_text(events: Sequence[Event]) -> bytes:
    """The events as COPY text rows, data and meta in canonical form.

    Canonical JSON holds no raw tab, newline or carriage return, and the ledger's names, ids,
    times and hashes hold none either, so the rows are joined first and their backslashes
    escaped in one pass; a count of tabs and newlines proves that nothing needed more. NUL
    (which PostgreSQL text cannot hold, so no field has it) stands for a null sig meanwhile."""
    encode = codec.encode_json
    null = "\0"
    text = "".join([
        f"{e.position}\t{e.stream}\t{e.version}\t{e.type}\t{e.id}\t{e.time}\t{encode(e.data).decode()}"
        f"\t{encode(e.meta).decode()}\t{e.prev}\t{e.hash}\t{null if e.sig is None else e.sig}\n"
        for e in events])
    nulls = sum(1 for e in events if e.sig is None)
    if (text.count("\t") != len(events) * (_COPY_FIELDS - 1) or text.count("\n") != len(events)
            or "\r" in text or text.count(null) != nulls):
        return _copy_text_escaped(events)
    return text.replace("\\", "\\\\").replace(null, "\\N").encode()


def _copy_text_escaped(events: Sequence[Event]) -> bytes:
    """The slow, general form of `_copy_text`: every field escaped on its own."""
    encode = codec.encode_json
    rows = []
    for e in events:
        fields = [str(e.position), e.stream, str(e.version), e.type, e.id, e.time,
                  encode(e.data).decode(), encode(e.meta).decode(), e.prev, e.hash]
        escaped = [field.translate(_COPY_ESCAPES) for field in fields]
        escaped.append("\\N" if e.sig is None else e.sig.translate(_COPY_ESCAPES))
        rows.append("\t".join(escaped) + "\n")
    return "".join(rows).encode()


def _stream_heads_json(last_of_stream: dict[str, Event]) -> str:
    """Each stream's last imported event as the rows of the streams table, as JSON text."""
    return codec.encode_json([
        {"stream": e.stream, "version": e.version, "last_position": e.position, "last_type": e.type,
         "last_time": e.time} for e in last_of_stream.values()]).decode()


def _expect_code(expect: Expectation) -> int:
    if expect is Expect.ANY:
        return postgres_schema.EXPECT_ANY
    if expect is Expect.NO_STREAM:
        return postgres_schema.EXPECT_NO_STREAM
    if expect is Expect.EXISTS:
        return postgres_schema.EXPECT_EXISTS
    return int(expect)


def _notified_position(payload: str) -> int:
    try:
        return int(payload)
    except ValueError:
        return 2**63 - 1  # not ours to parse: read the head and see


def _where(filter: ReadFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if filter.streams:
        clauses.append("stream = ANY(%s)")
        params.append(list(filter.streams))
    if filter.categories:
        ranges = []
        for category in filter.categories:
            ranges.append("(stream >= %s AND stream < %s)")
            params.extend(category_bounds(category))
        clauses.append(f"({' OR '.join(ranges)})")
    if filter.types:
        clauses.append("type = ANY(%s)")
        params.append(list(filter.types))
    if filter.since:
        clauses.append("time >= %s")
        params.append(filter.since)
    if filter.until:
        clauses.append("time <= %s")
        params.append(filter.until)
    if filter.text:
        pattern = "%" + filter.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append("(type ILIKE %s OR data::text ILIKE %s OR meta::text ILIKE %s)")
        params.extend([pattern, pattern, pattern])
    return "".join(f" AND {clause}" for clause in clauses), params


def _raised(exc: psycopg.Error, batches: Sequence[StreamBatch]):
    diag = exc.diag
    if diag.sqlstate == "CK002":
        stream = diag.message_primary or ""
        expected_code, actual = (int(x) for x in (diag.message_detail or "0 0").split())
        expect = next((b.expect for b in batches if b.stream == stream), expected_code)
        return ConcurrencyError(stream, expect, actual or None)
    if diag.sqlstate == "CK001":
        return DuplicateIdError(diag.message_primary or "id", diag.message_detail or "duplicate id",
                                "retry the original call unchanged, or use fresh ids")
    return StorageError(f"append failed: {exc}")


def _translate(exc: psycopg.Error, context: str) -> StorageError:
    if isinstance(exc, (pg_errors.LockNotAvailable, pg_errors.QueryCanceled)):
        return StoreBusy(f"{context}: the ledger stayed locked beyond lock_timeout/statement_timeout; "
                         f"retry, or raise lock_timeout_ms")
    if isinstance(exc, psycopg.OperationalError):
        return StorageError(f"{context}: lost the connection to PostgreSQL ({exc}); whether the "
                            f"append committed is unknown — retry it with the same event ids")
    return StorageError(f"{context}: {exc}")

"""Auxiliary records in SQLite: the `aux` table of a SQLite ledger, and the sidecar database
`<file>.aux.db` of a JSON Lines ledger (whose own file holds events only).

A WITHOUT ROWID table keyed by (kind, key): BINARY collation orders keys by UTF-8 bytes, which
is code point order, the same as Python's and PostgreSQL's "C" collation.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from chronik.errors import StorageError, StoreBusy
from chronik.stores.base import AuxChange

AUX_SCHEMA = """
CREATE TABLE IF NOT EXISTS aux (
    kind  TEXT NOT NULL,
    key   TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID
"""
UPSERT = "INSERT INTO aux (kind, key, value) VALUES (?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value"
DELETE = "DELETE FROM aux WHERE kind = ? AND key = ?"


def get(conn: sqlite3.Connection, kind: str, key: str) -> bytes | None:
    row = conn.execute("SELECT value FROM aux WHERE kind = ? AND key = ?", (kind, key)).fetchone()
    return bytes(row[0]) if row else None


def key_range(conn: sqlite3.Connection, kind: str, low: str, high: str | None, reverse: bool,
              limit: int) -> list[tuple[str, bytes]]:
    sql = "SELECT key, value FROM aux WHERE kind = ? AND key >= ?"
    params: list = [kind, low]
    if high is not None:
        sql += " AND key < ?"
        params.append(high)
    sql += f" ORDER BY key {'DESC' if reverse else 'ASC'} LIMIT ?"
    params.append(limit)
    return [(key, bytes(value)) for key, value in conn.execute(sql, params).fetchall()]


def write_in_transaction(conn: sqlite3.Connection, changes: Sequence[AuxChange]) -> None:
    upserts = [(c.kind, c.key, c.value) for c in changes if c.value is not None]
    deletes = [(c.kind, c.key) for c in changes if c.value is None]
    if upserts:
        conn.executemany(UPSERT, upserts)
    if deletes:
        conn.executemany(DELETE, deletes)


def write(conn: sqlite3.Connection, changes: Sequence[AuxChange],
          error: Callable[[sqlite3.Error, str], StorageError]) -> None:
    """One durable transaction; `error` maps sqlite3 errors to chronik's."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise error(exc, "cannot start writing auxiliary records") from exc
    try:
        write_in_transaction(conn, changes)
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise error(exc, "writing auxiliary records failed; nothing was written") from exc
        raise


class AuxDatabase:
    """A sidecar SQLite file holding only the aux table, with a connection per thread."""

    def __init__(self, path: str, durability: str, busy_timeout_ms: int = 30_000) -> None:
        self.path = path
        self._synchronous = "FULL" if durability == "full" else "NORMAL"
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._created = False

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=self._busy_timeout_ms / 1000)
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            if not self._created:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(AUX_SCHEMA)
                self._created = True
        except sqlite3.Error as exc:
            raise error(exc, f"cannot open {self.path}") from exc
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn

    def get(self, kind: str, key: str) -> bytes | None:
        try:
            return get(self.connection(), kind, key)
        except sqlite3.Error as exc:
            raise error(exc, "reading an auxiliary record failed") from exc

    def key_range(self, kind: str, low: str, high: str | None, reverse: bool, limit: int) -> list[tuple[str, bytes]]:
        try:
            return key_range(self.connection(), kind, low, high, reverse, limit)
        except sqlite3.Error as exc:
            raise error(exc, "reading auxiliary records failed") from exc

    def write(self, changes: Sequence[AuxChange]) -> None:
        write(self.connection(), changes, error)

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


def error(exc: sqlite3.Error, context: str) -> StorageError:
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return StoreBusy(f"{context}: the database stayed locked beyond the busy timeout; retry")
    return StorageError(f"{context}: {exc}")

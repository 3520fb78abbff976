"""Auxiliary records in SQLite: the `aux` table of a SQLite ledger, and the sidecar database
`<file>.aux.db` of a JSON Lines ledger (whose own file holds events only).

A WITHOUT ROWID table keyed by (kind, key): BINARY collation orders keys by UTF-8 bytes, which
is code point order, the same as Python's and PostgreSQL's "C" collation.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence

from chronik.errors import StorageError
from chronik.stores import sqlite_engine
from chronik.stores.base import AuxChange, environment_error

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


def write(conn: sqlite3.Connection, changes: Sequence[AuxChange], path: str) -> None:
    """All changes in one durable write transaction."""
    upserts = [(c.kind, c.key, c.value) for c in changes if c.value is not None]
    deletes = [(c.kind, c.key) for c in changes if c.value is None]
    with sqlite_engine.write_transaction(conn, path, "writing auxiliary records", "nothing was written"):
        if upserts:
            conn.executemany(UPSERT, upserts)
        if deletes:
            conn.executemany(DELETE, deletes)


class AuxDatabase:
    """A sidecar SQLite file holding only the aux table, with a connection per thread.

    With `read_only`, nothing is created: a sidecar that does not exist reads as empty, an
    existing one is opened read-only (immutable on read-only media), and writes raise
    StorageError."""

    def __init__(self, path: str, durability: str, busy_timeout_ms: int = 30_000,
                 read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._synchronous = "FULL" if durability == "full" else "NORMAL"
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._mode: str | None = None  # chosen on first use

    def connection(self) -> sqlite3.Connection | None:
        """This thread's connection, or None when read-only and the sidecar does not exist."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            if self._mode is None:
                self._mode = self._choose_mode()
                if self._mode is None:
                    return None
            conn = sqlite_engine.connect(self.path, self._mode, self._busy_timeout_ms)
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        except sqlite3.Error as exc:
            raise sqlite_engine.sqlite_error(exc, "cannot open the auxiliary records", self.path) from exc
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn

    def _choose_mode(self) -> str | None:
        if self.read_only:
            if not os.path.exists(self.path):
                return None
            return sqlite_engine.read_only_mode(self.path, self._busy_timeout_ms)
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        except OSError as exc:
            raise environment_error(exc, "cannot create the folder of the auxiliary records") from None
        conn = sqlite_engine.connect(self.path, "rw", self._busy_timeout_ms)
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(AUX_SCHEMA)
        finally:
            conn.close()
        return "rw"

    def get(self, kind: str, key: str) -> bytes | None:
        try:
            conn = self.connection()
            return None if conn is None else get(conn, kind, key)
        except sqlite3.Error as exc:
            raise sqlite_engine.sqlite_error(exc, "reading an auxiliary record failed", self.path) from exc

    def key_range(self, kind: str, low: str, high: str | None, reverse: bool, limit: int) -> list[tuple[str, bytes]]:
        try:
            conn = self.connection()
            return [] if conn is None else key_range(conn, kind, low, high, reverse, limit)
        except sqlite3.Error as exc:
            raise sqlite_engine.sqlite_error(exc, "reading auxiliary records failed", self.path) from exc

    def write(self, changes: Sequence[AuxChange]) -> None:
        if self.read_only:
            raise StorageError(f"cannot write auxiliary records: {self.path} was opened read-only")
        conn = self.connection()
        assert conn is not None, "a writable sidecar is always opened"
        write(conn, changes, self.path)

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

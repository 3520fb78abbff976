"""The schema of a SQLite ledger and its migrations, numbered by `PRAGMA user_version`.

A ledger opened for writing is migrated when opened (in its own BEGIN IMMEDIATE, so two
processes opening one new file at once create it once); a ledger opened read-only is only
checked: it must be a chronik ledger of a version this chronik can read.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from datetime import UTC, datetime

from chronik import codec
from chronik.errors import IntegrityError, NotFound, StorageError
from chronik.stores import aux_sqlite

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


def migrate(conn: sqlite3.Connection, path: str) -> list[int]:
    """Bring the schema to SCHEMA_VERSION inside the caller's write transaction; the versions
    applied (none when it was current)."""
    found = _version(conn, path)
    applied: list[int] = []
    if found < 1:
        # Statement by statement: executescript() would COMMIT the surrounding transaction.
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("INSERT OR IGNORE INTO chronik_meta (key, value) VALUES ('ledger_id', ?)",
                     (str(uuid.uuid4()),))
        conn.execute("INSERT OR IGNORE INTO chronik_meta (key, value) VALUES ('created', ?)",
                     (codec.format_time(datetime.now(UTC)),))
        applied.append(1)
    if found < 2:
        conn.execute(aux_sqlite.AUX_SCHEMA)
        applied.append(2)
    if applied:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return applied


def is_current(conn: sqlite3.Connection, path: str) -> bool:
    """Whether the schema is at SCHEMA_VERSION already (read without taking the write lock)."""
    return _version(conn, path) == SCHEMA_VERSION


def check_readable(conn: sqlite3.Connection, path: str) -> None:
    """A read-only open: the file must hold a chronik ledger this chronik can read."""
    if _version(conn, path) >= 1:
        return
    if os.path.getsize(path) == 0:
        # SQLite writes its header page as soon as a ledger is created, so an empty file is
        # one that lost everything (cut to nothing), not a ledger with no events.
        raise IntegrityError(f"{path} is empty: a chronik ledger file never is (was it truncated?)")
    raise NotFound(f"no ledger at {path}: it is a SQLite file without chronik's tables")


def _version(conn: sqlite3.Connection, path: str) -> int:
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise StorageError(f"{path} has schema version {found}, newer than this chronik "
                           f"({SCHEMA_VERSION}); upgrade chronik")
    return int(found)

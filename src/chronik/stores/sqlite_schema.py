"""The schema of a SQLite ledger and its migrations, numbered by `PRAGMA user_version`.

A ledger opened for writing is migrated when opened (in its own BEGIN IMMEDIATE, so two
processes opening one new file at once create it once); a ledger opened read-only is only
checked: it must be a chronik ledger of a version this chronik can read.

Versions: 1 the events, streams and meta tables; 2 the auxiliary records; 3 the optional text
index (sqlite_text.py, ADR 0013): switched on per ledger, it is a table of its own, so the
migration creates nothing; a ledger that has the index can only be written by a SQLite with
FTS5's trigram tokenizer (>= 3.34).
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from datetime import UTC, datetime

from chronik import codec
from chronik.errors import IntegrityError, NotFound, StorageError
from chronik.stores import aux_sqlite, sqlite_text

SCHEMA_VERSION = 3


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
    if found < 3:
        applied.append(3)  # the text index is optional: `chronik db text-index on` creates it
    if applied:
        conn.execute(f"PRAGMA user_version = {applied[-1]}")
    return applied


def is_current(conn: sqlite3.Connection, path: str) -> bool:
    """Whether the schema is as far as this process can take it (read without taking the write
    lock). A ledger with a text index needs a SQLite that can write it."""
    found = _version(conn, path)
    if not sqlite_text.available() and sqlite_text.exists(conn):
        raise StorageError(f"{path} has a text index (FTS5 trigram), which this process's SQLite "
                           f"{sqlite3.sqlite_version} cannot update; write to it with SQLite >= 3.34 "
                           f"built with FTS5, switch the index off there, or open it read-only")
    return found == SCHEMA_VERSION


def has_text_index(conn: sqlite3.Connection) -> bool:
    """Whether text filters can use the index here: the ledger has it switched on and this
    SQLite can read it."""
    return sqlite_text.available() and sqlite_text.exists(conn)


SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_HEADER_BYTES = 100


def check_readable(conn: sqlite3.Connection, path: str) -> None:
    """A read-only open: the file must hold a chronik ledger this chronik can read."""
    if _version(conn, path) >= 1:
        return
    if os.path.getsize(path) == 0:
        # SQLite writes its header page as soon as a ledger is created, so an empty file is
        # one that lost everything (cut to nothing), not a ledger with no events.
        raise IntegrityError(f"{path} is empty: a chronik ledger file never is (was it truncated?)")
    raise NotFound(f"no ledger at {path}: it is a SQLite file without chronik's tables")


def check_header(path: str) -> None:
    """A non-empty file must hold at least a whole SQLite header: SQLite may read a file too
    short for one as an empty database, without an error, so a ledger cut to a few bytes would read as
    no ledger, and a write would start a new one over what is left. (An empty file is SQLite's
    way to ask for a new database: that one is created.)"""
    try:
        with open(path, "rb") as file:
            header = file.read(SQLITE_HEADER_BYTES)
    except OSError:
        return  # missing or unreadable: opening it says so, in the usual words
    # A whole header that is not SQLite's is reported by SQLite itself ("file is not a database").
    if 0 < len(header) < SQLITE_HEADER_BYTES:
        raise IntegrityError(f"{path} holds {os.path.getsize(path)} byte(s) without a whole SQLite header "
                             f"(100 bytes, starting {SQLITE_MAGIC!r}): a ledger file cut short or "
                             f"overwritten; nothing was written to it")


def _version(conn: sqlite3.Connection, path: str) -> int:
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise StorageError(f"{path} has schema version {found}, newer than this chronik "
                           f"({SCHEMA_VERSION}); upgrade chronik")
    return int(found)

"""The text index of a SQLite ledger (ADR 0013): an FTS5 table with the trigram tokenizer that
answers `Filter.text` without testing every event.

What it holds: for each event (FTS rowid = position) its type, data JSON and meta JSON, each
lower-cased by Python's `str.lower` — the function that defines the text filter
(`stores.filters.text_haystack`) — in three columns, so a match never spans two fields. It is
case-sensitive (`case_sensitive 1`): both sides are lower-cased already, by the filter's own
rule; FTS5's own case folding is a different table (no `İ` -> `i̇`, an older Unicode) and would
make the index disagree with the scan. A trigram phrase query "abcd" matches the rows that hold
the trigrams abc, bcd at consecutive offsets of one column, i.e. exactly the rows where "abcd" is
a substring of that column: the index is exact, with no recheck.

What it cannot answer: a needle under 3 characters (no trigram) or one holding NUL (the
separator of the haystack, so it may span two fields); those fall back to the scan.

It is contentless (`content=''`: the text is not stored twice) and has no per-row size table
(`columnsize=0`: no ranking is ever asked for), so deleting a row needs its indexed values
again, which `delete_rows` recomputes from the events being deleted.

Opt-in, per ledger (`chronik db text-index on|off`, `SQLiteStore.set_text_index`): indexing
costs every append (measured on the machine of docs/performance.md: a durable single append
184 -> 353 µs, 100-event batches 51,000 -> 16,700 events/s, about 2 KB of index per 500-byte
event), which a ledger that never searches text should not pay. The switch is the table
itself: it exists exactly while the index is on, and every write transaction looks for it, so
a writer in another process never misses a change of the switch.

Kept in sync by chronik's own writes (append, import, retention) in the same transaction, not by
a trigger: a trigger would have to call a Python function, and then every write made outside
chronik (the `sqlite3` shell, say) would fail with "no such function". Writes made outside
chronik are not indexed: they are tampering, which `verify` reports.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from typing import Any

from chronik.stores.sql import TextIndex

TABLE = "events_text"
# The SQLite release whose FTS5 has the trigram tokenizer.
TRIGRAM_SQLITE = (3, 34, 0)
# Shorter needles (in code points) have no trigram to look up.
MIN_INDEXED_CHARS = 3

CREATE_TABLE = (f"CREATE VIRTUAL TABLE {TABLE} USING fts5(type_text, data_text, meta_text, content='', "
                f"columnsize=0, tokenize='trigram case_sensitive 1')")
INSERT_ROW = f"INSERT INTO {TABLE} (rowid, type_text, data_text, meta_text) VALUES (?, ?, ?, ?)"
_DELETE_ROWS = (f"INSERT INTO {TABLE} ({TABLE}, rowid, type_text, data_text, meta_text) "
                "SELECT 'delete', position, chronik_lower(type), chronik_lower(data), chronik_lower(meta) "
                "FROM events WHERE position IN (SELECT value FROM json_each(?))")
_FILL = (f"INSERT INTO {TABLE} (rowid, type_text, data_text, meta_text) "
         "SELECT position, chronik_lower(type), chronik_lower(data), chronik_lower(meta) FROM events")


@functools.cache
def available() -> bool:
    """Whether this process's SQLite has FTS5 with the trigram tokenizer."""
    if sqlite3.sqlite_version_info < TRIGRAM_SQLITE:
        return False
    conn = sqlite3.connect(":memory:")
    try:
        return any(option == "ENABLE_FTS5" for (option,) in conn.execute("PRAGMA compile_options"))
    finally:
        conn.close()


def register(conn: sqlite3.Connection) -> None:
    """The SQL function the index is filled and emptied with: the text filter's lower-casing."""
    conn.create_function("chronik_lower", 1, str.lower, deterministic=True)


def create(conn: sqlite3.Connection) -> None:
    """Create the index over the events already recorded (in the caller's write transaction)."""
    register(conn)
    conn.execute(CREATE_TABLE)
    conn.execute(_FILL)


def drop(conn: sqlite3.Connection) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {TABLE}")


def exists(conn: sqlite3.Connection) -> bool:
    """Whether the ledger has the index (the switch): one lookup in SQLite's schema table."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (TABLE,)).fetchone() is not None


def index_rows(conn: sqlite3.Connection, event_rows: Sequence[tuple]) -> None:
    """Index new events, given as the rows just inserted into `events` (sqlite.INSERT_EVENT:
    position, stream, version, type, id, time, data, meta, ...)."""
    conn.executemany(INSERT_ROW, [(row[0], row[3].lower(), row[6].lower(), row[7].lower())
                                  for row in event_rows])


def delete_rows(conn: sqlite3.Connection, positions_json: str) -> None:
    """Unindex the events at these positions (a JSON array), before they are deleted."""
    register(conn)
    conn.execute(_DELETE_ROWS, (positions_json,))


def phrase(needle: str) -> str | None:
    """The FTS5 query for a lower-cased needle, or None when the index cannot answer it."""
    if len(needle) < MIN_INDEXED_CHARS or "\x00" in needle:
        return None
    return '"' + needle.replace('"', '""') + '"'


def _match(needle: str) -> tuple[str, list[Any]] | None:
    query = phrase(needle)
    return None if query is None else (f"{TABLE} MATCH ?", [query])


# The index drives the read: FTS5 yields its rowids in order within the position bounds, each
# joined to its event by primary key, so a page stops after `limit` matches. CROSS JOIN keeps
# SQLite from putting the events table outside.
INDEX = TextIndex(source=f"{TABLE} CROSS JOIN events ON events.position = {TABLE}.rowid",
                  position=f"{TABLE}.rowid", match=_match)


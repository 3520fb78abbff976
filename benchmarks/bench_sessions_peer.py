"""The peer of bench_sessions.py: the real system's design (supervisor-service-s, the plan's
migrations/003-event-store.sql), rebuilt on the same database engine and loaded with the same
events, so every chronik figure has the original's beside it, measured in the same run.

Its emit is the original's: read `max(sequence_num) + 1`, then insert (no lock; a single
writer here, so no collisions). Its query matches the keyword with ILIKE (SQLite: LIKE, which
is case-insensitive for ASCII) over the type and the JSON text of data and metadata; its replay
reads the rows in sequence order and folds them with the same reducer as chronik.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from chronik.domains.sessions.reducer import fold_event, initial
from chronik.model import Event

SQLITE_SCHEMA = """
CREATE TABLE event_store (
  event_id TEXT PRIMARY KEY, instance_id TEXT NOT NULL, event_type TEXT NOT NULL,
  sequence_num INTEGER NOT NULL, timestamp TEXT NOT NULL, event_data TEXT NOT NULL, metadata TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE (instance_id, sequence_num));
CREATE INDEX idx_event_store_instance_seq ON event_store(instance_id, sequence_num);
CREATE INDEX idx_event_store_type_timestamp ON event_store(event_type, timestamp DESC);
CREATE INDEX idx_event_store_instance_time ON event_store(instance_id, created_at DESC);
"""
POSTGRES_SCHEMA = """
CREATE TABLE event_store (
  event_id UUID PRIMARY KEY DEFAULT gen_random_uuid(), instance_id TEXT NOT NULL,
  event_type VARCHAR(64) NOT NULL, sequence_num BIGINT NOT NULL,
  timestamp TIMESTAMPTZ NOT NULL DEFAULT NOW(), event_data JSONB NOT NULL, metadata JSONB,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(), updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  CONSTRAINT unique_sequence UNIQUE (instance_id, sequence_num));
CREATE INDEX idx_event_store_instance_seq ON event_store(instance_id, sequence_num);
CREATE INDEX idx_event_store_type_timestamp ON event_store(event_type, timestamp DESC);
CREATE INDEX idx_event_store_instance_time ON event_store(instance_id, created_at DESC);
"""
Row = tuple[str, str, str, int, str, str, str]  # event_id, instance, type, sequence, time, data, meta


class OriginalSqlite:
    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(SQLITE_SCHEMA)

    def load(self, rows: Iterable[Row]) -> None:
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT INTO event_store VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              ((*row, row[4], row[4]) for row in rows))
        self.conn.execute("COMMIT")

    def emit(self, instance_id: str, event_type: str, data: dict[str, Any], now: str) -> int:
        number = self.conn.execute("SELECT COALESCE(MAX(sequence_num), 0) + 1 FROM event_store "
                                   "WHERE instance_id = ?", (instance_id,)).fetchone()[0]
        self.conn.execute("INSERT INTO event_store VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          (str(uuid.uuid4()), instance_id, event_type, number, now, json.dumps(data), "{}", now, now))
        return int(number)

    def last(self, instance_id: str, count: int) -> list[tuple]:
        return self.conn.execute("SELECT * FROM event_store WHERE instance_id = ? ORDER BY sequence_num DESC "
                                 "LIMIT ?", (instance_id, count)).fetchall()

    def query(self, instance_id: str, types: Sequence[str], since: str, until: str, keyword: str,
              limit: int = 100) -> tuple[list[tuple], int]:
        where = (f"instance_id = ? AND event_type IN ({', '.join('?' * len(types))}) AND timestamp >= ? "
                 "AND timestamp <= ? AND (event_type || event_data || COALESCE(metadata, '')) LIKE ?")
        params = (instance_id, *types, since, until, f"%{keyword}%")
        rows = self.conn.execute(f"SELECT * FROM event_store WHERE {where} ORDER BY sequence_num LIMIT ?",
                                 (*params, limit)).fetchall()
        total = self.conn.execute(f"SELECT count(*) FROM event_store WHERE {where}", params).fetchone()[0]
        return rows, total

    def replay(self, instance_id: str, to_sequence: int) -> dict[str, Any]:
        rows = self.conn.execute("SELECT event_id, event_type, sequence_num, timestamp, event_data, metadata "
                                 "FROM event_store WHERE instance_id = ? AND sequence_num <= ? ORDER BY sequence_num",
                                 (instance_id, to_sequence)).fetchall()
        return _fold(instance_id, ((r[0], r[1], r[2], r[3], json.loads(r[4]), json.loads(r[5] or "{}"))
                                   for r in rows))

    def bytes_per_event(self) -> float:
        size = self.conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name = 'event_store' OR name LIKE "
                                 "'idx_event_store%' OR name LIKE 'sqlite_autoindex_event_store%'").fetchone()[0]
        count = self.conn.execute("SELECT count(*) FROM event_store").fetchone()[0]
        return size / count

    def close(self) -> None:
        self.conn.close()


class OriginalPostgres:
    def __init__(self, url: str, schema: str) -> None:
        import psycopg

        self.schema = schema
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute(f'CREATE SCHEMA "{schema}"')
        self.conn.execute(f'SET search_path TO "{schema}"')
        self.conn.execute(POSTGRES_SCHEMA)

    def load(self, rows: Iterable[Row]) -> None:
        with self.conn.cursor().copy("COPY event_store (event_id, instance_id, event_type, sequence_num, "
                                     "timestamp, event_data, metadata, created_at, updated_at) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((*row, row[4], row[4]))
        self.conn.execute("ANALYZE event_store")

    def emit(self, instance_id: str, event_type: str, data: dict[str, Any], now: str) -> int:
        number = self.conn.execute("SELECT COALESCE(MAX(sequence_num), 0) + 1 FROM event_store "
                                   "WHERE instance_id = %s", (instance_id,)).fetchone()[0]
        self.conn.execute("INSERT INTO event_store (instance_id, event_type, sequence_num, event_data, metadata) "
                          "VALUES (%s, %s, %s, %s, '{}')", (instance_id, event_type, number, json.dumps(data)))
        return int(number)

    def last(self, instance_id: str, count: int) -> list[tuple]:
        return self.conn.execute("SELECT * FROM event_store WHERE instance_id = %s ORDER BY sequence_num DESC "
                                 "LIMIT %s", (instance_id, count)).fetchall()

    def query(self, instance_id: str, types: Sequence[str], since: str, until: str, keyword: str,
              limit: int = 100) -> tuple[list[tuple], int]:
        where = ("instance_id = %s AND event_type = ANY(%s) AND timestamp >= %s AND timestamp <= %s AND "
                 "(event_type || event_data::text || COALESCE(metadata::text, '')) ILIKE %s")
        params = (instance_id, list(types), since, until, f"%{keyword}%")
        rows = self.conn.execute(f"SELECT * FROM event_store WHERE {where} ORDER BY sequence_num LIMIT %s",
                                 (*params, limit)).fetchall()
        total = self.conn.execute(f"SELECT count(*) FROM event_store WHERE {where}", params).fetchone()[0]
        return rows, total

    def replay(self, instance_id: str, to_sequence: int) -> dict[str, Any]:
        rows = self.conn.execute("SELECT event_id::text, event_type, sequence_num, timestamp::text, event_data, "
                                 "metadata FROM event_store WHERE instance_id = %s AND sequence_num <= %s "
                                 "ORDER BY sequence_num", (instance_id, to_sequence)).fetchall()
        return _fold(instance_id, ((r[0], r[1], r[2], r[3], r[4], r[5] or {}) for r in rows))

    def bytes_per_event(self) -> float:
        size, count = self.conn.execute("SELECT pg_total_relation_size('event_store'), count(*) "
                                        "FROM event_store").fetchone()
        return size / count

    def close(self) -> None:
        self.conn.execute(f'DROP SCHEMA "{self.schema}" CASCADE')
        self.conn.close()


def _fold(instance_id: str, rows: Iterable[tuple]) -> dict[str, Any]:
    """The same state as chronik's replay, from the original's rows (same reducer)."""
    state = initial()
    for event_id, event_type, sequence, time, data, meta in rows:
        event = Event(position=sequence, stream=f"instance:{instance_id}", version=sequence, type=event_type,
                      id=event_id, time=time, data=data, meta=meta, prev="", hash="")
        state = fold_event(state, event)
    return state

"""PostgreSQL connections (issue 10, items 5 and 7; issue 9's upgrade and read-only open), against
real servers: the shared one for what does not disturb it, and a throwaway one this test starts
and restarts itself (the shared server is never restarted).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from chronik import codec
from chronik.errors import NotFound, StorageError
from chronik.model import NO_FILTER, Expect
from chronik.stores import open_store, postgres_schema
from chronik.stores.base import AuxChange, PendingEvent, StreamBatch
from chronik.stores.postgres import PostgresStore
from chronik.stores.postgres_pool import split_url

from support.postgres_server import shared_server, start_throwaway, stop_throwaway

pytestmark = pytest.mark.slow

CHRONIK = Path(sys.executable).with_name("chronik")


def pending(n: int) -> PendingEvent:
    return PendingEvent("wrote", str(uuid.uuid4()), "2026-11-22T01:15:09.000000Z",
                        codec.encode_json({"n": n}), b"{}", False)


def append(store, stream: str = "order:1", n: int = 0):
    return store.append([StreamBatch(stream, Expect.ANY, [pending(n)])])


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_cli(*args: str, timeout_s: float = 60) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run([str(CHRONIK), *args], capture_output=True, text=True, timeout=timeout_s)
    return result, time.monotonic() - started


# ---------------------------------------------------------------- item 7: failing fast, in the server's words


@pytest.mark.parametrize("case", ["no-such-database", "connection-refused"])
def test_a_connection_failure_surfaces_at_once_in_the_servers_words(case):
    if case == "no-such-database":
        url = _with_database(split_url(shared_server().url)[0], "nosuchdb") + "?schema=x"
        reason = 'database "nosuchdb" does not exist'
    else:
        url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/postgres"
        reason = "connection refused"
    result, elapsed_s = _run_cli("--ledger", url, "db", "upgrade")
    assert result.returncode == 1, result
    assert elapsed_s < 5, f"took {elapsed_s:.1f} s"
    assert reason in result.stderr.lower() if case == "connection-refused" else reason in result.stderr
    # Nothing from a pool's logger, no traceback: one line that says why.
    assert "error connecting" not in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@contextlib.contextmanager
def _silent_server():
    """A TCP port that accepts connections and never answers (a hung server, a black hole)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_connect_timeout_comes_from_the_url_and_defaults_to_5_s():
    with _silent_server() as port:
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        started = time.monotonic()
        with pytest.raises(StorageError, match="cannot connect to PostgreSQL.*timeout"):
            open_store(url + "?connect_timeout=2")
        assert time.monotonic() - started < 4
        started = time.monotonic()
        with pytest.raises(StorageError, match="timeout"):
            open_store(url)
        assert 4 < time.monotonic() - started < 8


# ---------------------------------------------------------------- item 5: stale pooled connections


def test_pooled_connections_made_stale_by_a_server_restart_are_replaced_before_use():
    server = start_throwaway()  # ours: this test restarts it
    try:
        url = server.schema_url("stale")
        store = open_store(url)
        other = open_store(url)
        try:
            append(store)
            # Four connections in the pool, all idle when the server goes away.
            with contextlib.ExitStack() as stack:
                held = [stack.enter_context(store._pool.connection()) for _ in range(4)]
                for conn in held:
                    conn.execute("SELECT 1")
            assert store.wait_for_change(1, 0.01) is False  # a LISTEN connection too
            server.stop("fast")
            server.start()
            # Every operation works the first time, on every pooled connection in turn.
            for round_ in range(6):
                assert store.head().position == 1 + round_
                assert len(list(store.read_all(0, None, NO_FILTER))) == 1 + round_
                append(store, n=round_)
            store.aux_write([AuxChange("snapshot", "k", b"v")])
            assert store.aux_get("snapshot", "k") == b"v"
            # The change signal reconnects too.
            waiter = threading.Thread(target=lambda: append(other, "order:2"))
            waiter.start()
            assert store.wait_for_change(7, 10.0)
            waiter.join()
        finally:
            store.close()
            other.close()
    finally:
        stop_throwaway(server)


def test_a_read_whose_connection_dies_under_it_is_retried_once_on_a_fresh_one():
    store = open_store(shared_server().schema_url("retry"))
    try:
        calls: list[int] = []

        def read(conn: psycopg.Connection) -> int:
            calls.append(conn.info.backend_pid)
            if len(calls) == 1:
                conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
            return conn.execute("SELECT 42").fetchone()[0]

        assert store._pool.read(read, "read failed") == 42
        assert len(calls) == 2 and calls[0] != calls[1]
    finally:
        store.close()


def test_an_append_whose_connection_is_lost_after_sending_says_unknown_and_is_not_retried():
    url = shared_server().schema_url("unknown")
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    conninfo = split_url(url)[0]
    blocker = psycopg.connect(conninfo)
    try:
        # Hold the ordering lock, so the append is sent and then waits inside append_events.
        blocker.execute("SELECT pg_advisory_xact_lock(%s)", (postgres_schema.order_lock_key(store.schema),))
        outcome: list[BaseException] = []
        thread = threading.Thread(target=lambda: _capture(outcome, lambda: append(store)))
        thread.start()
        with psycopg.connect(conninfo, autocommit=True) as admin:
            deadline = time.monotonic() + 10
            while True:
                rows = admin.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchall()
                if rows or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            assert len(rows) == 1, "the append never queued for the ordering lock"
            admin.execute("SELECT pg_terminate_backend(%s)", (rows[0][0],))
        thread.join(10)
        assert outcome and isinstance(outcome[0], StorageError), outcome
        assert "unknown" in str(outcome[0]) and "same event ids" in str(outcome[0])
        blocker.rollback()  # release the lock: a retry, had there been one, would now commit
        time.sleep(0.3)
        assert store.head().position == 0
    finally:
        blocker.close()
        store.close()


def _capture(outcome: list[BaseException], work) -> None:
    try:
        work()
    except BaseException as exc:
        outcome.append(exc)


# ---------------------------------------------------------------- read-only and upgrade


def _schema_exists(conninfo: str, schema: str) -> bool:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is not None


def test_read_only_on_a_missing_schema_is_not_found_and_creates_nothing():
    url = shared_server().schema_url("ro_missing")
    conninfo, options = split_url(url)
    with pytest.raises(NotFound, match="no ledger at .*append creates one"):
        open_store(url, read_only=True)
    assert not _schema_exists(conninfo, options["schema"])


def test_read_only_runs_no_migration_and_refuses_writes_on_the_server_too():
    url = shared_server().schema_url("ro_old")
    conninfo, options = split_url(url)
    s = f'"{options["schema"]}"'
    writer = open_store(url)
    append(writer)
    writer.close()
    # As if written by a chronik before migration 4 (5, text search, and 6, the one-trip signed
    # append, re-run harmlessly).
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DELETE FROM {s}.schema_version WHERE version >= 4")
        conn.execute(f"DROP FUNCTION {s}.append_events_for_signing")
    reader = open_store(url, read_only=True)
    try:
        assert reader.head().position == 1 and reader.ledger_id()
        with pytest.raises(StorageError, match="opened read-only"):
            append(reader)
        with pytest.raises(StorageError, match="opened read-only"):
            reader.upgrade()
        with reader._pool.connection() as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute(f"DELETE FROM {s}.events")
    finally:
        reader.close()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        assert conn.execute(f"SELECT max(version) FROM {s}.schema_version").fetchone()[0] == 3
    upgraded = open_store(url)
    try:
        done = upgraded.upgrade()
        latest = len(postgres_schema.MIGRATIONS)
        assert done.applied == list(range(4, latest + 1)) and done.schema_version == latest
        assert done.message == "upgraded"
        assert upgraded.upgrade().applied == []
    finally:
        upgraded.close()


def test_db_upgrade_prints_what_the_store_did(tmp_path):
    url = shared_server().schema_url("cli_up")
    first, _ = _run_cli("--ledger", url, "db", "upgrade", "--json")
    again, _ = _run_cli("--ledger", url, "db", "upgrade", "--json")
    assert first.returncode == 0 and again.returncode == 0, (first.stderr, again.stderr)
    done, redone = json.loads(first.stdout), json.loads(again.stdout)
    keys = {"url", "store", "schema", "applied", "schema_version", "message"}
    assert set(done) == keys and set(redone) == keys
    assert done["store"] == "postgresql" and done["schema"] == split_url(url)[1]["schema"]
    assert done["applied"] == list(range(1, len(postgres_schema.MIGRATIONS) + 1)) and done["message"] == "upgraded"
    assert redone["applied"] == [] and redone["message"] == "already up to date"
    assert done["schema_version"] == redone["schema_version"] == len(postgres_schema.MIGRATIONS)
    sqlite = tmp_path / "ledger.db"
    result, _ = _run_cli("--ledger", str(sqlite), "db", "upgrade", "--json")
    shown = json.loads(result.stdout)
    assert set(shown) == keys and shown["store"] == "sqlite" and shown["schema_version"] == 3
    assert "migrated when opened" in shown["message"]
    assert os.path.exists(sqlite)

"""PostgreSQL-only guarantees: commit-ordered positions, crashes of clients and of the server.

1. A deterministic interleave: connection A holds the ordering lock with an uncommitted append,
   B waits behind it, and a reader polling between every step never sees a position appear
   behind its checkpoint.
2. The control: the same interleave on a naive BIGSERIAL table makes the reader miss an event,
   which proves the test can see the bug it guards against.
3. kill -9 of 20 client processes in the middle of appending.
4. `pg_ctl stop -m immediate` while several processes append.

In 3 and 4 every acknowledged event must be there afterwards, at most the in-flight append of
each killed writer may be there too, and verify passes. The seed is printed and replayable
with CHRONIK_TEST_SEED.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import threading
import time
import uuid

import psycopg
import pytest

import chronik
from chronik import NewEvent, codec
from chronik.model import Expect
from chronik.stores.base import PendingEvent, StreamBatch
from chronik.stores.postgres_pool import split_url
from chronik.stores.postgres_writes import append_params

from support.postgres_server import shared_server, start_throwaway, stop_throwaway

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("CHRONIK_TEST_SEED") or random.SystemRandom().randrange(2**32))
CTX = multiprocessing.get_context("fork")


@pytest.fixture
def pg_url() -> str:
    return shared_server().schema_url("pgtest")


def _append_sql(url: str) -> str:
    schema = split_url(url)[1]["schema"]
    return f'SELECT * FROM "{schema}".append_events(%s, %s, %s, %s, %s, %s, %s, %s, %s)'


def _one_event_params(stream: str, n: int) -> tuple[list, ...]:
    pending = PendingEvent("wrote", str(uuid.uuid4()), codec.format_time(codec.parse_time("2026-11-22")),
                           codec.canonical_json({"n": n}, "data", 64), b"{}", False)
    return append_params([StreamBatch(stream, Expect.ANY, [pending])])


class CheckpointReader:
    """A reader that resumes strictly after the last position it saw, like a subscription."""

    def __init__(self, url: str) -> None:
        self.ledger = chronik.open_ledger(url)
        self.checkpoint = self.ledger.head().position
        self.start = self.checkpoint
        self.seen: list[int] = []

    def poll(self) -> list[int]:
        new = [event.position for event in self.ledger.read_all(after=self.checkpoint)]
        self.seen.extend(new)
        if new:
            self.checkpoint = new[-1]
        # What it has seen so far must be exactly start+1 .. checkpoint: no hole behind it.
        assert self.seen == list(range(self.start + 1, self.checkpoint + 1)), self.seen
        return new


def test_interleaved_appends_never_fill_a_gap_behind_a_reader(pg_url):
    conninfo, _ = split_url(pg_url)
    sql = _append_sql(pg_url)
    with chronik.open_ledger(pg_url) as ledger:
        ledger.append("seed:1", [NewEvent("created")])
    reader = CheckpointReader(pg_url)
    conn_a = psycopg.connect(conninfo)
    conn_b = psycopg.connect(conninfo, autocommit=True)
    try:
        # Step 1: A assigns position 2 under the lock and does not commit yet.
        a_rows = conn_a.execute(sql, _one_event_params("a:1", 1)).fetchall()
        assert a_rows[0][1] == 2
        assert reader.poll() == []
        # Step 2: B asks for the lock and must wait behind A.
        b_rows: list = []
        b = threading.Thread(target=lambda: b_rows.extend(conn_b.execute(sql, _one_event_params("b:1", 1))
                                                          .fetchall()))
        b.start()
        _wait_for_lock_waiter(conninfo)
        assert b.is_alive(), "B got past the ordering lock while A held it"
        assert reader.poll() == []
        # Step 3: A commits; only then can B take position 3.
        conn_a.commit()
        b.join(10)
        assert not b.is_alive()
        assert b_rows[0][1] == 3
        seen: list[int] = []
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            seen += reader.poll()
        assert seen == [2, 3]
    finally:
        conn_a.close()
        conn_b.close()
        reader.ledger.close()


def _wait_for_lock_waiter(conninfo: str, timeout_s: float = 5) -> None:
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                   "AND NOT granted").fetchone()[0]
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("B never queued for the advisory lock")


def test_control_a_naive_bigserial_reader_misses_an_event():
    server = shared_server()
    schema = f"naive_{uuid.uuid4().hex[:8]}"
    server.schemas.append(schema)
    with psycopg.connect(server.url, autocommit=True) as setup:
        setup.execute(f'CREATE SCHEMA "{schema}"')
        setup.execute(f'CREATE TABLE "{schema}".log (id bigserial PRIMARY KEY, v text)')
    conn_a = psycopg.connect(server.url)
    conn_b = psycopg.connect(server.url, autocommit=True)
    reader = psycopg.connect(server.url, autocommit=True)
    try:
        conn_a.execute(f'INSERT INTO "{schema}".log (v) VALUES (%s)', ("a",))  # takes id 1, uncommitted
        conn_b.execute(f'INSERT INTO "{schema}".log (v) VALUES (%s)', ("b",))  # takes id 2, committed
        seen = [row[0] for row in reader.execute(f'SELECT id FROM "{schema}".log WHERE id > 0 ORDER BY id')]
        checkpoint = seen[-1]
        conn_a.commit()
        seen += [row[0] for row in reader.execute(f'SELECT id FROM "{schema}".log WHERE id > %s ORDER BY id',
                                                  (checkpoint,))]
        everything = [row[0] for row in reader.execute(f'SELECT id FROM "{schema}".log ORDER BY id')]
        assert everything == [1, 2]
        assert seen == [2], "the naive reader should have skipped id 1; the control cannot see the bug"
    finally:
        for conn in (conn_a, conn_b, reader):
            conn.close()


# ---------------------------------------------------------------- crashes


def _appender(url: str, index: int, ack_fd: int, stop_on_error: bool) -> None:
    """Append one event at a time forever, reporting each acknowledged position.

    Acks go through a raw pipe with one small os.write each (atomic, unbuffered): a
    multiprocessing.Queue buffers in a thread, so a kill -9 would lose acks it had accepted.
    """
    try:
        ledger = chronik.open_ledger(url)
    except chronik.ChronikError:
        return
    n = 0
    while True:
        try:
            result = ledger.append(f"client{index}:s", [NewEvent("wrote", {"n": n})], expect=Expect.ANY)
        except chronik.StorageError:
            if stop_on_error:
                return
            continue
        os.write(ack_fd, f"{index} {result.first_position} {n}\n".encode())
        n += 1


def _start_appenders(url: str, count: int, stop_on_error: bool) -> tuple[list, int]:
    read_fd, write_fd = os.pipe()
    processes = [CTX.Process(target=_appender, args=(url, index, write_fd, stop_on_error))
                 for index in range(count)]
    for process in processes:
        process.start()
    os.close(write_fd)
    return processes, read_fd


def _read_acks(read_fd: int) -> list[tuple[int, int, int]]:
    """Every ack, once all writers are gone (read until end of file)."""
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    return [tuple(int(x) for x in line.split()) for line in b"".join(chunks).decode().splitlines()]


def _check_after_crash(url: str, acked: list[tuple[int, int, int]], writers: int) -> None:
    with chronik.open_ledger(url) as ledger:
        events = list(ledger.read_all())
        by_position = {event.position: event for event in events}
        assert [e.position for e in events] == list(range(1, len(events) + 1))
        for index, position, n in acked:
            event = by_position.get(position)
            assert event is not None, f"seed={SEED}: acknowledged position {position} is missing"
            assert event.stream == f"client{index}:s" and event.data == {"n": n}, f"seed={SEED}"
        # Each writer may have had one append in flight that committed without an ack.
        assert len(events) - len(acked) <= writers, f"seed={SEED}: {len(events)} events, {len(acked)} acked"
        report = ledger.verify()
        assert report.ok, f"seed={SEED}: {report.problems[:3]}"
        after = ledger.append("after:crash", [NewEvent("works")])
        assert after.first_position == len(events) + 1


def test_kill9_of_20_clients_mid_append(pg_url):
    print(f"seed={SEED}")
    rng = random.Random(SEED)
    chronik.open_ledger(pg_url).close()  # the schema exists before the clients race to it
    clients, read_fd = _start_appenders(pg_url, 20, stop_on_error=False)
    time.sleep(1.0)
    for process in rng.sample(clients, len(clients)):
        time.sleep(rng.uniform(0.01, 0.15))
        os.kill(process.pid, signal.SIGKILL)
    for process in clients:
        process.join(10)
        assert process.exitcode == -signal.SIGKILL
    acked = _read_acks(read_fd)
    assert len(acked) > 100, f"seed={SEED}: the clients barely appended ({len(acked)})"
    _check_after_crash(pg_url, acked, writers=20)


def test_server_stopped_immediately_during_appends():
    print(f"seed={SEED}")
    server = start_throwaway()  # our own server: this test crashes it
    try:
        url = server.schema_url("crash")
        chronik.open_ledger(url).close()
        writers, read_fd = _start_appenders(url, 4, stop_on_error=True)
        time.sleep(1.0 + random.Random(SEED).uniform(0, 0.5))
        server.stop("immediate")
        for process in writers:
            process.join(30)
            assert process.exitcode == 0, "a writer did not stop with a StorageError"
        acked = _read_acks(read_fd)
        assert len(acked) > 20, f"seed={SEED}: the writers barely appended ({len(acked)})"
        server.start()
        _check_after_crash(url, acked, writers=4)
    finally:
        stop_throwaway(server)


def test_no_server_is_a_failure_not_a_skip(monkeypatch):
    from support import postgres_server

    monkeypatch.delenv("CHRONIK_TEST_PG_URL", raising=False)
    monkeypatch.setattr(postgres_server, "find_bin_dir", lambda: None)
    with pytest.raises(RuntimeError, match="CHRONIK_TEST_PG_URL"):
        postgres_server.server_from_environment()


def test_schema_names_are_checked():
    with pytest.raises(chronik.ValidationError) as caught:
        chronik.open_ledger(shared_server().url + "?schema=pg_catalog")
    assert caught.value.field == "schema"

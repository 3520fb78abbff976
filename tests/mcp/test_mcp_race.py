"""The emit race of the real system, through MCP: 8 client processes, each with its own
`chronik mcp` over stdio, emit 200 events each to one instance at once. Every result is
`success: true`, the sequence numbers are exactly 1..1600 after registration (2..1601 here, the
registration being 1), and verify passes.

The control: the same race against a reimplementation of the real system's scheme (read
`max(sequence_num) + 1`, then insert, with no lock, on PostgreSQL with its UNIQUE constraint)
collides, as the original did: emits fail and events are lost. The seed is printed.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import random
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from mcp_testing import sqlite_url

import chronik
from chronik.domains.sessions import service

from support.postgres_server import shared_server

pytestmark = pytest.mark.slow
CLIENTS, EMITS = 8, 200
CLIENT = Path(__file__).with_name("race_client.py")
CTX = multiprocessing.get_context("fork")

# The real system's table (the plan's migrations/003-event-store.sql, without the foreign key).
ORIGINAL_SCHEMA = """
CREATE TABLE event_store (
  event_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  instance_id TEXT NOT NULL,
  event_type VARCHAR(64) NOT NULL,
  sequence_num BIGINT NOT NULL,
  timestamp TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  event_data JSONB NOT NULL,
  metadata JSONB,
  CONSTRAINT unique_sequence UNIQUE (instance_id, sequence_num)
)"""


def test_eight_mcp_clients_emitting_to_one_instance(tmp_path, seed):
    url = sqlite_url(tmp_path / "race.db")
    with chronik.open_ledger(url) as ledger:
        instance = service.register(ledger, "odin").instance_id
    go = tmp_path / "go"
    clients = [subprocess.Popen([sys.executable, str(CLIENT), url, instance, str(EMITS), str(n), str(go)],
                                stdout=subprocess.PIPE, text=True, cwd=CLIENT.parent) for n in range(CLIENTS)]
    try:
        for client in clients:
            assert client.stdout is not None and client.stdout.readline().strip() == "ready"
        started = time.perf_counter()
        go.write_text("go")
        outputs = [client.communicate(timeout=300)[0] for client in clients]
        elapsed = time.perf_counter() - started
    finally:
        for client in clients:
            client.kill()
    assert all(client.returncode == 0 for client in clients)
    results = [json.loads(line) for output in outputs for line in output.splitlines() if line.strip()]
    assert len(results) == CLIENTS * EMITS
    assert all(result["success"] is True for result in results), [r for r in results if not r["success"]][:3]
    numbers = sorted(result["sequence_num"] for result in results)
    assert numbers == list(range(2, CLIENTS * EMITS + 2)), "sequence numbers collided or skipped"
    print(f"{CLIENTS} MCP clients x {EMITS} emits: {elapsed:.1f} s, {len(results) / elapsed:.0f} emits/s")
    with chronik.open_ledger(url) as ledger:
        assert [e.version for e in ledger.read_stream(f"instance:{instance}")] == list(range(1, CLIENTS * EMITS + 2))
        assert ledger.verify().ok


def _original_emitter(url, schema, instance_id, seed, barrier, results):
    """The real system's emit: SELECT max + 1, then INSERT, each on its own (no lock)."""
    rng = random.Random(seed)
    acknowledged, collisions = [], 0
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            barrier.wait(30)
            for _ in range(EMITS):
                next_number = conn.execute("SELECT COALESCE(MAX(sequence_num), 0) + 1 FROM event_store "
                                           "WHERE instance_id = %s", (instance_id,)).fetchone()[0]
                try:
                    conn.execute("INSERT INTO event_store (instance_id, event_type, sequence_num, event_data) "
                                 "VALUES (%s, 'tool_use', %s, '{}')", (instance_id, next_number))
                    acknowledged.append(next_number)
                except psycopg.errors.UniqueViolation:
                    collisions += 1  # the original returned {success: false} here: the event is lost
                if rng.random() < 0.05:
                    time.sleep(rng.random() / 2000)
        results.put((acknowledged, collisions))
    except BaseException as exc:
        results.put(f"{type(exc).__name__}: {exc}")


def test_the_original_max_plus_one_scheme_collides(seed):
    server = shared_server()
    schema = f"original_{random.Random(seed).randrange(16**8):08x}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute(ORIGINAL_SCHEMA)
    try:
        barrier, results = CTX.Barrier(CLIENTS), CTX.Queue()
        processes = [CTX.Process(target=_original_emitter, args=(server.url, schema, "odin-PS-8f4a2b", seed + n,
                                                                 barrier, results)) for n in range(CLIENTS)]
        for process in processes:
            process.start()
        reports = []
        for _ in processes:
            try:
                reports.append(results.get(timeout=120))
            except queue.Empty:
                break
        for process in processes:
            process.join(10)
    finally:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    assert len(reports) == CLIENTS and not any(isinstance(r, str) for r in reports), reports
    collisions = sum(r[1] for r in reports)
    acknowledged = sum(len(r[0]) for r in reports)
    print(f"max+1 without a lock: {collisions} of {CLIENTS * EMITS} emits collided and were lost")
    assert collisions > 0, "the reimplementation of the original did not collide: the race was not exercised"
    assert acknowledged + collisions == CLIENTS * EMITS
    assert acknowledged < CLIENTS * EMITS

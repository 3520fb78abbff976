"""Backfill of a generated legacy state table of 1,000 workflows (JSON, CSV and a real
PostgreSQL table): validate-only reports no difference on consistent rows, 10 deliberately
inconsistent rows are reported by id and field and not imported, a second run imports nothing
new, and the shadow comparison finds a row changed afterwards (exit 3)."""

from __future__ import annotations

import csv
import json
import os
import random
import uuid

import psycopg
from psycopg.types.json import Jsonb
from workflow_testing import create_legacy_table, legacy_rows, run, spoil, table_source

import chronik
from chronik.domains.workflows import service

from support.postgres_server import shared_server

SEED = int(os.environ.get("CHRONIK_TEST_SEED") or random.SystemRandom().randrange(2**32))


def test_backfill_of_1000_workflows_from_json(tmp_path):
    print(f"seed {SEED}")
    rows = legacy_rows(1000, SEED)
    spoiled = spoil(rows)
    source = tmp_path / "workflow_state.json"
    source.write_text(json.dumps(rows))
    ledger = str(tmp_path / "ledger.db")

    with chronik.open_ledger(ledger) as opened:
        dry = service.backfill(opened, str(source), all_rows=True, dry_run=True)
    assert (dry.imported, dry.rows) == (990, 1000)
    validated = run(ledger, "backfill", "--from", str(source), "--all", "--validate-only", "--json")
    reported = [json.loads(line) for line in validated.stdout.splitlines()]
    differences, summary = reported[:-1], reported[-1]
    assert summary["inconsistent"] == sorted(spoiled, key=lambda wid: [r["workflow_id"] for r in rows].index(wid))
    for workflow_id, field in spoiled.items():
        assert field in {d["field"] for d in differences if d["workflow_id"] == workflow_id}, workflow_id
    assert {d["workflow_id"] for d in differences} == set(spoiled)  # consistent rows: 0 differences

    first = run(ledger, "backfill", "--from", str(source), "--all")
    assert first.exit_code == 0, first.output
    assert "1000 rows: imported 990 workflows" in first.stdout and "inconsistent 10" in first.stdout
    again = run(ledger, "backfill", "--from", str(source), "--all", "--json")
    summary = json.loads(again.stdout.splitlines()[-1])
    assert (summary["imported"], summary["events"], summary["already_imported"]) == (0, 0, 990)
    assert run(ledger, "backfill", "--from", str(source), "--all", "--validate-only").stdout.splitlines()[-1] == (
        "1000 rows: 990 match (in the ledger or as replayed); already imported 990; inconsistent 10 "
        "(11 differences); live workflows left alone 0")
    listed = run(ledger, "list", "--json").stdout.splitlines()
    assert len(listed) == 990
    by_status = {}
    for line in listed:
        item = json.loads(line)
        by_status[item["status"]] = by_status.get(item["status"], 0) + 1
    assert set(by_status) == {"initialized", "running", "completed", "failed", "rejected", "paused", "cancelled"}

    # shadow: the consistent rows match; a row changed afterwards is found (exit 3)
    consistent = [row for row in rows if row["workflow_id"] not in spoiled]
    source.write_text(json.dumps(consistent))
    assert run(ledger, "shadow", "--from", str(source)).stdout == "0 discrepancies\n"
    changed = next(row for row in consistent if row["status"] == "running" and row["steps_completed"])
    changed["steps_completed"] = [*changed["steps_completed"], changed["current_step"]]
    source.write_text(json.dumps(consistent))
    shadowed = run(ledger, "shadow", "--from", str(source))
    assert shadowed.exit_code == 3
    assert shadowed.stdout.splitlines()[0].startswith(f"{changed['workflow_id']}: steps_completed: legacy [")


def test_migrated_history_time_travels_by_the_legacy_time(tmp_path):
    rows = [{"workflow_id": "old-1", "status": "failed", "current_step": "b", "steps_completed": "a",
             "started_at": "2025-03-01T10:00:00", "updated_at": "2025-03-01T12:00:00", "error": "disk"}]
    source = tmp_path / "state.csv"
    with source.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    ledger = str(tmp_path / "ledger.db")
    assert run(ledger, "backfill", "--from", str(source), "--id", "old-1").exit_code == 0
    before = json.loads(run(ledger, "show", "old-1", "--at", "2025-03-01T12:59:00+01:00", "--json").stdout)
    after = json.loads(run(ledger, "show", "old-1", "--at", "2025-03-01T13:00:00+01:00", "--json").stdout)
    assert (before["status"], after["status"]) == ("running", "failed")
    assert after["errors"][0]["error"] == "disk"
    neither = run(ledger, "backfill", "--from", str(source))
    assert neither.exit_code == 2 and "--id" in neither.stderr


def test_backfill_from_a_postgresql_table(tmp_path):
    print(f"seed {SEED}")
    rows = legacy_rows(1000, SEED)
    spoiled = spoil(rows)
    table = f"workflow_state_{uuid.uuid4().hex[:8]}"
    url = shared_server().url
    with psycopg.connect(url, autocommit=True) as connection:
        create_legacy_table(connection, table)
        try:
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s, %s::text::timestamp, %s::timestamp, %s, %s, %s)",
                    [(r["workflow_id"], r["workflow_name"], r["status"], r["current_step"], Jsonb(r["steps_completed"]),
                      r["started_at"] if r["started_at"] != "not a time" else None, r["updated_at"],
                      r["parent_workflow_id"], r.get("error"), r.get("cancelled_by")) for r in rows])
            source = table_source(url, table)
            ledger = str(tmp_path / "ledger.db")
            first = run(ledger, "backfill", "--from", source, "--all", "--json")
            summary = json.loads(first.stdout.splitlines()[-1])
            assert summary["imported"] == 990 and sorted(summary["inconsistent"]) == sorted(spoiled)
            again = json.loads(run(ledger, "backfill", "--from", source, "--all", "--json").stdout.splitlines()[-1])
            assert (again["imported"], again["already_imported"]) == (0, 990)
            connection.execute(f"DELETE FROM {table} WHERE workflow_id = ANY(%s)", [list(spoiled)])
            assert run(ledger, "shadow", "--from", source).exit_code == 0
            connection.execute(f"UPDATE {table} SET status = 'paused' WHERE workflow_id = 'legacy-0001'")
            shadowed = run(ledger, "shadow", "--from", source)
            assert shadowed.exit_code == 3
            assert shadowed.stdout.splitlines() == ['legacy-0001: status: legacy "paused", ledger "running"',
                                                    "1 discrepancies"]
        finally:
            connection.execute(f"DROP TABLE {table}")

"""The dual-write period: the legacy state table kept current from the ledger by a projection
(`chronik workflow mirror-legacy --to ...`), then compared by `shadow`.

Backfilled history and live workflows (every status) are mirrored into a JSON file and into
PostgreSQL tables (the original's own shape with naive timestamps, and a table the mirror
creates); `shadow` against the mirrored table finds 0 discrepancies, a second run writes only
what changed, a row edited behind the ledger's back is found (exit 3), and a failed table write
leaves the checkpoint where it was, so the next run writes the rows again."""

from __future__ import annotations

import json
import os
import random
import uuid

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.types.json import Jsonb
from workflow_testing import RELEASE, create_legacy_table, legacy_rows, run, table_source

import chronik
from chronik.cli.main import cli
from chronik.derive.projections import ProjectionRunner, projection_status
from chronik.domains.workflows import service
from chronik.domains.workflows.compat.legacy_mirror import MIRROR_NAME, JsonTable, LegacyTableMirror
from chronik.errors import StorageError

from support.postgres_server import shared_server

SEED = int(os.environ.get("CHRONIK_TEST_SEED") or random.SystemRandom().randrange(2**32))


def _ledger_with_history(tmp_path, count=200):
    """A ledger holding `count` backfilled legacy workflows and four live ones (every status)."""
    print(f"seed {SEED}")
    source = tmp_path / "legacy.json"
    source.write_text(json.dumps(legacy_rows(count, SEED)))
    ledger = str(tmp_path / "ledger.db")
    assert run(ledger, "backfill", "--from", str(source), "--all").exit_code == 0
    with chronik.open_ledger(ledger) as opened:
        service.start(opened, RELEASE, "live-done")
        service.record(opened, "live-done", "complete_step", step_id="build")
        service.record(opened, "live-done", "approve_gate", gate_id="review", approver="ann", role="lead")
        service.record(opened, "live-done", "complete_step", step_id="deploy")
        service.start(opened, RELEASE, "live-rejected")
        service.record(opened, "live-rejected", "complete_step", step_id="build")
        service.record(opened, "live-rejected", "reject_gate", gate_id="review", approver="bob", reason="no tests")
        service.start(opened, RELEASE, "live-failed")
        service.record(opened, "live-failed", "fail_step", step_id="build", error="disk full")
        service.start(opened, RELEASE, "live-cancelled")
        service.cancel(opened, "live-cancelled", reason="superseded", cancelled_by="ops")
    return ledger, count + 4


def test_a_json_mirror_matches_the_ledger_and_shadow_finds_an_edited_row(tmp_path):
    ledger, workflows = _ledger_with_history(tmp_path)
    table = tmp_path / "workflow_state.json"
    first = run(ledger, "mirror-legacy", "--to", str(table), "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    with chronik.open_ledger(ledger) as opened:
        head = opened.head().position
    assert report["position"] == report["head"] == head and report["events"] == head
    rows = json.loads(table.read_text())
    assert len(rows) == workflows
    by_id = {row["workflow_id"]: row for row in rows}
    assert by_id["live-done"]["status"] == "completed" and by_id["live-done"]["steps_completed"] == [
        "build", "review", "deploy"]
    assert (by_id["live-rejected"]["status"], by_id["live-rejected"]["approver"]) == ("rejected", "bob")
    assert (by_id["live-failed"]["error"], by_id["live-failed"]["current_step"]) == ("disk full", "build")
    assert (by_id["live-cancelled"]["cancelled_by"], by_id["live-cancelled"]["reason"]) == ("ops", "superseded")
    assert run(ledger, "shadow", "--from", str(table)).stdout == "0 discrepancies\n"

    # Only what happened since is applied; the table follows it.
    with chronik.open_ledger(ledger) as opened:
        service.start(opened, RELEASE, "live-new")
        service.record(opened, "live-new", "complete_step", step_id="build")
    again = json.loads(run(ledger, "mirror-legacy", "--to", str(table), "--json").stdout)
    assert (again["events"], again["rows"]) == (2, 1)
    [new] = [row for row in json.loads(table.read_text()) if row["workflow_id"] == "live-new"]
    assert (new["status"], new["steps_completed"], new["current_step"]) == ("running", ["build"], "review")
    assert run(ledger, "shadow", "--from", str(table)).exit_code == 0

    edited = json.loads(table.read_text())
    edited[0]["status"] = "paused"
    table.write_text(json.dumps(edited))
    shadowed = run(ledger, "shadow", "--from", str(table))
    assert shadowed.exit_code == 3
    assert shadowed.stdout.splitlines()[0].startswith(f"{edited[0]['workflow_id']}: status: legacy \"paused\"")


@pytest.mark.parametrize("shape", ["legacy", "created"])
def test_a_postgresql_mirror_matches_the_ledger(tmp_path, shape):
    ledger, workflows = _ledger_with_history(tmp_path, count=100)
    table = f"workflow_state_{uuid.uuid4().hex[:8]}"
    url = shared_server().url
    target = table_source(url, table)
    with psycopg.connect(url, autocommit=True) as connection:
        if shape == "legacy":  # the original's table: naive times, no reason or approver columns
            create_legacy_table(connection, table)
            connection.execute(f"INSERT INTO {table} (workflow_id, status, steps_completed) VALUES "
                               "('live-done', 'running', %s)", [Jsonb([])])  # a stale row, updated in place
        try:
            mirrored = run(ledger, "mirror-legacy", "--to", target)
            assert mirrored.exit_code == 0, mirrored.output
            assert mirrored.stdout.startswith("mirrored ")
            [(count,)] = connection.execute(f"SELECT count(*) FROM {table}").fetchall()
            assert count == workflows
            [(status, steps)] = connection.execute(
                f"SELECT status, steps_completed FROM {table} WHERE workflow_id = 'live-done'").fetchall()
            assert (status, steps) == ("completed", ["build", "review", "deploy"])
            assert run(ledger, "shadow", "--from", target).stdout == "0 discrepancies\n"
            connection.execute(f"UPDATE {table} SET current_step = 'deploy' WHERE workflow_id = 'live-failed'")
            shadowed = run(ledger, "shadow", "--from", target)
            assert shadowed.exit_code == 3
            assert shadowed.stdout.splitlines() == ['live-failed: current_step: legacy "deploy", ledger "build"',
                                                    "1 discrepancies"]
        finally:
            connection.execute(f"DROP TABLE IF EXISTS {table}")


class FailingOnce(JsonTable):
    """A table whose first write fails, as a database that went away mid-run."""

    def __init__(self, path):
        super().__init__(path)
        self.failures = 1

    def write(self, rows):
        if self.failures:
            self.failures -= 1
            raise StorageError("the legacy table went away")
        super().write(rows)


def test_a_failed_table_write_keeps_the_checkpoint_so_the_rows_are_written_again(tmp_path):
    ledger, workflows = _ledger_with_history(tmp_path, count=30)
    path = tmp_path / "workflow_state.json"
    with chronik.open_ledger(ledger) as opened:
        mirror = LegacyTableMirror(FailingOnce(path))
        with pytest.raises(StorageError, match="went away"):
            ProjectionRunner(opened, mirror).run_until_head()
        assert projection_status(opened, MIRROR_NAME).position == 0  # nothing counted as mirrored
        assert not path.exists()
        ProjectionRunner(opened, mirror).run_until_head()
        assert projection_status(opened, MIRROR_NAME).position == opened.head().position
    assert len(json.loads(path.read_text())) == workflows
    assert run(ledger, "shadow", "--from", str(path)).stdout == "0 discrepancies\n"


def test_a_target_that_is_neither_json_nor_postgresql_is_refused_naming_the_fix(tmp_path):
    ledger, _ = _ledger_with_history(tmp_path, count=3)
    refused = CliRunner().invoke(cli, ["--ledger", ledger, "workflow", "mirror-legacy", "--to", "rows.csv"])
    assert refused.exit_code != 0
    assert "to: 'rows.csv' is not a .json file or a postgresql:// table" in refused.output
    assert "FILE.json or postgresql://host/db?table=NAME" in refused.output

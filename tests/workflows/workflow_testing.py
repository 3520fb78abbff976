"""What the workflow pack's tests share: a stepping clock and a release definition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

START = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)

RELEASE = {"name": "release", "steps": [{"id": "build"}, {"id": "review", "gate": True}, {"id": "deploy"}]}


class SteppingClock:
    """Each call is one minute after the previous one, so event times are known."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


STEP_NAMES = ("fetch", "build", "test", "review", "deploy", "verify")


def legacy_rows(count: int, seed: int) -> list[dict]:
    """A legacy workflow_state table as the original kept it: naive times, every status."""
    import random

    chooser = random.Random(seed)
    rows = []
    base = datetime(2025, 1, 1, 9, 0)
    for n in range(count):
        status = ("initialized", "running", "completed", "failed", "rejected", "paused", "cancelled")[n % 7]
        done = list(STEP_NAMES[:chooser.randrange(1, 5)])
        current = STEP_NAMES[len(done)] if status != "completed" else None
        if status == "initialized":
            done, current = [], None
        started = base + timedelta(hours=n, minutes=chooser.randrange(60))
        row = {"workflow_id": f"legacy-{n:04d}", "workflow_name": f"pipeline {n % 13}", "status": status,
               "current_step": current, "steps_completed": done, "started_at": started.isoformat(),
               "updated_at": (started + timedelta(minutes=chooser.randrange(1, 500))).isoformat(),
               "parent_workflow_id": f"legacy-{n - 1:04d}" if n % 10 == 9 else None}
        if status == "failed":
            row["error"] = f"exit code {chooser.randrange(1, 255)}"
        if status == "cancelled":
            row["cancelled_by"] = "ops"
        rows.append(row)
    return rows


def spoil(rows: list[dict]) -> dict[str, str]:
    """Make 10 rows inconsistent in 10 ways; returns {workflow_id: the field reported}."""
    spoiled = {}
    changes = [
        ("status", lambda r: r.update(status="finished")),
        ("status", lambda r: r.update(status="completed", current_step="deploy")),
        ("steps_completed", lambda r: r.update(steps_completed=["fetch", "fetch"])),
        ("updated_at", lambda r: r.update(updated_at="2020-01-01T00:00:00")),
        ("current_step", lambda r: r.update(status="failed", current_step=None)),
        ("started_at", lambda r: r.update(started_at="not a time")),
        ("parent_workflow_id", lambda r: r.update(parent_workflow_id="no such parent!")),
        ("workflow_id", lambda r: r.update(workflow_id="bad id with spaces")),
        ("current_step", lambda r: r.update(status="rejected", current_step=None)),
        ("current_step", lambda r: r.update(current_step=r["steps_completed"][0] if r["steps_completed"] else "fetch",
                                            status="running", steps_completed=["fetch", "build"])),
    ]
    for index, (field, change) in enumerate(changes):
        row = rows[100 * index + 3]
        change(row)
        spoiled[row["workflow_id"]] = field
    return spoiled


def run(ledger: str, *args: str):
    """`chronik --ledger LEDGER workflow ARGS...` through click's test runner."""
    from click.testing import CliRunner

    from chronik.cli.main import cli

    return CliRunner().invoke(cli, ["--ledger", ledger, "workflow", *args], catch_exceptions=False)


def create_legacy_table(connection, table: str) -> None:
    """The original's workflow_state table: naive timestamps, no reason or approver columns."""
    connection.execute(f"CREATE TABLE {table} (workflow_id text PRIMARY KEY, workflow_name text, status text, "
                       "current_step text, steps_completed jsonb, started_at timestamp, updated_at timestamp, "
                       "parent_workflow_id text, error text, cancelled_by text)")


def table_source(url: str, table: str) -> str:
    """The `postgresql://...?table=NAME` a backfill, shadow or mirror is given."""
    return f"{url}{'&' if '?' in url else '?'}table={table}"

"""The legacy state table kept current from the ledger, for the dual-write period.

The original wrote its events and its state table side by side from the application, and the
two could diverge. Here the ledger is written first and the table is a projection of it
(chronik.derive.projections): `LegacyTableMirror` folds each workflow event with the pack's
reducer (the state kept in the projection's read model, so the fold survives restarts and is
applied exactly once), and writes the workflow's whole legacy row to the table before each
batch's checkpoint (`Projection.before_commit`). A crash in between applies the batch again and
writes the same rows again, so the table never misses a change; it can be at most one batch
ahead of the checkpoint, never behind it. `shadow` then compares the table with the replayed
state, and finds any row changed by someone else.

Targets: `FILE.json` (a list of rows, rewritten durably: temporary file, fsync, rename) or
`postgresql://host/db?table=NAME`: an existing table keeps its columns and only those of
LEGACY_COLUMNS it has are written (a missing one is left alone); a missing table is created with
all of them. Rows are updated by `workflow_id`, or inserted, in one transaction per batch.
"""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import Any, Protocol

from chronik.derive.projections import ModelTransaction, Projection
from chronik.domains.workflows.compat.legacy_table import legacy_instant, table_url
from chronik.domains.workflows.events import STREAM_CATEGORY
from chronik.domains.workflows.reducer import State, fold_event, initial
from chronik.errors import StorageError, ValidationError
from chronik.fileio import write_file_durably
from chronik.model import Event, Filter

MIRROR_NAME = "workflows.legacy-table"
TARGET_FIX = "give FILE.json or postgresql://host/db?table=NAME"
# The legacy row, as backfill reads it (legacy_table.py); `workflow_name` is the original's name.
LEGACY_COLUMNS = ("workflow_id", "workflow_name", "status", "current_step", "steps_completed", "started_at",
                  "updated_at", "parent_workflow_id", "error", "cancelled_by", "reason", "approver")
TIME_COLUMNS = ("started_at", "updated_at")
Row = dict[str, Any]


def legacy_row(state: State) -> Row:
    """The legacy table's row for a workflow in `state` (what backfill would read back as it)."""
    cancellation = state["cancellation"] or {}
    rejected = [gate for gate in state["gates"].values() if gate.get("status") == "rejected"]
    return {"workflow_id": state["workflow_id"], "workflow_name": state["name"], "status": state["status"],
            "current_step": state["current_step"], "steps_completed": list(state["steps_completed"]),
            "started_at": state["started_at"], "updated_at": state["updated_at"],
            "parent_workflow_id": state["parent_workflow_id"],
            "error": state["errors"][-1]["error"] if state["status"] == "failed" and state["errors"] else None,
            "cancelled_by": cancellation.get("cancelled_by"), "reason": cancellation.get("reason"),
            "approver": rejected[-1]["approver"] if state["status"] == "rejected" and rejected else None}


class LegacyTarget(Protocol):
    def write(self, rows: list[Row]) -> None: ...

    def close(self) -> None: ...


class LegacyTableMirror(Projection):
    """The projection: workflow events in, legacy rows out (module doc)."""

    name = MIRROR_NAME
    version = 1
    filter = Filter(categories=[STREAM_CATEGORY])

    def __init__(self, target: LegacyTarget) -> None:
        super().__init__()
        self.target = target
        self._changed: dict[str, Row] = {}
        self.rows_written = 0

    def apply(self, model: ModelTransaction, event: Event) -> None:
        workflow_id = event.stream.partition(":")[2]
        state = fold_event(model.get(workflow_id) or initial(), event)
        model.put(workflow_id, state)
        if state["workflow_id"] is not None:  # events before a start are refused by the reducer
            self._changed[workflow_id] = legacy_row(state)

    def before_commit(self) -> None:
        if self._changed:
            rows = [self._changed[key] for key in sorted(self._changed)]
            self.target.write(rows)
            self.rows_written += len(rows)
            self._changed.clear()


def open_target(target: str) -> LegacyTarget:
    if target.startswith(("postgresql://", "postgres://")):
        return PostgresTable(target)
    if Path(target).suffix.lower() != ".json":
        raise ValidationError("to", f"{target!r} is not a .json file or a postgresql:// table", TARGET_FIX)
    return JsonTable(Path(target))


class JsonTable:
    """A JSON list of rows, sorted by workflow_id, rewritten durably per batch."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, rows: list[Row]) -> None:
        current = {row["workflow_id"]: row for row in self._read()}
        current.update((row["workflow_id"], row) for row in rows)
        payload = json.dumps([current[key] for key in sorted(current)], indent=1)
        write_file_durably(self.path, payload.encode())

    def _read(self) -> list[Row]:
        if not self.path.exists():
            return []
        try:
            rows = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise StorageError(f"{self.path} cannot be read as the legacy table: {exc}") from None
        if not isinstance(rows, list) or not all(isinstance(row, dict) and "workflow_id" in row for row in rows):
            raise StorageError(f"{self.path} is not a JSON list of legacy rows (objects with a workflow_id); "
                               f"move it away or give another file")
        return rows

    def close(self) -> None:
        pass


class PostgresTable:
    """A PostgreSQL table of legacy rows, updated or inserted by workflow_id, one transaction a batch."""

    def __init__(self, source: str) -> None:
        import psycopg

        self.url, self.table = table_url(source, "to")
        try:
            self._connection = psycopg.connect(self.url, connect_timeout=5, autocommit=True,
                                               options="-c timezone=UTC")
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect for the legacy table {self.table}: {exc}") from None
        self._columns: dict[str, str] | None = None  # column -> data type

    def _identifier(self) -> Any:
        from psycopg import sql

        return sql.Identifier(*self.table.split(".", 1))

    def _table_columns(self) -> dict[str, str]:
        if self._columns is None:
            schema, _, name = self.table.rpartition(".")
            found = self._connection.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
                "AND table_schema = COALESCE(NULLIF(%s, ''), current_schema())", [name, schema]).fetchall()
            if not found:
                self._create()
                return self._table_columns()
            if "workflow_id" not in {column for column, _ in found}:
                raise ValidationError("to", f"table {self.table} has no workflow_id column",
                                      "give the legacy state table, or a new table name")
            self._columns = {column: kind for column, kind in found if column in LEGACY_COLUMNS}
        return self._columns

    def _create(self) -> None:
        from psycopg import sql

        columns = [sql.SQL("workflow_id text PRIMARY KEY")] + [
            sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(
                "jsonb" if column == "steps_completed" else "timestamptz" if column in TIME_COLUMNS else "text"))
            for column in LEGACY_COLUMNS[1:]]
        with self._connection.transaction():
            self._connection.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                self._identifier(), sql.SQL(", ").join(columns)))

    def write(self, rows: list[Row]) -> None:
        import psycopg
        from psycopg import sql

        try:
            columns = self._table_columns()
            names = [column for column in LEGACY_COLUMNS if column in columns and column != "workflow_id"]
            update = sql.SQL("UPDATE {} SET {} WHERE workflow_id = %s").format(
                self._identifier(), sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(n)) for n in names))
            insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                self._identifier(), sql.SQL(", ").join(sql.Identifier(n) for n in ["workflow_id", *names]),
                sql.SQL(", ").join(sql.Placeholder() for _ in range(len(names) + 1)))
            with self._connection.transaction():
                for row in rows:
                    values = [self._value(row[name], columns[name]) for name in names]
                    if self._connection.execute(update, [*values, row["workflow_id"]]).rowcount == 0:
                        self._connection.execute(insert, [row["workflow_id"], *values])
        except psycopg.Error as exc:
            raise StorageError(f"writing the legacy table {self.table}: {exc}") from None

    @staticmethod
    def _value(value: Any, data_type: str) -> Any:
        from psycopg.types.json import Jsonb

        if isinstance(value, list):
            if data_type in ("json", "jsonb"):
                return Jsonb(value)
            return value if data_type == "ARRAY" else json.dumps(value)
        if data_type.startswith("timestamp") and isinstance(value, str):
            moment = legacy_instant(value)
            if moment is not None and data_type == "timestamp without time zone":
                return moment.astimezone(UTC).replace(tzinfo=None)  # the original's naive UTC
            return moment
        return value

    def close(self) -> None:
        self._connection.close()


"""The original's legacy state table (one row per workflow), read from a JSON file (a list of
objects), a CSV file (a header line), or a PostgreSQL table (`postgresql://...?table=NAME`).

A row: `workflow_id`, `status`, `current_step`, `steps_completed` (a list; in CSV or a text
column, JSON text or `a;b;c`), `started_at` (or `created_at`), `updated_at`,
`parent_workflow_id`, and optionally `name` (or `workflow_name`), `error`, `cancelled_by`,
`reason`, `approver`. Times were naive in the original: they are read as UTC.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from chronik.errors import NotFound, StorageError, ValidationError

SOURCE_FIX = "give FILE.json, FILE.csv or postgresql://host/db?table=NAME"


class Row(msgspec.Struct, frozen=True, kw_only=True):
    """One legacy row, normalised (text fields stripped, empty ones None, the list parsed)."""

    workflow_id: str
    status: str | None
    current_step: str | None
    steps_completed: list[str]
    started_at: str | None
    updated_at: str | None
    parent_workflow_id: str | None
    name: str | None
    extra: dict[str, str]  # error, cancelled_by, reason, approver when given


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def _steps(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(step) for step in value]
    text = str(value).strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            raise ValidationError("steps_completed", f"{text[:60]!r} is not a JSON list") from None
        return [str(step) for step in parsed]
    return [step.strip() for step in text.split(";") if step.strip()]


def row_of(raw: dict[str, Any]) -> Row:
    workflow_id = _text(raw.get("workflow_id"))
    if workflow_id is None:
        raise ValidationError("workflow_id", f"a row has no workflow_id: {json.dumps(raw, default=str)[:120]}")
    extra = {key: text for key in ("error", "cancelled_by", "reason", "approver")
             if (text := _text(raw.get(key))) is not None}
    return Row(workflow_id=workflow_id, status=_text(raw.get("status")), current_step=_text(raw.get("current_step")),
               steps_completed=_steps(raw.get("steps_completed")),
               started_at=_text(raw.get("started_at", raw.get("created_at"))), updated_at=_text(raw.get("updated_at")),
               parent_workflow_id=_text(raw.get("parent_workflow_id")),
               name=_text(raw.get("name", raw.get("workflow_name"))), extra=extra)


def legacy_instant(text: str | None) -> datetime | None:
    """A legacy time as an instant (naive: UTC); None when absent or not a time."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_rows(source: str) -> Iterator[dict[str, Any]]:
    """The raw rows of a legacy table, as dicts."""
    if source.startswith(("postgresql://", "postgres://")):
        yield from _postgres_rows(source)
        return
    path = Path(source)
    if path.suffix.lower() not in (".json", ".csv"):
        raise ValidationError("source", f"{source!r} is not a .json, .csv or postgresql:// source", SOURCE_FIX)
    if not path.exists():
        raise NotFound(f"{source} does not exist")
    if path.suffix.lower() == ".json":
        try:
            parsed = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValidationError("source", f"{source} is not JSON: {exc}", SOURCE_FIX) from None
        if not isinstance(parsed, list) or not all(isinstance(item, dict) for item in parsed):
            raise ValidationError("source", f"{source} is not a JSON list of row objects", SOURCE_FIX)
        yield from parsed
        return
    with path.open(newline="") as handle:
        yield from csv.DictReader(handle)


def table_url(source: str, field: str = "source") -> tuple[str, str]:
    """(the connection URL, the table name) of `postgresql://...?table=NAME`."""
    parts = urlsplit(source)
    query = dict(parse_qsl(parts.query))
    table = query.pop("table", None)
    if not table:
        raise ValidationError(field, "the postgresql:// URL names no table", "add ?table=NAME (or SCHEMA.NAME)")
    return urlunsplit(parts._replace(query=urlencode(query))), table


def _postgres_rows(source: str) -> Iterator[dict[str, Any]]:
    import psycopg
    from psycopg import sql
    from psycopg.rows import dict_row

    url, table = table_url(source)
    name = sql.Identifier(*table.split(".", 1))
    try:
        with psycopg.connect(url, connect_timeout=5, row_factory=dict_row) as connection:
            yield from connection.execute(sql.SQL("SELECT * FROM {} ORDER BY workflow_id").format(name))
    except psycopg.errors.UndefinedTable:
        where = urlsplit(url)
        raise NotFound(f"table {table} does not exist in {where.hostname}/{where.path.lstrip('/')}") from None
    except psycopg.Error as exc:
        raise StorageError(f"reading the legacy table {table}: {exc}") from None

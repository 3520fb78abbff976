"""The URL of a fresh ledger of each store kind, for tests parametrised over the stores."""

from __future__ import annotations

from pathlib import Path

STORE_KINDS = ("memory", "sqlite", "jsonl", "postgres")


def store_url(kind: str, directory: Path, schema_prefix: str = "t") -> str:
    """A new ledger of `kind` in `directory` (PostgreSQL: a fresh schema named from
    `schema_prefix`, dropped with the shared server's schemas)."""
    if kind == "memory":
        return "memory:"
    if kind == "sqlite":
        return "sqlite:///" + str(directory / "ledger.db").lstrip("/")
    if kind == "jsonl":
        return "jsonl:///" + str(directory / "ledger.jsonl").lstrip("/")
    assert kind == "postgres", f"unknown store kind {kind!r}"
    from support.postgres_server import shared_server

    return shared_server().schema_url(schema_prefix)

"""`chronik db upgrade`: bring the ledger's schema up to date (PostgresStore.upgrade)."""

from __future__ import annotations

import click

from chronik.cli.output import print_fields, write_json_line
from chronik.cli.state import cli_state, json_option


@click.group()
def db() -> None:
    """Manage the ledger's database schema."""


@db.command()
@json_option
def upgrade(json_output: bool) -> None:
    """Apply pending schema migrations; safe to run twice (and from several machines at once).

    PostgreSQL keeps a schema version table. SQLite ledgers are migrated when opened and JSON
    Lines ledgers have no schema, so for them there is nothing to upgrade.
    """
    with cli_state().open_ledger() as ledger:
        store = ledger.store
        if hasattr(store, "upgrade") and hasattr(store, "schema_version"):
            applied = store.upgrade()
            result = {"url": ledger.url, "store": "postgresql", "schema": getattr(store, "schema", None),
                      "applied": applied, "schema_version": store.schema_version(),
                      "message": "upgraded" if applied else "already up to date"}
        elif ledger.url.startswith("sqlite:"):
            from chronik.stores.sqlite import SCHEMA_VERSION

            result = {"url": ledger.url, "store": "sqlite", "applied": [], "schema_version": SCHEMA_VERSION,
                      "message": "nothing to upgrade: SQLite ledgers are migrated when opened"}
        else:
            result = {"url": ledger.url, "store": ledger.url.split(":", 1)[0], "applied": [],
                      "schema_version": None, "message": "nothing to upgrade: this store has no schema"}
    if json_output:
        write_json_line(result)
    else:
        print_fields([(name, value) for name, value in result.items()], title="db upgrade")

"""`chronik db upgrade`: bring the ledger's schema up to date (`Store.upgrade`)."""

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
        done = ledger.store.upgrade()
        result = {"url": ledger.url, "store": done.kind, "schema": done.schema, "applied": done.applied,
                  "schema_version": done.schema_version, "message": done.message}
    if json_output:
        write_json_line(result)
    else:
        print_fields(list(result.items()), title="db upgrade")

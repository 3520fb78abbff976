"""`chronik db upgrade` (`Store.upgrade`) and `chronik db text-index on|off`
(`Store.set_text_index`)."""

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


@db.command("text-index")
@click.argument("state", type=click.Choice(["on", "off"]))
@json_option
def text_index(state: str, json_output: bool) -> None:
    """Switch a ledger's text index on or off (ADR 0013).

    On, `log --grep` and text filters answer from a trigram index instead of reading every
    event: milliseconds instead of seconds over a million events. SQLite (FTS5): it costs every
    append (about twice the work of a durable single append, three times that of a batch) and
    about 2 KB per event on disk, so it is off unless switched on. PostgreSQL (pg_trgm GIN): on
    from the start; switch it off for a bulk import and on after it (building it once is about
    six times cheaper than keeping it up row by row, ADR 0018). Switching on indexes every event
    already recorded, in one transaction; text filters mean the same either way.
    """
    with cli_state().open_ledger(must_exist=True) as ledger:
        changed = ledger.store.set_text_index(state == "on")
    result = {"url": ledger.url, "text_index": state, "changed": changed}
    if json_output:
        write_json_line(result)
    else:
        print_fields(list(result.items()), title="db text-index")

"""What the `chronik` group passes down to every command: where the ledger is and how to report.

It is click's context object (`ctx.obj`); domain packs reach it through
chronik.domains.clikit.PackContext, which this class satisfies, never by importing it.
"""

from __future__ import annotations

import click

from chronik.cli.inputs import rename_field
from chronik.errors import ValidationError
from chronik.ledger import Ledger, open_ledger


class CliState:
    def __init__(self) -> None:
        # --ledger or $CHRONIK_URL; None means the library default (sqlite:///~/.chronik/ledger.db).
        self.ledger_url: str | None = None
        # Set by a command's --json flag (or seen in the arguments), so errors are JSON too.
        self.json_output = False
        # The invoked command and its subcommands, outermost first: errors name their options.
        self.commands: list[click.Command] = []

    def open_ledger(self, read_only: bool = False, must_exist: bool = False) -> Ledger:
        """The ledger --ledger names. Reading commands pass `read_only` (nothing is created or
        written; a missing ledger is NotFound). Commands that write into a ledger but make no
        sense on a new one (repair, retention, snapshots, checkpoints) pass `must_exist`: a
        typo then gets "no ledger at ..." instead of a fresh empty ledger."""
        try:
            if must_exist and not read_only:
                open_ledger(self.ledger_url, read_only=True).close()
            return open_ledger(self.ledger_url, read_only=read_only)
        except ValidationError as error:
            raise rename_field(error, {"url": "--ledger"}) from None


def cli_state() -> CliState:
    """The state of the running invocation (made by the group; a bare command gets a default)."""
    ctx = click.get_current_context()
    return ctx.ensure_object(CliState)


def remember_json_flag(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    ctx.ensure_object(CliState).json_output = value
    return value


json_option = click.option(
    "--json", "json_output", is_flag=True, callback=remember_json_flag,
    help="Print JSON Lines for scripts: one JSON object per line.")

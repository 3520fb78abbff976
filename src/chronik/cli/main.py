"""The `chronik` command group and its entry point.

Commands are thin: each parses its options, makes one Ledger call and formats the result.
Failures become exit codes in one place, `ChronikGroup.invoke` (see chronik.cli.exits), so the
console script and click's test runner behave the same.
"""

from __future__ import annotations

import importlib

import click

import chronik
from chronik.cli import exits
from chronik.cli.output import json_text, write_error_line
from chronik.cli.state import CliState
from chronik.domains import LazyGroup
from chronik.errors import ChronikError

# Every command, by name: its module is imported only when that command runs (or for --help),
# so `chronik ext status` does not pay for replay, retention or PostgreSQL code (DESIGN 4).
COMMANDS = {
    "append": "chronik.cli.append:append",
    "read": "chronik.cli.read:read",
    "log": "chronik.cli.log:log",
    "streams": "chronik.cli.overview:streams",
    "head": "chronik.cli.overview:head",
    "verify": "chronik.cli.verify:verify",
    "stats": "chronik.cli.overview:stats",
    "demo": "chronik.cli.demo:demo",
    "export": "chronik.cli.transfer:export",
    "import": "chronik.cli.transfer:import_",
    "copy": "chronik.cli.transfer:copy",
    "db": "chronik.cli.db:db",
    "replay": "chronik.cli.derive:replay",
    "diff": "chronik.cli.derive:diff",
    "snapshot": "chronik.cli.derive:snapshot",
    "tail": "chronik.cli.subscriptions:tail",
    "parked": "chronik.cli.subscriptions:parked",
    "projections": "chronik.cli.subscriptions:projections",
    "keys": "chronik.cli.integrity:keys",
    "anchor": "chronik.cli.integrity:anchor",
    "retention": "chronik.cli.retention:retention",
    "archive": "chronik.cli.retention:archive",
}

EXIT_CODES_HELP = """\b
Exit codes: 0 ok, 1 error, 2 usage or invalid input, 3 verification
failed, 4 concurrency conflict (the stream was not at --expect)."""


class ChronikGroup(click.Group):
    """A click group that turns chronik's errors into one line (or JSON) and an exit code, and
    imports each command's module only when the command is looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Seen before any parsing, so even a usage error in a later option is reported as JSON.
        ctx.ensure_object(CliState).json_output = "--json" in args
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        state = ctx.ensure_object(CliState)
        try:
            return super().invoke(ctx)
        except ChronikError as error:
            ctx.exit(exits.report_failure(error, state.json_output))
        except click.UsageError as error:
            if not state.json_output:
                raise
            write_error_line(json_text({"error": "UsageError", "message": error.format_message(),
                                        "exit_code": exits.USAGE}))
            ctx.exit(exits.USAGE)


@click.group(cls=ChronikGroup, epilog=EXIT_CODES_HELP)
@click.option("--ledger", "ledger_url", metavar="URL", envvar="CHRONIK_URL", show_envvar=True,
              help="The ledger: sqlite:///path.db, jsonl:///path.jsonl, memory:, or a path ending "
                   "in .db or .jsonl.  [default: sqlite:///~/.chronik/ledger.db]")
@click.version_option(chronik.__version__, prog_name="chronik", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, ledger_url: str | None) -> None:
    """chronik: an append-only, hash-chained event ledger.

    Record events on streams named category:id, read them back, follow the log, and verify
    that nothing was changed, removed or reordered. Tables for people; --json prints JSON Lines
    for scripts.
    """
    ctx.ensure_object(CliState).ledger_url = ledger_url


# Domain packs, imported only when used (DESIGN section 4): chronik.domains.
cli.add_command(LazyGroup("ext", "chronik.domains.extensions.cli:ext",
                          "Extensions: what is installed, what failed, why and when (also Sindri ledgers)."))


def main() -> None:
    """Console-script entry point (`chronik = "chronik.cli.main:main"`)."""
    cli(prog_name="chronik")

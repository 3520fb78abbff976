"""The `chronik` command group and its entry point.

Commands are thin: each parses its options, makes one library call and formats the result.
Failures become exit codes in one place, `ChronikGroup.invoke` (see chronik.cli.exits), so the
console script and click's test runner behave the same; a library error names a field, and
`chronik.cli.inputs.options_named` names the command's option instead.
"""

from __future__ import annotations

import importlib
import signal
from typing import Any

import click

import chronik
from chronik.cli import (
    LOADING_HANDLER,  # set when the package loaded, before anything heavy
    exits,
)
from chronik.cli.inputs import options_named
from chronik.cli.output import json_text, write_error_line
from chronik.cli.state import CliState
from chronik.domains import registry
from chronik.errors import ChronikError

# Every command, by name: its module is imported only when that command runs (or for --help),
# so `chronik ext status` does not pay for replay, retention or PostgreSQL code (DESIGN 4).
# Domain packs come from chronik.domains.registry, loaded the same way.
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
    "repair": "chronik.cli.repair:repair",
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
    "mcp": "chronik.cli.mcp:mcp",
    "serve": "chronik.cli.serve:serve",
    "report": "chronik.domains.workflows.report_cli:report",
}

EXIT_CODES_HELP = """\b
Exit codes: 0 ok, 1 error, 2 usage or invalid input, 3 verification
failed, 4 concurrency conflict (the stream was not at --expect),
130 interrupted (Ctrl-C)."""

LEDGER_HELP = ("The ledger: sqlite:///path.db, jsonl:///path.jsonl, postgresql://user@host/db, memory:, "
               "or a path ending in .db or .jsonl.  [default: sqlite:///~/.chronik/ledger.db]")


class PackCommand(click.Group):
    """A domain pack's group as `chronik --help` lists it: its summary, without importing the
    pack. Invoking it (or asking for its help) loads the pack's real group."""

    def __init__(self, pack: registry.Pack, target: str) -> None:
        super().__init__(name=pack.name, short_help=pack.summary)
        self.target = target

    def load(self) -> click.Command:
        command: click.Command = registry.load(self.target)
        return command

    def get_help(self, ctx: click.Context) -> str:
        return self.load().get_help(ctx)

    def list_commands(self, ctx: click.Context) -> list[str]:
        loaded = self.load()
        return loaded.list_commands(ctx) if isinstance(loaded, click.Group) else []

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        loaded = self.load()
        return loaded.get_command(ctx, name) if isinstance(loaded, click.Group) else None


class ChronikGroup(click.Group):
    """A click group that turns chronik's errors into one line (or JSON) and an exit code, and
    imports each command's module only when the command is looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands, *(pack.name for pack in registry.packs() if pack.cli)})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        target = COMMANDS.get(name)
        if target is not None:
            module, _, attribute = target.partition(":")
            command: click.Command = getattr(importlib.import_module(module), attribute)
            return command
        pack = registry.find(name)
        if pack is not None and pack.cli is not None:
            return PackCommand(pack, pack.cli)
        return None

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                              list[str]]:
        name = args[0]
        command = self.get_command(ctx, name)
        if command is None:
            if ctx.resilient_parsing or name.startswith("-"):
                return super().resolve_command(ctx, args)
            raise click.UsageError(no_such_command(name, self.list_commands(ctx)), ctx)
        if isinstance(command, PackCommand):
            command = command.load()
        ctx.ensure_object(CliState).commands = [self, *command_chain(ctx, command, args[1:])]
        return name, command, args[1:]

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Seen before any parsing, so even a usage error in a later option is reported as JSON.
        ctx.ensure_object(CliState).json_output = "--json" in args
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        state = ctx.ensure_object(CliState)
        try:
            return super().invoke(ctx)
        except ChronikError as error:  # an error that names a field names the command's option
            ctx.exit(exits.report_failure(options_named(error, state.commands or [self]), state.json_output))
        except KeyboardInterrupt:
            ctx.exit(exits.INTERRUPTED)  # Ctrl-C: the person knows; no traceback, no message
        except click.UsageError as error:
            if not state.json_output:
                raise
            write_error_line(json_text({"error": "UsageError", "message": error.format_message(),
                                        "exit_code": exits.USAGE}))
            ctx.exit(exits.USAGE)


def no_such_command(name: str, commands: list[str]) -> str:
    import difflib  # only for a mistyped command: it costs ~3 ms to import

    close = difflib.get_close_matches(name, commands, n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"No such command {name!r}.{hint}"


def command_chain(ctx: click.Context, command: click.Command, args: list[str]) -> list[click.Command]:
    """`command` and the subcommands `args` name below it (`db upgrade`, `ext status`), so an
    error can name the option of the command that ran. Subgroups take no options of their own,
    so each next word is a subcommand's name; a word that is not one ends the chain."""
    chain = [command]
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        sub = command.get_command(ctx, args[0])
        if sub is None:
            break
        chain.append(sub)
        command, args = sub, args[1:]
    return chain


@click.group(cls=ChronikGroup, epilog=EXIT_CODES_HELP)
@click.option("--ledger", "ledger_url", metavar="URL", envvar="CHRONIK_URL", show_envvar=True, help=LEDGER_HELP)
@click.version_option(chronik.__version__, prog_name="chronik", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, ledger_url: str | None) -> None:
    """chronik: an append-only, hash-chained event ledger.

    Record events on streams named category:id, read them back, follow the log, and verify
    that nothing was changed, removed or reordered. Tables for people; --json prints JSON Lines
    for scripts.
    """
    ctx.ensure_object(CliState).ledger_url = ledger_url


def main() -> None:
    """Console-script entry point (`chronik = "chronik.cli.main:main"`)."""
    try:
        cli(prog_name="chronik")
    except KeyboardInterrupt:
        raise SystemExit(exits.INTERRUPTED) from None


if LOADING_HANDLER is not None:  # loaded: Ctrl-C is KeyboardInterrupt again, which main() handles
    signal.signal(signal.SIGINT, signal.default_int_handler)

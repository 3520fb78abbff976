"""The `chronik` command group and its entry point.

Commands are thin: each parses its options, makes one Ledger call and formats the result.
Failures become exit codes in one place, `ChronikGroup.invoke` (see chronik.cli.exits), so the
console script and click's test runner behave the same.
"""

from __future__ import annotations

import click

import chronik
from chronik.cli import exits
from chronik.cli.append import append
from chronik.cli.db import db
from chronik.cli.demo import demo
from chronik.cli.derive import diff, replay, snapshot
from chronik.cli.log import log
from chronik.cli.output import json_text, write_error_line
from chronik.cli.overview import head, stats, streams
from chronik.cli.read import read
from chronik.cli.state import CliState
from chronik.cli.subscriptions import parked, projections, tail
from chronik.cli.transfer import copy, export, import_
from chronik.cli.verify import verify
from chronik.errors import ChronikError

EXIT_CODES_HELP = """\b
Exit codes: 0 ok, 1 error, 2 usage or invalid input, 3 verification
failed, 4 concurrency conflict (the stream was not at --expect)."""


class ChronikGroup(click.Group):
    """A click group that turns chronik's errors into one line (or JSON) and an exit code."""

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


for command in (append, read, log, streams, head, verify, stats, demo, export, import_, copy, db):
    cli.add_command(command)
for command in (replay, diff, snapshot):  # derived state: chronik.cli.derive
    cli.add_command(command)
for command in (tail, parked, projections):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point (`chronik = "chronik.cli.main:main"`)."""
    cli(prog_name="chronik")

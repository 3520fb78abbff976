"""`chronik verify`: walk the hash chain (Ledger.verify); exit 3 when it is broken."""

from __future__ import annotations

import click

from chronik.cli.exits import VERIFY_FAILED
from chronik.cli.output import print_table, print_text, write_json_line
from chronik.cli.state import cli_state, json_option
from chronik.model import VerifyReport


@click.command()
@json_option
def verify(json_output: bool) -> None:
    """Check every event's hash, chain link, position and stream version.

    Prints how many events were checked, the first bad position and each problem. Exits 3
    when the ledger fails verification.
    """
    with cli_state().open_ledger() as ledger:
        report = ledger.verify()
    if json_output:
        write_json_line(report)
    else:
        print_verify_report(report)
    if not report.ok:
        click.get_current_context().exit(VERIFY_FAILED)


def print_verify_report(report: VerifyReport) -> None:
    if report.ok:
        print_text(f"verify: OK, {report.checked} events checked, the chain is intact", style="bold green")
    else:
        print_text(f"verify: FAILED, {report.checked} events checked, first bad position "
                   f"{report.first_bad_position}", style="bold red")
        print_table(("POSITION", "PROBLEM", "DETAIL"),
                    ((p.position, p.kind, p.detail) for p in report.problems), right_aligned=("POSITION",))
    if report.head is not None:
        print_text(f"head: position {report.head.position}, hash {report.head.hash[:16]}…")
    for note in report.notes:
        print_text(f"note: {note}", style="dim")

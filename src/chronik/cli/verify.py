"""`chronik verify`: chain, positions, versions, signatures and anchor (chronik.integrity.verify);
exit 3 when anything fails."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from chronik.cli.exits import VERIFY_FAILED
from chronik.cli.inputs import rename_field
from chronik.cli.integrity import keyring_option_value, keys_file_option
from chronik.cli.output import print_table, print_text, write_json_line
from chronik.cli.state import cli_state, json_option
from chronik.errors import ValidationError
from chronik.model import VerifyReport

if TYPE_CHECKING:
    from chronik.integrity.verify import IntegrityReport


@click.command()
@click.option("--anchor", "anchor_path", metavar="FILE", type=click.Path(exists=True, dir_okay=False),
              help="An anchor from `chronik anchor --out FILE`: also detect tail truncation and rollback.")
@click.option("--from", "from_position", metavar="N", type=click.IntRange(min=1),
              help="Check from position N (the link into N trusts the stored hash of N-1).")
@click.option("--to", "to_position", metavar="N", type=click.IntRange(min=1),
              help="Check up to position N.")
@keys_file_option
@click.option("--include-archive", is_flag=True,
              help="Check the events archived by `chronik retention` and the live ones as one chain.")
@click.option("--require-signatures", is_flag=True,
              help="Every event must be signed (by default events before the first signed one may be unsigned).")
@click.option("--thorough", is_flag=True,
              help="Run the storage engine's full check (SQLite: PRAGMA integrity_check, which reads every "
                   "page and index) instead of the quick one (quick_check).")
@json_option
def verify(anchor_path: str | None, from_position: int | None, to_position: int | None,
           keys_file: str | None, include_archive: bool, require_signatures: bool, thorough: bool,
           json_output: bool) -> None:
    """Check every event's hash, chain link, position and stream version, each signature
    (with a keyring) and the anchor (with --anchor).

    Prints what was checked, the first bad position with the kind of problem, and each
    problem. Without an anchor, tail truncation and rollback cannot be detected, and the report
    says so. A JSON Lines file that its store refuses to open is checked line by line. Exits 3
    when the ledger fails verification.

    Verify only reads: it never changes the ledger, not even a torn tail left by a crash,
    which it reports as a failed storage check (`chronik repair` moves those bytes to a
    quarantine file).
    """
    from chronik.integrity.anchors import read_anchor
    from chronik.integrity.verify import verify_url

    keyring = keyring_option_value(keys_file)
    anchor = read_anchor(anchor_path) if anchor_path else None
    try:
        report = verify_url(cli_state().ledger_url, keyring=keyring, anchor=anchor,
                            from_position=from_position, to_position=to_position,
                            require_signatures=require_signatures, include_archive=include_archive,
                            thorough_storage=thorough)
    except ValidationError as error:
        raise rename_field(error, {"url": "--ledger", "from_position": "--from",
                                   "to_position": "--to"}) from None
    if json_output:
        write_json_line(report)
    else:
        print_integrity_report(report)
    if not report.ok:
        click.get_current_context().exit(VERIFY_FAILED)


def print_integrity_report(report: IntegrityReport) -> None:
    """The report of chronik.integrity.verify.verify_ledger, for people."""
    if report.ok:
        print_text(f"verify: OK, {report.checked} events checked", style="bold green")
    else:
        print_text(f"verify: FAILED, {report.checked} events checked, first bad position "
                   f"{report.first_bad_position} ({report.first_bad_kind})", style="bold red")
    print_table(("CHECK", "RESULT", "DETAIL"), ((c.name, c.status.replace("_", " "), c.detail)
                                                  for c in report.checks))
    _print_findings(report)


def print_verify_report(report: VerifyReport) -> None:
    if report.ok:
        print_text(f"verify: OK, {report.checked} events checked, the chain is intact", style="bold green")
    else:
        print_text(f"verify: FAILED, {report.checked} events checked, first bad position "
                   f"{report.first_bad_position}", style="bold red")
    _print_findings(report)


def _print_findings(report: VerifyReport | IntegrityReport) -> None:
    """The problems (one row each), the head and the notes of either report."""
    if report.problems:
        print_table(("POSITION", "PROBLEM", "DETAIL"),
                    ((p.position, p.kind, p.detail) for p in report.problems), right_aligned=("POSITION",))
    if report.head is not None:
        print_text(f"head: position {report.head.position}, hash {report.head.hash[:16]}…")
    for note in report.notes:
        print_text(f"note: {note}", style="dim")

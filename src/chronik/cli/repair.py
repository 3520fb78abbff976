"""`chronik repair`: repair what the store's own check finds that can be repaired without losing
a committed event (Store.repair). `verify` never repairs; this is the explicit step.

A JSON Lines ledger with a torn tail (a commit cut short by a crash) has the torn bytes moved
to a quarantine file beside the ledger, `<file>.quarantine-<UTC time>`, named in the output,
so nothing is destroyed and the bytes can be inspected. A ledger that needs nothing gets
"nothing to repair". A ledger that does not exist is not created.
"""

from __future__ import annotations

import logging

import click

from chronik.cli.inputs import rename_field
from chronik.cli.output import print_text, write_json_line
from chronik.cli.state import cli_state, json_option
from chronik.errors import ValidationError
from chronik.integrity.repair import repair_storage
from chronik.stores import resolve_url


@click.command()
@json_option
def repair(json_output: bool) -> None:
    """Repair a torn tail left by a crash, moving the torn bytes to a quarantine file.

    Run `chronik verify` first: it reports a torn tail (exit 3) without touching the file.
    Repair never destroys bytes: what it cuts (from a JSON Lines ledger, or a SQLite -wal) is
    saved as <file>.quarantine-<UTC time>, named below. The first write after a crash repairs
    the same way. Prints "nothing to repair" when the ledger needs nothing. Other damage (lost
    -wal commits, corrupt pages) is refused with exit 3 before anything writes to the ledger,
    so the evidence stays as it is.
    """
    url = resolve_url(cli_state().ledger_url)
    with _repairs_not_logged():
        try:
            repaired = repair_storage(url)
        except ValidationError as error:
            raise rename_field(error, {"url": "--ledger"}) from None
    if json_output:
        write_json_line({"url": url, "repaired": repaired})
        return
    if not repaired:
        print_text(f"nothing to repair in {url}")
        return
    for finding in repaired:
        print_text(f"repaired ({finding.code}): {finding.message}")
        quarantine = finding.detail.get("quarantine")
        if quarantine:
            print_text(f"quarantine: {quarantine}")


class _repairs_not_logged:
    """The store logs each repair as a warning, for repairs nobody asked for (the first write
    after a crash); here each one is printed below, so the log would only say it twice."""

    def __enter__(self) -> None:
        self.logger = logging.getLogger("chronik")
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc_info: object) -> None:
        self.logger.setLevel(self.level)

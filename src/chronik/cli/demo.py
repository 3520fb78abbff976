"""`chronik demo`: write a small, realistic ledger and show what chronik does with it.

The scenario uses the same library calls and the same output as the commands it names, so
what it shows is what the CLI does. Without --ledger or $CHRONIK_URL it writes
./chronik-demo.db (replacing only that file and its -wal/-shm), never the default ledger.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import click

from chronik.cli.output import people_width, print_text, write_events, write_line
from chronik.cli.overview import print_streams
from chronik.cli.state import cli_state
from chronik.cli.verify import print_verify_report
from chronik.errors import ConcurrencyError, ValidationError
from chronik.ledger import Ledger, open_ledger
from chronik.model import AppendResult, Expect, Expectation, Filter, NewEvent

DEMO_FILE = "chronik-demo.db"
SQLITE_SIDE_FILES = ("", "-wal", "-shm")
DEMO_WIDTH_COLUMNS = 80

PAYMENT = NewEvent("payment_captured", {"amount_cents": 11800, "method": "card"},
                   meta={"source": "checkout-api"}, id="pay-1001-a")
TAMPERED_PAYMENT_DATA = '{"amount_cents":1,"method":"card"}'

# (stream, expectation, events): the story, in commit order. Streams interleave, so the
# ledger-wide positions differ from each stream's versions.
SCENARIO: list[tuple[str, Expectation, list[NewEvent]]] = [
    ("order:1001", Expect.NO_STREAM, [NewEvent("order_created", {"customer": "c-2291", "currency": "EUR"})]),
    ("extension:node", Expect.NO_STREAM, [NewEvent("install_started", {"extension_name": "node", "version": "22.3.0", "source": "mise", "install_method": "mise"})]),
    ("instance:odin-PS-8f4a2b", Expect.NO_STREAM,
     [NewEvent("session_started", {"agent": "odin", "task": "PS-8f4a2b"}, meta={"via": "mcp"})]),
    ("order:1001", 1, [NewEvent("item_added", {"sku": "KB-87", "qty": 1, "price_cents": 8900}),
                       NewEvent("item_added", {"sku": "USB-C-2M", "qty": 2, "price_cents": 1450})]),
    ("extension:python", Expect.NO_STREAM, [NewEvent("install_started", {"extension_name": "python", "version": "3.12.4", "source": "mise", "install_method": "mise"})]),
    ("extension:node", 1, [NewEvent("install_completed", {"extension_name": "node", "version": "22.3.0", "duration_secs": 12, "components_installed": ["node", "npm"]})]),
    ("instance:odin-PS-8f4a2b", 1, [NewEvent("epic_started", {"epic": "checkout-v2"}),
                                    NewEvent("test_failed", {"test": "test_refund_rounding",
                                                             "error": "AssertionError: 11.79 != 11.8"})]),
    ("extension:python", 1, [NewEvent("install_failed", {"extension_name": "python", "version": "3.12.4",
                                                         "error_message": "checksum mismatch for Python-3.12.4.tgz",
                                                         "retry_count": 0, "duration_secs": 3})]),
    ("order:1001", 3, [PAYMENT]),
    ("instance:odin-PS-8f4a2b", 3, [NewEvent("test_passed", {"test": "test_refund_rounding"}),
                                    NewEvent("session_ended", {"summary": "refund rounding fixed"})]),
]


@click.command()
def demo() -> None:
    """Write a small realistic ledger and show what chronik does with it.

    Without --ledger or $CHRONIK_URL it writes ./chronik-demo.db, replacing an earlier demo
    file (and only that file); it never writes to your default ledger. A ledger given with
    --ledger must be empty.
    """
    url = cli_state().ledger_url or fresh_demo_file(DEMO_FILE)
    with open_ledger(url) as ledger:
        refuse_non_empty(ledger)
        where = f"./{url}" if url == DEMO_FILE else url
        write_line(f"chronik demo: a fresh ledger at {where}")
        payment = record_scenario(ledger)
        show_conflict(ledger)
        show_idempotent_retry(ledger)
        show_stream(ledger, "order:1001")
        show_filtered_log(ledger)
        show_streams(ledger)
        show_verify(ledger)
        show_tampering(ledger, payment.first_position)
        show_extensions(ledger)
        show_channels(ledger)
        show_workflows(ledger)
        show_next_steps(url)


def fresh_demo_file(path: str) -> str:
    for suffix in SQLITE_SIDE_FILES:
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return path


def refuse_non_empty(ledger: Ledger) -> None:
    events = ledger.head().position
    if events:
        raise ValidationError("--ledger", f"{ledger.url} already holds {events} events",
                              f"the demo needs an empty ledger: name a new file, or omit --ledger "
                              f"to use ./{DEMO_FILE}")


def step(title: str, command: str | None = None) -> None:
    print_text(f"\n{title}", style="bold cyan")
    if command:
        print_text(f"$ {command}", style="dim")


def record_scenario(ledger: Ledger) -> AppendResult:
    """Append the story; return the payment's result (the event tampered with later)."""
    step("1. Record events: each append is one atomic, durable commit",
         "chronik append order:1001 order_created --data '{...}' --expect no-stream")
    payment = None
    for stream, expect, events in SCENARIO:
        result = ledger.append(stream, events, expect=expect)
        if PAYMENT in events:
            payment = result
    shipped = ledger.append_many({
        "order:1001": ([NewEvent("order_shipped", {"carrier": "DHL", "tracking": "JD014600006281"})], 4),
        "stock:KB-87": ([NewEvent("stock_reserved", {"order": "order:1001", "qty": 1})], Expect.ANY),
    })
    print_text(f"   {len(SCENARIO) + 1} appends; the last wrote order:1001 and stock:KB-87 atomically "
               f"({shipped['order:1001'].first_position}, {shipped['stock:KB-87'].first_position})")
    print_text("$ chronik log", style="dim")
    write_events(ledger.read_all(), json_output=False, width=demo_width())
    assert payment is not None
    return payment


def show_conflict(ledger: Ledger) -> None:
    step("2. Optimistic concurrency: a stale writer expects order:1001 at version 3",
         "chronik append order:1001 order_cancelled --expect 3")
    try:
        ledger.append("order:1001", [NewEvent("order_cancelled", {"reason": "customer request"})], expect=3)
    except ConcurrencyError as error:
        print_text(f"   conflict caught: {error.problem}")
        print_text(f"   the fix it names: {error.fix}")
        print_text("   nothing was written; the CLI exits with code 4")
    else:
        raise AssertionError("the stale append should have conflicted")


def show_idempotent_retry(ledger: Ledger) -> None:
    step("3. Idempotent retry: the payment is sent again with the same id",
         "chronik append order:1001 payment_captured --id pay-1001-a --data ...")
    events_before = ledger.head().position
    retry = ledger.append("order:1001", [PAYMENT], expect=3)
    print_text(f"   returned the original result: version {retry.version}, position "
               f"{retry.first_position}, id {retry.ids[0]}")
    print_text(f"   events in the ledger: {events_before} before, {ledger.head().position} after")


def show_stream(ledger: Ledger, stream: str) -> None:
    step("4. Read one stream, in version order", f"chronik read {stream}")
    write_events(ledger.read_stream(stream), json_output=False, show_stream=False, width=demo_width())


def show_filtered_log(ledger: Ledger) -> None:
    step("5. What failed, and why? A filtered query over the whole ledger",
         "chronik log --category extension --type install_failed")
    page = ledger.query(Filter(categories=["extension"], types=["install_failed"]), limit=10)
    write_events(page.events, json_output=False, width=demo_width())
    print_text(f"   {page.total} matching event(s)")


def show_streams(ledger: Ledger) -> None:
    step("6. Streams: each entity's version and last event", "chronik streams")
    print_streams(ledger.streams())


def show_verify(ledger: Ledger) -> None:
    step("7. Verify the hash chain", "chronik verify")
    print_verify_report(ledger.verify())


def show_tampering(ledger: Ledger, position: int) -> None:
    step("8. Tamper with a copy: change the captured amount with sqlite3 directly")
    import tempfile

    source_path = ledger.store.path
    if not ledger.url.startswith("sqlite:") or source_path is None:
        print_text("   skipped: this step edits a SQLite file; run the demo on a sqlite ledger")
        return
    with tempfile.TemporaryDirectory(prefix="chronik-demo-") as folder:
        copy_path = os.path.join(folder, "tampered.db")
        tamper_copy(source_path, copy_path, position, TAMPERED_PAYMENT_DATA)
        print_text(f"$ sqlite3 tampered.db \"UPDATE events SET data = '...' WHERE position = {position}\"",
                   style="dim")
        print_text(f"   data is now {TAMPERED_PAYMENT_DATA}, was amount_cents 11800")
        print_text("$ chronik --ledger tampered.db verify", style="dim")
        with open_ledger(copy_path) as tampered:
            print_verify_report(tampered.verify())


def tamper_copy(source_path: str, copy_path: str, position: int, data_json: str) -> None:
    """Copy a SQLite ledger (a consistent snapshot, WAL included), then rewrite one event's data."""
    import sqlite3

    with sqlite3.connect(source_path) as source, sqlite3.connect(copy_path) as copy:
        source.backup(copy)
        copy.execute("UPDATE events SET data = ? WHERE position = ?", (data_json, position))
    source.close()
    copy.close()


def show_extensions(ledger: Ledger) -> None:
    """The extensions pack (chronik.domains.extensions): real commands run and recorded."""
    import sys
    import tempfile
    from pathlib import Path

    from chronik.domains.extensions import service
    from chronik.domains.extensions.native import LedgerBackend
    from chronik.domains.textout import one_line
    from chronik.domains.textout import write_table as aligned

    step("9. Extensions: run an install, record how it went",
         "chronik ext install ripgrep --version 14.1.0 -- COMMAND ARGS...")

    class DemoBackend(LedgerBackend):
        """The demo's installs log to a temporary folder: the demo leaves nothing in the working
        folder but its ledger (`ext install` keeps its logs in ext-logs/ beside the ledger)."""

        def log_dir(self) -> Path:
            return Path(logs)

    with tempfile.TemporaryDirectory(prefix="chronik-demo-logs-") as logs:
        backend = DemoBackend(ledger)
        service.run_operation(backend, "install", "ripgrep", [sys.executable, "-c", "print('installed')"],
                              "14.1.0")
        service.run_operation(backend, "install", "kubectl", [sys.executable, "-c",
                              "import sys; sys.exit('download failed: HTTP 404')"], "1.35.0")
    print_text("$ chronik ext status", style="dim")
    aligned(("NAME", "STATE", "VERSION", "ERROR"),
            [(r["name"], r["state"], r["version"], one_line(r["error"], 40))
             for r in service.visible(backend.statuses(), show_all=False)])


def show_channels(ledger: Ledger) -> None:
    """The channels pack (chronik.domains.channels): a DirectFund objective, reconstructed."""
    from chronik.domains.channels.cli import show_demo

    step("10. State channels: a DirectFund objective, then its channel rebuilt from events", "chronik channel append direct-fund.jsonl; chronik channel show CHANNEL_ID")
    show_demo(ledger)


def show_workflows(ledger: Ledger) -> None:
    """The workflows pack (chronik.domains.workflows): a release with a gate, a retry, a child."""
    from chronik.domains.workflows.demo import show_demo

    step("11. Workflows: a gated release, a retried step, a child, an audit PDF",
         "chronik workflow history release-42; chronik report --pdf FILE")
    show_demo(ledger)


def show_next_steps(url: str) -> None:
    step("Explore it yourself")
    for command in next_commands(url):
        print_text(f"   {command}")


def next_commands(url: str) -> Sequence[str]:
    ledger = f"--ledger {url} " if url != DEMO_FILE else f"--ledger {DEMO_FILE} "
    return (f"chronik {ledger}log --grep refund",
            f"chronik {ledger}read instance:odin-PS-8f4a2b --json",
            f"chronik {ledger}stats",
            f"chronik {ledger}ext status kubectl")


def demo_width() -> int:
    return people_width() or DEMO_WIDTH_COLUMNS

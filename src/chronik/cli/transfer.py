"""`chronik copy`, `chronik export`, `chronik import`: moving recorded events between ledgers and
files (chronik.lifecycle). A progress bar goes to stderr for people at a terminal
(chronik.domains.progress); --json prints one result line, on stderr when the events themselves
go to stdout (`export - --json | chronik import -` works)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import click

from chronik.cli.inputs import rename_field, time_option
from chronik.cli.log import LOG_OPTION_NAMES
from chronik.cli.output import json_text, print_fields, write_error_line, write_json_line
from chronik.cli.state import cli_state, json_option
from chronik.domains.progress import progress_bar
from chronik.errors import ValidationError
from chronik.ledger import open_ledger
from chronik.lifecycle import FORMATS, copy_ledger, export_events, import_events
from chronik.lifecycle.copy import COPY_BATCH_EVENTS, MAX_COPY_BATCH_EVENTS
from chronik.model import Filter


@click.command()
@click.argument("source_url", metavar="SRC_URL")
@click.argument("destination_url", metavar="DST_URL")
@click.option("--append-to", is_flag=True, help="Allow a non-empty destination that is a prefix of the "
              "source (the same hash at its head): copy the rest. Resumes an interrupted copy.")
@click.option("--batch-size", type=click.IntRange(1, MAX_COPY_BATCH_EVENTS), default=COPY_BATCH_EVENTS,
              show_default=True, metavar="N", help="Events per write to the destination.")
@json_option
def copy(source_url: str, destination_url: str, append_to: bool, batch_size: int, json_output: bool) -> None:
    """Copy a whole ledger from SRC_URL to DST_URL, verbatim.

    Positions, versions, ids, times, data, meta and hashes are kept; the destination is verified
    at the end and its head must equal the source's. The destination must be empty unless
    --append-to. Exits 1 when it refuses, 3 when a chain is broken.
    """
    with (_opened(source_url, "SRC_URL", read_only=True) as source,
          _opened(destination_url, "DST_URL") as destination,
          progress_bar("copying", json_output) as progress):
        report = copy_ledger(source, destination, append_to=append_to, batch_size=batch_size,
                             progress=progress, keyring=destination.keyring)
    if json_output:
        write_json_line(report)
        return
    print_fields([("copied", report.copied), ("already present", report.already_present),
                  ("head", f"{report.head.position} {report.head.hash[:16]}…"),
                  ("verify", f"OK, {report.verify.checked} events checked"),
                  ("seconds", report.seconds), ("events/s", f"{report.events_per_s:,.0f}")],
                 title=f"copied {source_url} -> {destination_url}")


@click.command()
@click.argument("file", metavar="FILE|-")
@click.option("--format", "format_", type=click.Choice(FORMATS), default="jsonl", show_default=True,
              help="jsonl: one recorded event per line (the interchange format that import reads); "
                   "json: a pretty array; csv: flat columns, data and meta as JSON text.")
@click.option("--after", type=click.IntRange(min=0), metavar="POSITION", default=0, show_default=True,
              help="Only events after this position.")
@click.option("--type", "types", multiple=True, metavar="TYPE", help="Only events of this type (repeatable).")
@click.option("--category", "categories", multiple=True, metavar="CATEGORY",
              help="Only streams of this category (repeatable).")
@click.option("--stream", "streams", multiple=True, metavar="STREAM", help="Only this stream (repeatable).")
@click.option("--since", metavar="TIME", help="Only events recorded at or after TIME.")
@click.option("--until", metavar="TIME", help="Only events recorded at or before TIME.")
@json_option
def export(file: str, format_: str, after: int, types: tuple[str, ...], categories: tuple[str, ...],
           streams: tuple[str, ...], since: str | None, until: str | None, json_output: bool) -> None:
    """Write the ledger's events to FILE (- for stdout) as JSONL, JSON or CSV.

    The same events give the same bytes from any store. A filtered export has gaps in the
    chain, so import refuses it; --after N alone imports onto a ledger whose head is N. With
    FILE - and --json, stdout carries only the events and the summary line goes to stderr, so
    `chronik export - --json | chronik --ledger other.db import -` works.
    """
    event_filter = Filter(types=list(types) or None, categories=list(categories) or None,
                          streams=list(streams) or None, since=time_option(since, "--since"),
                          until=time_option(until, "--until"))
    # Events on stdout: no bar (the reader of the pipe may draw its own on the same terminal).
    with (cli_state().open_ledger(read_only=True) as ledger, _output(file) as out,
          progress_bar("exporting", json_output or file == "-") as progress):
        try:
            count = export_events(ledger, out, format=format_, after=after, filter=event_filter,
                                  progress=progress)
        except ValidationError as error:
            raise rename_field(error, {**LOG_OPTION_NAMES, "format": "--format"}) from None
    result = {"file": file, "format": format_, "events": count}
    if json_output and file == "-":
        write_error_line(json_text(result))  # stdout holds the events, and only them
    elif json_output:
        write_json_line(result)
    elif file != "-":
        write_error_line(f"exported {count} events to {file} ({format_})")


@click.command(name="import")
@click.argument("file", metavar="FILE|-")
@click.option("--rechain", is_flag=True, help="Import a broken chain anyway: events from the first "
              "bad position on are appended again with new positions and hashes (times, ids and "
              "content kept), and the report says so.")
@json_option
def import_(file: str, rechain: bool, json_output: bool) -> None:
    """Import recorded events from FILE (- for stdin), a JSONL or JSON export, verbatim.

    The chain is re-verified first, continuing from the ledger's head; a broken chain is refused
    (exit 3, nothing imported) unless --rechain. Events already in the ledger (the same export
    imported again) are skipped.
    """
    with cli_state().open_ledger() as ledger, progress_bar("importing", json_output) as progress:
        report = import_events(ledger, sys.stdin.buffer if file == "-" else file, rechain=rechain,
                               progress=progress)
    if json_output:
        write_json_line(report)
        return
    rows: list[tuple[str, object]] = [("read", report.read), ("imported", report.imported), ("skipped", report.skipped),
            ("re-chained", report.rechained)]
    if report.rechained:
        rows.append(("re-chained from", f"input position {report.rechained_from_position} -> "
                                        f"position {report.rechained_to_position}"))
    rows += [("head", f"{report.head.position} {report.head.hash[:16]}…"), ("seconds", report.seconds),
             ("events/s", f"{report.events_per_s:,.0f}")]
    print_fields(rows, title="imported")
    for note in report.notes:
        write_error_line(f"note: {note}")


@contextmanager
def _opened(url: str, argument: str, read_only: bool = False):
    try:
        ledger = open_ledger(url, read_only=read_only)
    except ValidationError as error:
        raise rename_field(error, {"url": argument}) from None
    with ledger:
        yield ledger


@contextmanager
def _output(file: str) -> Iterator[BinaryIO]:
    if file == "-":
        yield sys.stdout.buffer
        return
    try:
        out = open(file, "wb")  # noqa: SIM115 — closed below
    except OSError as exc:
        raise ValidationError("FILE", f"cannot write {file!r}: {exc.strerror}",
                              "give a writable path, or - for stdout") from None
    with out:
        yield out

"""`chronik retention show|set|apply` and `chronik archive list|verify|restore`: moving old events
into gzip archive segments and keeping them part of the ledger (chronik.lifecycle.retention and
chronik.lifecycle.archive; docs/retention.md)."""

from __future__ import annotations

from pathlib import Path

import click
import msgspec

from chronik.cli.exits import VERIFY_FAILED
from chronik.cli.output import print_fields, print_table, print_text, write_json_line
from chronik.cli.state import cli_state, json_option
from chronik.domains.progress import progress_bar
from chronik.errors import ValidationError
from chronik.lifecycle import archive as archives
from chronik.lifecycle import retention as lifecycle

ARCHIVE_DIR_HELP = "Where archive segments live. [default: the configured one, else <ledger file>.archive/]"
# Where retention writes segments: created when missing.
ARCHIVE_DIR_OPTION = click.option("--archive-dir", metavar="DIR", help=ARCHIVE_DIR_HELP)
# Where existing segments are read from: a folder that is not there is a usage error (exit 2).
EXISTING_ARCHIVE_DIR_OPTION = click.option(
    "--archive-dir", metavar="DIR", help=ARCHIVE_DIR_HELP,
    type=click.Path(exists=True, file_okay=False))
DURATION_WORDS = (("w", "week"), ("d", "day"), ("h", "hour"), ("m", "minute"), ("s", "second"))


@click.group()
def retention() -> None:
    """Retention policies per category, and moving due events into archive segments."""


@retention.command("show")
@json_option
def retention_show(json_output: bool) -> None:
    """List the retention policies kept in the ledger."""
    with cli_state().open_ledger(read_only=True) as ledger:
        found = lifecycle.policies(ledger)
        configured = ledger.store.aux_get(archives.CONFIG_KIND, "archive_dir")
    if json_output:
        for policy in found:
            write_json_line(policy)
        return
    print_table(("CATEGORY", "MAX AGE", "MAX COUNT", "KEEP LATEST"),
                ((p.category, lifecycle.format_duration(p.max_age_s) if p.max_age_s is not None else "-",
                  p.max_count if p.max_count is not None else "-", "yes" if p.keep_latest else "no")
                 for p in found), title="retention policies")
    if configured:
        print_text(f"archive directory: {configured.decode()}")


@retention.command("set")
@click.argument("category", required=False)
@click.option("--max-age", metavar="DURATION", help="Archive events older than this: 90d, 12h, 30m, 45s.")
@click.option("--max-count", type=click.IntRange(min=1), metavar="N",
              help="Keep at most N live events per stream.")
@click.option("--keep-latest/--no-keep-latest", default=None,
              help="Never archive a stream's newest event.  [default: keep it]")
@click.option("--remove", is_flag=True, help="Remove CATEGORY's policy (all its limits).")
@click.option("--archive-dir", metavar="DIR", help="Configure the archive directory of this ledger.")
@json_option
def retention_set(category: str | None, max_age: str | None, max_count: int | None, keep_latest: bool | None,
                  remove: bool, archive_dir: str | None, json_output: bool) -> None:
    """Set (or --remove) the retention policy of CATEGORY, and/or configure --archive-dir.

    Set merges: options you leave out keep their current value, so `set order --max-count 2`
    after `set order --max-age 90d` keeps the age limit too. --remove drops the policy.
    """
    if category is None and not archive_dir:
        raise ValidationError("CATEGORY", "is missing", "name a category, or give --archive-dir")
    with cli_state().open_ledger(must_exist=True) as ledger:
        if archive_dir:
            archives.set_archive_dir(ledger, archive_dir)
        policy = removed = None
        if category is not None and remove:
            lifecycle.remove_policy(ledger, category)
            removed = category
        elif category is not None:
            policy = lifecycle.set_policy(
                ledger, category,
                lifecycle.KEEP if max_age is None else lifecycle.parse_duration(max_age),
                lifecycle.KEEP if max_count is None else max_count,
                lifecycle.KEEP if keep_latest is None else keep_latest)
    if json_output:
        write_json_line({**({"policy": msgspec.structs.asdict(policy)} if policy else {}),
                         **({"removed": removed} if removed else {}),
                         **({"archive_dir": archive_dir} if archive_dir else {})})
        return
    if archive_dir:
        print_text(f"archive directory: {archive_dir}")
    if removed:
        print_text(f"retention {removed}: policy removed; its events stay live")
    if policy:
        print_text(f"retention {policy_in_words(policy)}")


def policy_in_words(policy: lifecycle.Policy) -> str:
    """`order: archive events older than 90 days or beyond the newest 2 of their stream, never
    a stream's newest event`."""
    limits = []
    if policy.max_age_s is not None:
        limits.append(f"older than {duration_in_words(policy.max_age_s)}")
    if policy.max_count is not None:
        limits.append(f"beyond the newest {policy.max_count} of their stream")
    latest = "never a stream's newest event" if policy.keep_latest else "a stream's newest event too"
    return f"{policy.category}: archive events {' or '.join(limits)}, {latest}"


def duration_in_words(seconds: int) -> str:
    """7776000 -> '90 days', 3600 -> '1 hour'."""
    text = lifecycle.format_duration(seconds)
    count, unit = int(text[:-1]), dict(DURATION_WORDS)[text[-1]]
    return f"{count} {unit}" + ("" if count == 1 else "s")


@retention.command("apply")
@click.option("--dry-run", is_flag=True, help="Only count the events that are due; change nothing.")
@ARCHIVE_DIR_OPTION
@json_option
def retention_apply(dry_run: bool, archive_dir: str | None, json_output: bool) -> None:
    """Archive the events due under the policies, then remove them from the live store.

    Segments and manifests are written and fsynced (file and directory) before anything is
    removed; an interrupted run is finished by the next one. Other processes may keep appending.
    """
    # A dry run only reads: it works on a read-only ledger and creates nothing.
    with (cli_state().open_ledger(read_only=dry_run, must_exist=True) as ledger,
          progress_bar("archiving", json_output or dry_run) as progress):
        report = lifecycle.apply_retention(ledger, dry_run=dry_run, directory=archive_dir,
                                           progress=progress)
    if json_output:
        write_json_line(report)
        return
    print_table(("CATEGORY", "DUE"), sorted(report.due.items()),
                title="retention (dry run)" if dry_run else "retention")
    if not dry_run:
        print_fields([("archived", report.archived), ("removed", report.removed),
                      ("segments", ", ".join(s.name for s in report.segments) or "none"),
                      ("archive directory", report.archive_dir)])
        for line in report.recovered:
            print_text(f"recovered: {line}", style="dim")


@click.group()
def archive() -> None:
    """The archive segments retention wrote: list, verify, restore."""


@archive.command("list")
@json_option
def archive_list(json_output: bool) -> None:
    """List the archive segments recorded in the ledger."""
    with cli_state().open_ledger(read_only=True) as ledger:
        found = archives.list_segments(ledger)
    if json_output:
        for manifest in found:
            write_json_line(manifest)
        return
    print_table(("SEGMENT", "FIRST", "LAST", "EVENTS", "BYTES", "CATEGORIES"),
                ((m.name, m.first_position, m.last_position, m.count, m.size_bytes, ",".join(m.categories))
                 for m in found), right_aligned=("FIRST", "LAST", "EVENTS", "BYTES"))


@archive.command("verify")
@EXISTING_ARCHIVE_DIR_OPTION
@json_option
def archive_verify(archive_dir: str | None, json_output: bool) -> None:
    """Check every segment (file, gzip CRC, sha256, positions) and the chain across archive and
    live. Exits 3 on any problem."""
    with cli_state().open_ledger(read_only=True) as ledger:
        directory = Path(archive_dir) if archive_dir else None
        segments = archives.verify_segments(ledger, directory)
        report = archives.verify_chain(ledger, True, directory)
    bad = {name: problems for name, problems in segments.items() if problems}
    if json_output:
        write_json_line({"ok": report.ok and not bad, "segments": segments, "chain": report})
    else:
        print_table(("SEGMENT", "STATE"), ((name, "; ".join(p) or "OK") for name, p in segments.items()))
        print_text(f"chain: {'OK' if report.ok else 'FAILED'}, {report.checked} events checked"
                   + ("" if report.ok else f", first bad position {report.first_bad_position}"))
    if bad or not report.ok:
        click.get_current_context().exit(VERIFY_FAILED)


@archive.command("restore")
@click.argument("segment")
@click.argument("out", metavar="OUT_FILE")
@EXISTING_ARCHIVE_DIR_OPTION
@json_option
def archive_restore(segment: str, out: str, archive_dir: str | None, json_output: bool) -> None:
    """Write SEGMENT's events, checked, to OUT_FILE as interchange JSON Lines (what `chronik
    import` reads, e.g. into a scratch ledger)."""
    with cli_state().open_ledger(read_only=True) as ledger:
        count = archives.restore_segment(ledger, segment, Path(out),
                                         directory=Path(archive_dir) if archive_dir else None)
    if json_output:
        write_json_line({"segment": segment, "out": out, "events": count})
    else:
        print_text(f"restored {count} events of {segment} to {out}")

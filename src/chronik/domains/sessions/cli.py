"""`chronik session`: agent instances and their events, for people (agents use `chronik mcp`).
Each command is one service call and formatting; parameters are named after the service's
fields (instance_id, event_type, event_data, start_date, to_sequence_num, ...), so an error
names the right option.
"""

from __future__ import annotations

import sys
from typing import Any

import click
import msgspec

from chronik import codec
from chronik.domains.clikit import json_option, open_ledger
from chronik.domains.sessions import retention, service
from chronik.domains.sessions.settings import Settings, from_environment
from chronik.domains.textout import one_line, write_error_line, write_json_line, write_line, write_table
from chronik.errors import ValidationError

MAX_DATA_CHARS = 1024 * 1024


def settings_with(**overrides: Any) -> Settings:
    """CHRONIK_SESSIONS_* settings with what the command's options set."""
    base = from_environment()
    given = {name: value for name, value in overrides.items() if value is not None}
    if not given:
        return base
    return msgspec.structs.replace(base, **given)


def catalog_option(command: Any) -> Any:
    return click.option("--catalog", "catalog_path", metavar="FILE", envvar="CHRONIK_SESSIONS_CATALOG",
                        help="A JSON or TOML file of your own event types (docs/sessions.md).")(command)


def fields_from(event_data: str | None, pairs: tuple[str, ...]) -> dict[str, Any]:
    """--data JSON (or @file, or - for stdin) plus FIELD=VALUE words (VALUE as JSON if it is JSON)."""
    data: dict[str, Any] = {}
    if event_data is not None:
        text = event_data
        if event_data == "-":
            text = sys.stdin.read(MAX_DATA_CHARS + 1)
        elif event_data.startswith("@"):
            try:
                with open(event_data[1:], encoding="utf-8") as file:
                    text = file.read(MAX_DATA_CHARS + 1)
            except OSError as exc:
                raise ValidationError("event_data", f"cannot read {event_data[1:]!r}: {exc.strerror}",
                                      "give an existing file after @, or JSON text") from None
        parsed = codec.parse_json_text(text, "event_data")
        if not isinstance(parsed, dict):
            raise ValidationError("event_data", "must be a JSON object", 'e.g. {"epic_id": "epic-003"}')
        data.update(parsed)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValidationError("fields", f"{pair!r} is not FIELD=VALUE", "write e.g. epic_id=epic-003")
        try:
            data[name] = codec.parse_json_text(value, name)
        except ValidationError:
            data[name] = value
    return data


def print_recorded(result: service.Recorded, json_output: bool) -> None:
    if json_output:
        write_json_line(result)
        return
    note = "" if result.recorded else " (coalesced into the heartbeat recorded then)"
    write_line(f"{result.instance_id} #{result.sequence_num} {result.event_type} {result.timestamp}{note}")


@click.group("session")
def session() -> None:
    """Agent sessions: instances (register, heartbeat, stale), their typed events, replay, and
    where an instance left off. Agents use the same through `chronik mcp` (docs/mcp.md).

    Each instance is the stream instance:ID; its sequence numbers are the stream's versions.
    """


@session.command()
@click.argument("project", required=False)
@click.option("--id", "instance_id", metavar="ID", help="Register this id instead of <PROJECT>-PS-<6 hex>.")
@click.option("--model", help="The model the agent runs.")
@click.option("--host", help="The machine it runs on.")
@json_option
def register(project: str | None, instance_id: str | None, model: str | None, host: str | None,
             json_output: bool) -> None:
    """Register an instance of PROJECT; prints its id."""
    details = {name: value for name, value in (("model", model), ("host", host)) if value is not None}
    print_recorded(service.register(open_ledger(), project, instance_id, details, settings=from_environment()),
                   json_output)


@session.command()
@click.argument("instance_id")
@click.option("--context-percent", "context_percent", type=float, help="How full the context window is.")
@click.option("--heartbeat-interval", "heartbeat_interval_s", type=float, metavar="SECONDS",
              help="Record at most one heartbeat per this many seconds (default 60).")
@json_option
def heartbeat(instance_id: str, context_percent: float | None, heartbeat_interval_s: float | None,
              json_output: bool) -> None:
    """Say INSTANCE_ID is alive (coalesced: at most one recorded per interval)."""
    data = {} if context_percent is None else {"context_percent": context_percent}
    result = service.heartbeat(open_ledger(), instance_id, data,
                               settings=settings_with(heartbeat_interval_s=heartbeat_interval_s))
    print_recorded(result, json_output)


@session.command()
@click.argument("instance_id")
@click.argument("event_type")
@click.argument("fields", nargs=-1)
@click.option("--data", "event_data", metavar="JSON", help="The event's fields as a JSON object (@FILE, - for stdin).")
@click.option("--meta", "metadata", metavar="JSON", help="Metadata as a JSON object (tags, lineage).")
@catalog_option
@json_option
def emit(instance_id: str, event_type: str, fields: tuple[str, ...], event_data: str | None, metadata: str | None,
         catalog_path: str | None, json_output: bool) -> None:
    """Record EVENT_TYPE on INSTANCE_ID, with FIELD=VALUE words and/or --data.

    \b
    chronik session emit odin-PS-8f4a2b epic_started epic_id=epic-003 feature_name=auth
    """
    meta = None if metadata is None else codec.parse_json_text(metadata, "metadata")
    result = service.emit(open_ledger(), instance_id, event_type, fields_from(event_data, fields), meta,
                          settings_with(catalog_path=catalog_path))
    print_recorded(result, json_output)


@session.command()
@click.option("--stale-timeout", "stale_timeout_s", type=float, metavar="SECONDS",
              help="Silent this long counts as stale (default 120).")
@json_option
def instances(stale_timeout_s: float | None, json_output: bool) -> None:
    """Every instance: project, last heartbeat, state and last event."""
    rows = service.instances(open_ledger(read_only=True), settings_with(stale_timeout_s=stale_timeout_s))
    if json_output:
        for row in rows:
            write_json_line(row)
        return
    if not rows:
        write_error_line("no instances registered")
        return
    write_table(("INSTANCE", "PROJECT", "STATE", "LAST HEARTBEAT (UTC)", "SEQ", "LAST EVENT"),
                [(r["instance_id"], r["project"], r["state"], (r["last_heartbeat"] or "")[:19].replace("T", " "),
                  r["last_event"]["sequence_num"], r["last_event"]["event_type"]) for r in rows],
                right_aligned=("SEQ",))


@session.command()
@click.option("--stale-timeout", "stale_timeout_s", type=float, metavar="SECONDS",
              help="Silent this long counts as stale (default 120).")
@json_option
def sweep(stale_timeout_s: float | None, json_output: bool) -> None:
    """Record instance_stale once for each instance silent past the timeout."""
    for swept in service.sweep_stale(open_ledger(), settings_with(stale_timeout_s=stale_timeout_s)):
        if json_output:
            write_json_line(swept)
        elif swept.recorded:
            write_line(f"{swept.instance_id}: stale after {swept.silent_seconds:.0f}s of silence")


@session.command()
@click.argument("instance_id")
@click.option("--reason", help="Why the session ended.")
@json_option
def close(instance_id: str, reason: str | None, json_output: bool) -> None:
    """Close INSTANCE_ID: it takes no more events."""
    print_recorded(service.close(open_ledger(), instance_id, reason, from_environment()), json_output)


@session.command()
@click.argument("instance_id")
@click.option("-t", "--type", "event_type", multiple=True, metavar="TYPE", help="Only this type (repeatable).")
@click.option("--start-date", "start_date", metavar="DATE", help="From this date/time (inclusive; no zone: UTC).")
@click.option("--end-date", "end_date", metavar="DATE", help="Up to this date/time (inclusive; a date: its end).")
@click.option("-k", "--keyword", help="Case-insensitive, in the type, data and metadata.")
@click.option("--limit", type=int, default=100, show_default=True, help="1 to 1000 (clamped).")
@click.option("--offset", type=int, default=0, help="Skip this many matching events.")
@click.option("--cursor", help="The next_cursor printed by the previous page.")
@catalog_option
@json_option
def query(instance_id: str, event_type: tuple[str, ...], start_date: str | None, end_date: str | None,
          keyword: str | None, limit: int, offset: int, cursor: str | None, catalog_path: str | None,
          json_output: bool) -> None:
    """INSTANCE_ID's events in sequence order, filtered."""
    found = service.query(open_ledger(read_only=True), instance_id, list(event_type) or None, start_date, end_date,
                          keyword, None, limit, offset, cursor, settings_with(catalog_path=catalog_path))
    if json_output:
        write_json_line(found)
        return
    for event in found.events:
        write_line(f"#{event['sequence_num']:<6} {event['timestamp'][:19].replace('T', ' ')}  "
                   f"{event['event_type']:<24} {one_line(codec.encode_json(event['event_data']).decode(), 80)}")
    more = f"; next page: --cursor {found.next_cursor}" if found.next_cursor else ""
    write_error_line(f"{len(found.events)} of {found.total_count} matching events{more}")


@session.command()
@click.argument("instance_id")
@click.option("--to", "to_sequence_num", type=int, metavar="N", help="Replay up to sequence N (inclusive).")
@json_option
def replay(instance_id: str, to_sequence_num: int | None, json_output: bool) -> None:
    """INSTANCE_ID's state rebuilt from its events (as JSON)."""
    write_json_line(service.replay(open_ledger(read_only=True), instance_id, to_sequence_num))


@session.command()
@click.argument("instance_id")
@json_option
def resume(instance_id: str, json_output: bool) -> None:
    """Where INSTANCE_ID left off, and what to do next."""
    found = service.resume(open_ledger(read_only=True), instance_id)
    if json_output:
        write_json_line(found)
        return
    write_line(found["sentence"] or "Nothing to report.")
    write_line(f"{found['instance_id']} ({found['project']}): {found['state']}, sequence {found['sequence_num']}, "
               f"last {found['last_event_type']} at {found['latest_timestamp']}")
    for title in ("finished", "failed", "open"):
        if found[title]:
            write_line(f"{title}: " + ", ".join(f"{item['kind']} {item['id']}" for item in found[title]))
    for step in found["next_steps"]:
        write_line(f"next: {step}")


@session.command()
@click.argument("instance_id", required=False)
@json_option
def stats(instance_id: str | None, json_output: bool) -> None:
    """Counts per type, epic failure rate and p50/p95 of recorded durations (one instance or all)."""
    found = service.stats(open_ledger(read_only=True), instance_id)
    if json_output:
        write_json_line(found)
        return
    epics = found["epics"]
    rate = "n/a" if epics["failure_rate"] is None else f"{epics['failure_rate']:.1%}"
    write_line(f"{found['total_events']} events in {found['instances']} instance(s); {epics['count']} epics, "
               f"{epics['completed']} completed, {epics['failed']} failed (failure rate {rate})")
    write_table(("TYPE", "EVENTS"), sorted(found["event_type_counts"].items()), right_aligned=("EVENTS",))
    if found["durations"]:
        write_table(("DURATION", "COUNT", "P50", "P95", "MAX"),
                    [(name, d["count"], d["p50"], d["p95"], d["max"]) for name, d in found["durations"].items()],
                    right_aligned=("COUNT", "P50", "P95", "MAX"))
    for epic in epics["most_failed"]:
        write_line(f"failed {epic['failed']}x: {epic['epic_id']}")


@session.command()
@catalog_option
@json_option
def types(catalog_path: str | None, json_output: bool) -> None:
    """The event catalog: every type, its category and fields (with their kinds)."""
    listing = service.event_types(settings_with(catalog_path=catalog_path), with_field_kinds=True)
    if json_output:
        for item in listing:
            write_json_line(item)
        return
    write_table(("TYPE", "CATEGORY", "REQUIRED", "OPTIONAL"),
                [(item["type"] + ("" if item["enabled"] else " (off)"), item["category"],
                  ", ".join(f"{n}:{item['field_kinds'][n]}" for n in item["required_fields"]),
                  ", ".join(item["optional_fields"])) for item in listing])


@session.command("retention")
@click.option("--max-age", "max_age", metavar="AGE", help="Archive events older than this (default 90d).")
@click.option("--heartbeat-max-age", "heartbeat_max_age", metavar="AGE",
              help="Archive heartbeats older than this (default 7d).")
@click.option("--apply", "apply_now", is_flag=True, help="Archive them (default: only report what is due).")
@click.option("--archive-dir", "directory", metavar="DIR", help="Where archive segments go (see chronik retention).")
@json_option
def retention_command(max_age: str | None, heartbeat_max_age: str | None, apply_now: bool, directory: str | None,
                      json_output: bool) -> None:
    """The pack's retention: archive (never delete) instance events older than 90 days and
    heartbeats older than 7 days, keeping each instance's last heartbeat, checkpoint and epic
    events and its newest event live."""
    policy = retention.SessionRetention(
        max_age_s=retention.duration_s(max_age, "max_age", retention.DEFAULT_MAX_AGE_S),
        heartbeat_max_age_s=retention.duration_s(heartbeat_max_age, "heartbeat_max_age",
                                                 retention.DEFAULT_HEARTBEAT_MAX_AGE_S))
    report = retention.apply(open_ledger(), policy, dry_run=not apply_now, directory=directory)
    if json_output:
        write_json_line(report)
        return
    verb = "archived" if apply_now else "due (dry run; --apply archives them)"
    count = report["archived"] if apply_now else report["due"]
    write_line(f"{count} instance events {verb}, from {len(report['instances'])} instance(s)")

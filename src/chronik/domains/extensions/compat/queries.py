"""Sindri's own read semantics on parsed lines (REFERENCE.md section 1, testdata/sindri oracles).

latest status = greatest timestamp at nanosecond precision, ties to the first line; history =
the last N lines of an extension in file order; query with reverse + limit = the last N matching
lines in file order; compaction keeps a line newer than now - days or the latest of its extension.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from chronik.domains.extensions.compat.lines import (
    BadLine,
    Contents,
    Entry,
    bad_line,
    decode_entry,
    envelope_dict,
    numbered_lines,
    parse_lines,
)
from chronik.domains.extensions.timekeys import iso_seconds, key_to_text, time_key


class LatestStatus(msgspec.Struct, frozen=True):
    """Sindri's ExtensionStatus."""

    extension_name: str
    current_state: str
    last_event_time: str
    last_event_id: str
    version: str | None


def latest_entries(entries: Iterable[Entry]) -> dict[str, Entry]:
    """Each extension's event with the greatest timestamp; among equal ones the first line."""
    latest: dict[str, Entry] = {}
    for entry in entries:
        name = entry.envelope.extension_name
        current = latest.get(name)
        if current is None or entry.key > current.key:
            latest[name] = entry
    return latest


def latest_status(entries: Iterable[Entry]) -> dict[str, LatestStatus]:
    """get_all_latest_status(), sorted by name."""
    latest = latest_entries(entries)
    return {name: LatestStatus(name, entry.envelope.state_after, key_to_text(entry.key),
                               entry.envelope.event_id, entry.version)
            for name, entry in sorted(latest.items())}


class _Light(msgspec.Struct, frozen=True, gc=False):
    timestamp: str
    extension_name: str


_decode_light = msgspec.json.Decoder(list[_Light | None]).decode
_decode_light_line = msgspec.json.Decoder(_Light).decode


class Latest(msgspec.Struct, frozen=True):
    """What status needs: each extension's latest entry (fully validated) and event count."""

    entries: dict[str, Entry]
    counts: dict[str, int]
    bad: list[BadLine]


def scan_latest(data: bytes) -> Latest:
    """latest_entries() without decoding every event in full: read only timestamp and name of
    each line, then validate the winners; if a winner is malformed, fall back to a full parse.
    Lines whose timestamp or name cannot be read are reported; doctor validates every line."""
    numbered = numbered_lines(data)
    light: list[_Light | None]
    try:
        light = _decode_light(b"[" + b",".join(raw for _, raw in numbered) + b"]")
    except (msgspec.DecodeError, msgspec.ValidationError):
        light = [None] * len(numbered)
    best: dict[str, tuple[str, int]] = {}
    counts: dict[str, int] = {}
    bad: list[BadLine] = []
    for index, item in enumerate(light):
        number, raw = numbered[index]
        if item is None:
            try:
                item = _decode_light_line(raw)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                bad.append(bad_line(number, str(exc), raw))
                continue
        stamp = item.timestamp
        key = stamp[:29] if len(stamp) == 30 and stamp[29] == "Z" and stamp[19] == "." else time_key(stamp)
        if key is None:
            bad.append(bad_line(number, f"timestamp {stamp!r} is not an RFC 3339 time", raw))
            continue
        name = item.extension_name
        counts[name] = counts.get(name, 0) + 1
        current = best.get(name)
        if current is None or key > current[0]:
            best[name] = (key, index)
    entries: dict[str, Entry] = {}
    for name, (key, index) in best.items():
        entry = decode_entry(*numbered[index])
        if entry is None or entry.key != key or entry.name != name:
            contents = parse_lines(data)  # a malformed winner: the exact answer needs every line
            full_counts: dict[str, int] = {}
            for each in contents.entries:
                full_counts[each.name] = full_counts.get(each.name, 0) + 1
            return Latest(latest_entries(contents.entries), full_counts, contents.bad)
        entries[name] = entry
    return Latest(entries, counts, bad)


def history(entries: Sequence[Entry], name: str, limit: int | None = None) -> list[Entry]:
    """get_extension_history(name, limit): the last `limit` events of `name` in file order."""
    found = [entry for entry in entries if entry.envelope.extension_name == name]
    return found if limit is None else found[max(len(found) - limit, 0):]


def query(entries: Sequence[Entry], extension_name: str | None = None, event_types: Sequence[str] | None = None,
          since: str | None = None, until: str | None = None, limit: int | None = None,
          reverse: bool = False) -> list[Entry]:
    """query_events: filters ANDed, inclusive time bounds (keys), file order; with a limit,
    `reverse` keeps the last N (still in file order), else the first N."""
    types = None if event_types is None else frozenset(event_types)
    found = [entry for entry in entries
             if (extension_name is None or entry.envelope.extension_name == extension_name)
             and (types is None or entry.type in types)
             and (since is None or entry.key >= since)
             and (until is None or entry.key <= until)]
    if limit is None:
        return found
    return found[max(len(found) - limit, 0):] if reverse else found[:limit]


def stats(contents: Contents) -> dict[str, Any]:
    """get_stats(): totals, file size, oldest/newest by time (not by line), counts per type."""
    keys = [entry.key for entry in contents.entries]
    counts: dict[str, int] = {}
    for entry in contents.entries:
        counts[entry.type] = counts.get(entry.type, 0) + 1
    return {"total_events": len(contents.entries), "file_size_bytes": contents.size_bytes,
            "oldest_timestamp": key_to_text(min(keys)) if keys else None,
            "newest_timestamp": key_to_text(max(keys)) if keys else None,
            "event_type_counts": dict(sorted(counts.items())), "bad_lines": len(contents.bad)}


def export_text(entries: Iterable[Entry]) -> str:
    """export: a pretty JSON array of every envelope in file order (serde_json's pretty form)."""
    return json.dumps([envelope_dict(entry) for entry in entries], indent=2, ensure_ascii=False)


def compact_keep(entries: Sequence[Entry], retention_days: int, now_key: str) -> list[bool]:
    """Which entries compact(days) keeps: newer than now - days, or the latest of their extension."""
    cutoff = minus_days(now_key, retention_days)
    latest_ids = {entry.envelope.event_id for entry in latest_entries(entries).values()}
    return [entry.key >= cutoff or entry.envelope.event_id in latest_ids for entry in entries]


def minus_days(key: str, days: int) -> str:
    moment = datetime.strptime(key[:19], "%Y-%m-%dT%H:%M:%S") - timedelta(days=days)
    return f"{iso_seconds(moment)}.{key[20:]}"

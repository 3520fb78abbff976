"""Retention: per-category policies that move old events from the live store into archives.

A policy (kept in the ledger itself, auxiliary records of kind `chronik.retention` keyed by
category) has `max_age_s` (archive events older than this), `max_count` (keep at most this many
live events per stream) and `keep_latest` (never archive a stream's newest event). An event is
due when either limit says so. Two rules keep the live store consistent whatever the policy:
only a prefix of each stream is archived (its live versions stay contiguous), and the ledger's
head event is never archived (the next append links to it).

`apply_retention` runs, under an exclusive lock on `<archive dir>/.lock`:

1. recover: finish what an interrupted run left (remove the events of recorded manifests that
   are still live; record a manifest whose file was written but not recorded; delete
   temporary files and segments without a manifest, whose events are still live);
2. plan: read each policy's category and pick the due events;
3. for each segment (at most SEGMENT_MAX_EVENTS events): write the gzip segment and its
   manifest, fsynced with the directory, record the manifest in the ledger, and only then
   remove the events from the live store (in batches of `remove_batch`), then mark it removed.

Appends by other processes go on meanwhile: removal names positions, so it never touches an
event that was not archived. A crash anywhere leaves every event live, archived, or both
(until the next run finishes the removal); never neither.
"""

from __future__ import annotations

import enum
import fcntl
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from chronik import codec
from chronik.errors import StorageError, ValidationError
from chronik.fileio import REAL, FileSystem
from chronik.lifecycle.archive import CONFIG_KIND as ARCHIVE_CONFIG_KIND
from chronik.lifecycle.archive import (
    MANIFEST_SUFFIX,
    SEGMENT_MAX_EVENTS,
    SEGMENT_SUFFIX,
    CrashHook,
    Manifest,
    archive_dir,
    make_directory,
    manifests,
    read_segment,
    record_manifest,
    set_archive_dir,
    write_segment,
)
from chronik.model import Event, Filter
from chronik.rules import read_filter
from chronik.stores.base import AuxChange, Store, StoreOwner, limits_of, store_of

POLICY_KIND = "chronik.retention"
# Positions per remove_events call (SQL stores delete in batches; JSON Lines rewrites per call).
REMOVE_BATCH = 10_000
CATEGORY_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_DURATION = re.compile(r"(\d+)([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}

Progress = Callable[[int, int], None]
# planner(source, now, limit) -> {category: due events}: the policies' `plan`, or a domain pack's
# own rules (chronik.domains.sessions.retention); called under the archive lock, after recovery.
Planner = Callable[[Store | StoreOwner, datetime | None, int | None], dict[str, list[Event]]]


class Policy(msgspec.Struct, frozen=True, omit_defaults=True):
    category: str
    max_age_s: int | None = None
    max_count: int | None = None
    keep_latest: bool = True


class SegmentReport(msgspec.Struct, frozen=True):
    name: str
    first_position: int
    last_position: int
    count: int


class RetentionReport(msgspec.Struct):
    dry_run: bool
    archive_dir: str
    due: dict[str, int]  # category -> events due
    segments: list[SegmentReport] = []
    archived: int = 0
    removed: int = 0
    recovered: list[str] = []


def parse_duration(text: str) -> int:
    """'90d', '12h', '30m', '45s', '2w' (or plain seconds) as seconds."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    match = _DURATION.fullmatch(text)
    if not match:
        raise ValidationError("max_age", f"{text!r} is not a duration", "write e.g. 90d, 12h, 30m or 45s")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def format_duration(seconds: int) -> str:
    """The inverse of parse_duration: 7776000 -> '90d', 5400 -> '90m' (the largest whole unit)."""
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNIT_S[unit] == 0:
            return f"{seconds // _UNIT_S[unit]}{unit}"
    return f"{seconds}s"


# ---------------------------------------------------------------- policies


def policies(source: Store | StoreOwner) -> list[Policy]:
    return [msgspec.json.decode(value, type=Policy) for _, value in store_of(source).aux_range(POLICY_KIND)]


class Unchanged(enum.Enum):
    """The value of a `set_policy` argument that was not given: keep what the policy has."""

    KEEP = "keep"


KEEP = Unchanged.KEEP


def set_policy(source: Store | StoreOwner, category: str, max_age_s: int | None | Unchanged = KEEP,
               max_count: int | None | Unchanged = KEEP, keep_latest: bool | Unchanged = KEEP) -> Policy:
    """Set `category`'s policy by merging into the one it has: an argument not given (KEEP)
    keeps its current value, or the default for a new policy (no limit; keep_latest True);
    None clears a limit. At least one limit must remain; `remove_policy` drops the policy.
    Returns the policy now in force."""
    if not isinstance(category, str) or not CATEGORY_PATTERN.fullmatch(category):
        raise ValidationError("category", f"{category!r} is not a category",
                              "use the text before ':' in stream names, e.g. workflow")
    if isinstance(max_age_s, int) and max_age_s < 0:
        raise ValidationError("max_age", "must not be negative")
    if isinstance(max_count, int) and max_count < 1:
        raise ValidationError("max_count", "must be at least 1")
    current = policy_of(source, category) or Policy(category)
    policy = Policy(category,
                    current.max_age_s if max_age_s is KEEP else max_age_s,
                    current.max_count if max_count is KEEP else max_count,
                    current.keep_latest if keep_latest is KEEP else keep_latest)
    if policy.max_age_s is None and policy.max_count is None:
        raise ValidationError("max_age", f"the {category} policy would have no limit: neither a maximum "
                              "age nor a maximum count", "give a maximum age, a maximum count or both; "
                              "to drop the policy, remove it")
    store_of(source).aux_write([AuxChange(POLICY_KIND, category, msgspec.json.encode(policy))])
    return policy


def policy_of(source: Store | StoreOwner, category: str) -> Policy | None:
    """`category`'s policy, or None when it has none."""
    value = store_of(source).aux_get(POLICY_KIND, category)
    return None if value is None else msgspec.json.decode(value, type=Policy)


def remove_policy(source: Store | StoreOwner, category: str) -> None:
    store_of(source).aux_write([AuxChange(POLICY_KIND, category, None)])


# ---------------------------------------------------------------- planning


def plan(source: Store | StoreOwner, now: datetime | None = None, limit: int | None = None) -> dict[str, list[Event]]:
    """The events due under each policy, per category, in position order."""
    now = now or datetime.now(UTC)
    store = store_of(source)
    head = store.head().position
    due: dict[str, list[Event]] = {}
    for policy in policies(source):
        cutoff = None if policy.max_age_s is None else \
            codec.format_time(now - timedelta(seconds=policy.max_age_s))
        by_stream: dict[str, list[Event]] = {}
        category = read_filter(Filter(categories=[policy.category]), limits_of(source))
        for event in store.read_all(0, None, category, head):
            by_stream.setdefault(event.stream, []).append(event)
        chosen: list[Event] = []
        for events in by_stream.values():
            chosen.extend(_due_prefix(events, policy, cutoff, head))
        due[policy.category] = sorted(chosen, key=lambda e: e.position)[:limit]
    return due


def _due_prefix(events: list[Event], policy: Policy, cutoff: str | None, head: int) -> list[Event]:
    """The leading events of one stream (version order) that the policy makes due."""
    keep_from = len(events) - 1 if policy.keep_latest else len(events)
    over_count = len(events) - policy.max_count if policy.max_count is not None else 0
    prefix = []
    for index, event in enumerate(events[:keep_from]):
        aged = cutoff is not None and event.time < cutoff
        if not (aged or index < over_count) or event.position >= head:
            break
        prefix.append(event)
    return prefix


# ---------------------------------------------------------------- applying


def apply_retention(source: Store | StoreOwner, dry_run: bool = False, directory: str | None = None,
                    now: datetime | None = None, files: FileSystem = REAL,
                    crash: CrashHook | None = None, remove_batch: int = REMOVE_BATCH,
                    segment_events: int = SEGMENT_MAX_EVENTS, progress: Progress | None = None,
                    limit: int | None = None, planner: Planner | None = None) -> RetentionReport:
    """Archive and remove the due events (module docstring). `crash(point)` is called at the
    named points archive_written, archive_fsynced, manifest_written, mid_delete, deleted, done
    (tests kill the process there)."""
    crash = crash or (lambda point: None)
    where = archive_dir(source, directory)
    if dry_run:
        due = (planner or plan)(source, now, limit)
        return RetentionReport(True, str(where), {c: len(e) for c, e in due.items()})
    make_directory(where, files)
    if directory and store_of(source).aux_get(ARCHIVE_CONFIG_KIND, "archive_dir") is None:
        set_archive_dir(source, directory)  # so verify, replay and archive find it later
    with _archive_lock(where):
        report = RetentionReport(False, str(where), {})
        report.recovered = recover(source, where, files, remove_batch)
        due = (planner or plan)(source, now, limit)
        report.due = {c: len(e) for c, e in due.items()}
        chosen = sorted((e for events in due.values() for e in events), key=lambda e: e.position)
        if progress is not None:
            progress(0, len(chosen))  # the total is known before the first segment
        created = codec.format_time(now or datetime.now(UTC))
        for start in range(0, len(chosen), segment_events):
            batch = chosen[start:start + segment_events]
            manifest = write_segment(where, batch, created, files, crash)
            record_manifest(store_of(source), manifest)
            crash("manifest_written")
            report.removed += _remove(source, manifest, remove_batch, crash)
            crash("deleted")
            record_manifest(store_of(source), msgspec.structs.replace(manifest, removed=True))
            crash("done")
            report.archived += manifest.count
            report.segments.append(SegmentReport(manifest.name, manifest.first_position,
                                                 manifest.last_position, manifest.count))
            if progress is not None:
                progress(report.archived, len(chosen))
        return report


def _remove(source: Store | StoreOwner, manifest: Manifest, remove_batch: int, crash: CrashHook) -> int:
    positions = list(manifest.positions())
    removed = 0
    for start in range(0, len(positions), remove_batch):
        removed += store_of(source).remove_events(positions[start:start + remove_batch])
        if start + remove_batch < len(positions):
            crash("mid_delete")
    return removed


def recover(source: Store | StoreOwner, where: Path, files: FileSystem = REAL, remove_batch: int = REMOVE_BATCH) -> list[str]:
    """Finish or undo what an interrupted run left behind; returns what was done."""
    done: list[str] = []
    recorded = {m.name: m for m in manifests(store_of(source))}
    for path in sorted(where.iterdir()):
        name = path.name
        if name.endswith(".tmp"):
            files.unlink(str(path))
            done.append(f"deleted the unfinished file {name}")
        elif name.endswith(MANIFEST_SUFFIX) and name[:-len(MANIFEST_SUFFIX)] not in recorded:
            manifest = msgspec.json.decode(path.read_bytes(), type=Manifest)
            list(read_segment(where, manifest))  # raises IntegrityError unless the segment is whole
            record_manifest(store_of(source), manifest)
            recorded[manifest.name] = manifest
            done.append(f"recorded the manifest of {manifest.name}")
    for path in sorted(where.glob("segment-*" + SEGMENT_SUFFIX)):
        name = path.name[:-len(SEGMENT_SUFFIX)]
        if name not in recorded:  # written, never recorded: its events were never removed
            files.unlink(str(path))
            done.append(f"deleted the unrecorded segment {path.name} (its events are live)")
    for manifest in recorded.values():
        if not manifest.removed:
            count = _remove(source, manifest, remove_batch, lambda point: None)
            record_manifest(store_of(source), msgspec.structs.replace(manifest, removed=True))
            done.append(f"finished removing {count} archived events of {manifest.name}")
    return done


class _archive_lock:
    """One retention run per archive directory at a time (flock on `<dir>/.lock`)."""

    def __init__(self, where: Path) -> None:
        self.path = str(where / ".lock")

    def __enter__(self) -> None:
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as exc:
            raise StorageError(f"cannot lock {self.path}: {exc}") from exc

    def __exit__(self, *exc_info: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)

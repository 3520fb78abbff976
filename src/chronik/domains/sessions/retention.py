"""The pack's retention (the plan: 90 days, old events compressed to cold storage), through
chronik's retention (chronik.lifecycle.retention): due events are moved into gzip archive
segments, never deleted, and `verify --include-archive` still checks them.

The rules, per instance stream (of which, as of every stream, only a prefix is ever archived,
so its live events stay contiguous): an event is due when it is older than `max_age_s` (90 days), or is a heartbeat older
than `heartbeat_max_age_s` (7 days); archiving stops at the first event that is not due, and at
the last event of each type resuming needs (the last heartbeat, checkpoint created and loaded,
epic started, completed and failed), which are never archived, nor is a stream's newest event.

Before anything is archived each affected instance's state is saved as a snapshot at its newest
event, so replay and resume keep working from the live store alone; a replay to a sequence
number inside the archived past reads the archive (instances.replayed_state).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from chronik import codec
from chronik.domains.sessions.events import STREAM_CATEGORY
from chronik.domains.sessions.reducer import INSTANCE_REDUCER
from chronik.errors import ValidationError
from chronik.ledger import Ledger
from chronik.model import Event, Filter

DAY_S = 86_400
DEFAULT_MAX_AGE_S = 90 * DAY_S
DEFAULT_HEARTBEAT_MAX_AGE_S = 7 * DAY_S
KEEP_LAST = ("instance_heartbeat", "checkpoint_created", "checkpoint_loaded", "epic_started", "epic_completed",
             "epic_failed")


class SessionRetention(msgspec.Struct, frozen=True, kw_only=True):
    max_age_s: int = DEFAULT_MAX_AGE_S
    heartbeat_max_age_s: int = DEFAULT_HEARTBEAT_MAX_AGE_S

    def __post_init__(self) -> None:
        for field in ("max_age_s", "heartbeat_max_age_s"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(field, f"{value!r} is not a number of seconds", "use 0 or more, e.g. 90d")


DEFAULT_POLICY = SessionRetention()


def duration_s(text: str | None, field: str, default: int) -> int:
    """'90d', '12h', '30m', '45s', '2w' or plain seconds (None: `default`)."""
    from chronik.lifecycle.retention import parse_duration

    if text is None:
        return default
    try:
        return parse_duration(text)
    except ValidationError as error:
        raise ValidationError(field, error.problem, error.fix) from None


def due_events(ledger: Ledger, policy: SessionRetention, now: datetime | None = None) -> dict[str, list[Event]]:
    """The events the pack's rules make due, per category ({"instance": [...]}), by position."""
    moment = now or datetime.now(UTC)
    cutoff = codec.format_time(moment - timedelta(seconds=policy.max_age_s))
    heartbeat_cutoff = codec.format_time(moment - timedelta(seconds=policy.heartbeat_max_age_s))
    head = ledger.head().position
    by_stream: dict[str, list[Event]] = {}
    for event in ledger.read_all(filter=Filter(categories=[STREAM_CATEGORY])):
        by_stream.setdefault(event.stream, []).append(event)
    chosen: list[Event] = []
    for events in by_stream.values():
        chosen.extend(_due_prefix(events, cutoff, heartbeat_cutoff, head))
    return {STREAM_CATEGORY: sorted(chosen, key=lambda e: e.position)}


def _due_prefix(events: list[Event], cutoff: str, heartbeat_cutoff: str, head: int) -> list[Event]:
    last_of_type = {event.type: event.version for event in events}
    protected = {last_of_type[kind] for kind in KEEP_LAST if kind in last_of_type}
    prefix = []
    for event in events[:-1]:  # the newest event of a stream stays
        if event.version in protected or event.position >= head:
            break
        aged = event.time < cutoff or (event.type == "instance_heartbeat" and event.time < heartbeat_cutoff)
        if not aged:
            break
        prefix.append(event)
    return prefix


def apply(ledger: Ledger, policy: SessionRetention | None = None, dry_run: bool = True,
          directory: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Archive the due events (only report them with `dry_run`): how many, per instance."""
    from chronik.lifecycle.retention import apply_retention

    policy = policy or DEFAULT_POLICY
    due = due_events(ledger, policy, now)[STREAM_CATEGORY]
    per_instance: dict[str, int] = {}
    for event in due:
        key = event.stream.partition(":")[2]
        per_instance[key] = per_instance.get(key, 0) + 1
    result: dict[str, Any] = {"dry_run": dry_run, "due": len(due), "instances": per_instance,
                              "max_age_s": policy.max_age_s, "heartbeat_max_age_s": policy.heartbeat_max_age_s}
    if dry_run or not due:
        return {**result, "archived": 0}
    for instance_id in per_instance:  # replay and resume must not need the archive afterwards
        ledger.snapshot(f"{STREAM_CATEGORY}:{instance_id}", INSTANCE_REDUCER)
    report = apply_retention(ledger, directory=directory, now=now,
                             planner=lambda _source, when, _limit: due_events(ledger, policy, when))
    return {**result, "archived": report.archived, "archive_dir": report.archive_dir,
            "segments": [segment.name for segment in report.segments]}

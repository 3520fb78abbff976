"""Instances: register, heartbeat (coalesced), close, the stale sweep, and the listing.

Each instance is the stream `instance:ID`; its version is the real system's `sequence_num`, so
numbers are gap-free and two emits can never get the same one (the store assigns them under its
write lock; the real system read `max + 1` and inserted without a lock).

Heartbeats: a beat is recorded as `instance_heartbeat` only when no heartbeat was recorded in the
last `heartbeat_interval_s` (or the instance is stale, so the beat revives it); otherwise it is
coalesced into the recorded one and writes nothing. The decision reads the newest events of the
stream and the append expects the version it read, so two beats racing write at most one event.

The stale sweep records `instance_stale` for each instance whose newest event is older than the
timeout, expecting the version it saw: of two sweeps at once, one records it and the other gets
a conflict and records nothing, and a later sweep sees `instance_stale` as the newest event and
leaves the instance alone until it shows life again. So: exactly one per silence.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from chronik import codec
from chronik.domains.sessions.events import (
    STREAM_CATEGORY,
    check_instance_id,
    check_project,
    instance_stream,
    project_of,
)
from chronik.domains.sessions.reducer import INSTANCE_REDUCER
from chronik.domains.sessions.settings import DEFAULT_SETTINGS, Settings
from chronik.errors import ConcurrencyError, IntegrityError, StorageError, ValidationError
from chronik.ledger import Ledger
from chronik.model import Event, Expect, NewEvent

MAX_ATTEMPTS = 50  # appends that lost a race to another writer of the same stream, then give up
GENERATED_ID_ATTEMPTS = 8
HEARTBEAT_SCAN = (8, 1_000)
LISTING_PAGES = (32, 256, 2_048, 16_384, 131_072, 2**62)  # events read back at a time for the listing  # newest events read to find the last heartbeat: first try, then more
CLOSED, STALE, ACTIVE = "closed", "stale", "active"
NOT_REGISTERED_FIX = ("register it first: mcp_meta_register_instance(project=...) or "
                      "`chronik session register PROJECT`, and use the instance_id it returns")


class Recorded(msgspec.Struct, frozen=True, kw_only=True):
    """An event as an instance records it (the real system's emit result, plus its type)."""

    instance_id: str
    event_id: str
    sequence_num: int
    timestamp: str
    event_type: str
    recorded: bool = True  # False: a heartbeat coalesced into the recorded one named here


def now_utc() -> datetime:
    return datetime.now(UTC)


def last_event(ledger: Ledger, instance_id: str) -> Event:
    """The newest event of a registered instance; ValidationError (instance_id) if there is none."""
    found = next(ledger.read_stream(instance_stream(instance_id), backwards=True, limit=1), None)
    if found is None:
        raise ValidationError("instance_id", f"no instance {instance_id!r} is registered", NOT_REGISTERED_FIX)
    return found


def refuse_closed(instance_id: str, newest: Event) -> None:
    if newest.type == "instance_closed":
        raise ValidationError("instance_id", f"instance {instance_id!r} is closed",
                              "register a new instance (mcp_meta_register_instance) to record more")


def recorded(ledger: Ledger, instance_id: str, version: int, *, coalesced: bool = False) -> Recorded:
    """What an append recorded, read back (the ledger assigns the time)."""
    event = next(ledger.read_stream(instance_stream(instance_id), start=version, end=version), None)
    if event is None:  # appended a moment ago: only retention of the head could remove it, and it never does
        raise StorageError(f"instance:{instance_id} version {version} was recorded but cannot be read back")
    return Recorded(instance_id=instance_id, event_id=event.id, sequence_num=event.version,
                    timestamp=event.time, event_type=event.type, recorded=not coalesced)


def register(ledger: Ledger, project: str | None = None, instance_id: str | None = None,
             details: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None,
             settings: Settings = DEFAULT_SETTINGS) -> Recorded:
    """Register an instance: `instance_id` as given, or `<project>-PS-<6 hex>`. Records
    instance_registered (with `details`: host, pid, model, working_directory, agent) as
    sequence 1. A given id that is already registered is refused."""
    if project is None and instance_id is None:
        raise ValidationError("project", "is missing", "give the project name (or an instance_id to register)")
    if instance_id is not None:
        check_instance_id(instance_id)
        project = project if project is not None else project_of(instance_id)
        if project is None:
            raise ValidationError("project", "is missing and the instance_id names none",
                                  "give the project, or an id like odin-PS-8f4a2b")
    project = check_project(project)
    checked = settings.catalog.check("instance_registered", {**(details or {}), "project": project}, metadata,
                                     settings.max_event_bytes)
    for _attempt in range(GENERATED_ID_ATTEMPTS):
        chosen = instance_id or f"{project}-PS-{secrets.token_hex(3)}"
        try:
            result = ledger.append(instance_stream(chosen), [NewEvent(checked.type, checked.data, checked.meta)],
                                   expect=Expect.NO_STREAM)
        except ConcurrencyError:
            if instance_id is not None:
                raise ValidationError("instance_id", f"{instance_id!r} is already registered",
                                      "send heartbeats or events to it, or register without an id for a "
                                      "new one") from None
            continue  # a generated id that exists (1 in 16 million): draw another
        return recorded(ledger, chosen, result.version)
    raise StorageError(f"no free instance id for project {project!r} after {GENERATED_ID_ATTEMPTS} tries")


def heartbeat(ledger: Ledger, instance_id: str, event_data: dict[str, Any] | None = None,
              metadata: dict[str, Any] | None = None, settings: Settings = DEFAULT_SETTINGS,
              now: datetime | None = None) -> Recorded:
    """Record instance_heartbeat, or coalesce this beat into the one recorded within
    `heartbeat_interval_s` (then `recorded` is False and the result names that event)."""
    check_instance_id(instance_id)
    checked = settings.catalog.check("instance_heartbeat", {} if event_data is None else event_data, metadata,
                                     settings.max_event_bytes)
    stream = instance_stream(instance_id)
    for _attempt in range(MAX_ATTEMPTS):
        moment = now or now_utc()
        newest = last_event(ledger, instance_id)
        refuse_closed(instance_id, newest)
        recent = _recent_heartbeat(ledger, stream, moment - timedelta(seconds=settings.heartbeat_interval_s))
        if recent is not None:
            return recorded(ledger, instance_id, recent.version, coalesced=True)
        try:
            result = ledger.append(stream, [NewEvent(checked.type, checked.data, checked.meta)],
                                   expect=newest.version)
        except ConcurrencyError:
            continue  # something was recorded meanwhile (perhaps a heartbeat): decide again
        return recorded(ledger, instance_id, result.version)
    raise ConcurrencyError(stream, "a quiet moment to record a heartbeat", None)


def _recent_heartbeat(ledger: Ledger, stream: str, since: datetime) -> Event | None:
    """The heartbeat recorded at or after `since` that a beat now coalesces into, or None when
    the beat must be recorded (none that recent, or the instance went stale after it)."""
    cutoff = codec.format_time(since)
    for limit in HEARTBEAT_SCAN:
        scanned = 0
        for event in ledger.read_stream(stream, backwards=True, limit=limit):
            scanned += 1
            if event.type == "instance_stale":
                return None
            if event.time < cutoff:
                return None
            if event.type == "instance_heartbeat":
                return event
        if scanned < limit:
            return None
    return None


def close(ledger: Ledger, instance_id: str, reason: str | None = None,
          settings: Settings = DEFAULT_SETTINGS) -> Recorded:
    """Record instance_closed: the instance takes no more events."""
    check_instance_id(instance_id)
    checked = settings.catalog.check("instance_closed", {} if reason is None else {"reason": reason})
    for _attempt in range(MAX_ATTEMPTS):
        newest = last_event(ledger, instance_id)
        refuse_closed(instance_id, newest)
        try:
            result = ledger.append(instance_stream(instance_id), [NewEvent(checked.type, checked.data)],
                                   expect=newest.version)
        except ConcurrencyError:
            continue
        return recorded(ledger, instance_id, result.version)
    raise ConcurrencyError(instance_stream(instance_id), "a quiet moment to close", None)


class Swept(msgspec.Struct, frozen=True):
    instance_id: str
    silent_seconds: float
    recorded: bool  # False: another sweep (or new activity) got there first


def sweep_stale(ledger: Ledger, settings: Settings = DEFAULT_SETTINGS, now: datetime | None = None) -> list[Swept]:
    """Record instance_stale for every instance silent for longer than the stale timeout."""
    moment = now or now_utc()
    timeout = settings.stale_timeout_s
    swept = []
    for info in ledger.streams(STREAM_CATEGORY):
        if info.last_type in ("instance_stale", "instance_closed"):
            continue
        silent = (moment - codec.parse_time(info.last_time)).total_seconds()
        if silent <= timeout:
            continue
        instance_id = info.stream.partition(":")[2]
        data = {"silent_seconds": round(silent, 3), "last_activity": info.last_time, "timeout_seconds": timeout}
        try:
            ledger.append(info.stream, [NewEvent("instance_stale", data)], expect=info.version)
        except ConcurrencyError:
            swept.append(Swept(instance_id, silent, False))
            continue
        swept.append(Swept(instance_id, silent, True))
    return swept


def instance_states(ledger: Ledger, settings: Settings = DEFAULT_SETTINGS,
                    now: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Every instance: project, registered_at, last heartbeat, state (active / stale / closed:
    stale also when silent past the timeout before a sweep said so) and last event."""
    moment = now or now_utc()
    cutoff = codec.format_time(moment - timedelta(seconds=settings.stale_timeout_s))
    for info in ledger.streams(STREAM_CATEGORY):
        instance_id = info.stream.partition(":")[2]
        known = _cheap_facts(ledger, info.stream, instance_id)
        if known is None:
            state = replayed_state(ledger, instance_id)
            known = {"project": state["project"] or project_of(instance_id), "registered_at": state["registered_at"],
                     "last_heartbeat": state["last_heartbeat"]}
        if info.last_type == "instance_closed":
            status = CLOSED
        elif info.last_type == "instance_stale" or info.last_time < cutoff:
            status = STALE
        else:
            status = ACTIVE
        yield {"instance_id": instance_id, **known, "state": status,
               "last_event": {"event_type": info.last_type, "sequence_num": info.version,
                              "timestamp": info.last_time}}


def _cheap_facts(ledger: Ledger, stream: str, instance_id: str) -> dict[str, Any] | None:
    """Project and registration from the first event, the last heartbeat from the newest ones;
    None when the first event is not the registration (retention archived it: then the caller
    replays, from the snapshot retention left)."""
    first = next(ledger.read_stream(stream, limit=1), None)
    if first is None or first.type != "instance_registered" or first.version != 1:
        return None
    return {"project": first.data.get("project"), "registered_at": first.time,
            "last_heartbeat": last_heartbeat(ledger, stream)}


def last_heartbeat(ledger: Ledger, stream: str) -> str | None:
    """The time of the stream's newest heartbeat, reading back in growing pages (a live instance
    has one within the last heartbeat interval, so usually in the first page)."""
    end: int | None = None
    for limit in LISTING_PAGES:
        read = 0
        for event in ledger.read_stream(stream, end=end, backwards=True, limit=limit):
            read += 1
            if event.type == "instance_heartbeat":
                return event.time
            end = event.version - 1
        if read < limit or end == 0:
            return None
    return None


def replayed_state(ledger: Ledger, instance_id: str, to_version: int | None = None) -> dict[str, Any]:
    """The instance's state (at `to_version`), from its snapshot and live events; when retention
    archived the start of the stream and no snapshot covers it, from the archive too."""
    stream = instance_stream(instance_id)
    if to_version is not None and to_version > 0:
        first = next(ledger.read_stream(stream, limit=1), None)
        if first is not None and first.version > to_version:  # the point asked for is all archived
            archived: dict[str, Any] = ledger.replay(stream, INSTANCE_REDUCER, to_version=to_version,
                                                     include_archive=True).state
            return archived
    try:
        state: dict[str, Any] = ledger.replay(stream, INSTANCE_REDUCER, to_version=to_version).state
    except IntegrityError:  # no snapshot covers the archived start of the stream: read the archive
        state = ledger.replay(stream, INSTANCE_REDUCER, to_version=to_version, include_archive=True).state
    return state

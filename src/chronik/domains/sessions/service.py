"""The agent-session use cases, over a `chronik.Ledger`: one function per thing an agent or a
person asks. Interfaces (tools.py for MCP, cli.py) call these and only format what they return.

    register(ledger, "odin")                     -> Recorded (instance_id odin-PS-8f4a2b, sequence 1)
    heartbeat(ledger, id)                        -> Recorded (recorded=False when coalesced)
    emit(ledger, id, "epic_started", {...})      -> Recorded (event_id, sequence_num, timestamp)
    query(ledger, id, event_type=..., ...)       -> QueryResult (events, total_count, has_more)
    replay(ledger, id, to_sequence_num=None)     -> Replayed (final_state, events_replayed, duration_ms)
    resume(ledger, id)                           -> where it left off, next steps, one sentence
    instances(ledger), sweep_stale(ledger), close(ledger, id), stats(ledger, id), event_types()

Errors are chronik's typed errors naming the argument (`instance_id`, `event_type`,
`event_data.epic_id`, `start_date`, ...) and the fix; nothing is written for a refused call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chronik.domains.sessions import instances as instance_ops
from chronik.domains.sessions import queries
from chronik.domains.sessions import resume as resume_rules
from chronik.domains.sessions.checks import catalog_listing, field_kinds
from chronik.domains.sessions.events import RECORDED_BY, check_instance_id, instance_stream
from chronik.domains.sessions.instances import Recorded, Swept, last_event, recorded, refuse_closed
from chronik.domains.sessions.queries import QueryResult, Replayed
from chronik.domains.sessions.settings import DEFAULT_SETTINGS, Settings
from chronik.errors import ValidationError
from chronik.ledger import Ledger
from chronik.model import Expect, NewEvent

__all__ = ["Recorded", "QueryResult", "Replayed", "Swept", "Settings", "register", "heartbeat", "emit", "close",
           "sweep_stale", "instances", "query", "replay", "state", "resume", "stats", "event_types"]

OPERATION_FIX = {"register": "call mcp_meta_register_instance (or `chronik session register`)",
                 "the stale sweep": "it is recorded by `chronik session sweep` when an instance falls silent",
                 "close": "call session_close (or `chronik session close`)"}


def register(ledger: Ledger, project: str | None = None, instance_id: str | None = None,
             details: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None,
             settings: Settings = DEFAULT_SETTINGS) -> Recorded:
    return instance_ops.register(ledger, project, instance_id, details, metadata, settings)


def heartbeat(ledger: Ledger, instance_id: str, event_data: dict[str, Any] | None = None,
              metadata: dict[str, Any] | None = None, settings: Settings = DEFAULT_SETTINGS,
              now: datetime | None = None) -> Recorded:
    return instance_ops.heartbeat(ledger, instance_id, event_data, metadata, settings, now)


def emit(ledger: Ledger, instance_id: str, event_type: str, event_data: dict[str, Any],
         metadata: dict[str, Any] | None = None, settings: Settings = DEFAULT_SETTINGS) -> Recorded:
    """Record one event of the catalog on the instance, after checking everything (type, required
    fields, field types, lineage, size, the instance). Returns once the event is durable."""
    check_instance_id(instance_id)
    spec = settings.catalog.resolve(event_type)
    if spec.type == "instance_heartbeat":
        return heartbeat(ledger, instance_id, event_data, metadata, settings)
    if spec.type in RECORDED_BY:
        raise ValidationError("event_type", f"{spec.type} is recorded by {RECORDED_BY[spec.type]}",
                              OPERATION_FIX[RECORDED_BY[spec.type]])
    checked = settings.catalog.check(spec.type, event_data, metadata, settings.max_event_bytes)
    refuse_closed(instance_id, last_event(ledger, instance_id))
    # EXISTS: the instance is registered at the moment of the append (not only when we looked);
    # the store assigns the next version under its write lock, so concurrent emits never collide.
    result = ledger.append(instance_stream(instance_id), [NewEvent(checked.type, checked.data, checked.meta)],
                           expect=Expect.EXISTS)
    return recorded(ledger, instance_id, result.version)


def close(ledger: Ledger, instance_id: str, reason: str | None = None,
          settings: Settings = DEFAULT_SETTINGS) -> Recorded:
    return instance_ops.close(ledger, instance_id, reason, settings)


def sweep_stale(ledger: Ledger, settings: Settings = DEFAULT_SETTINGS, now: datetime | None = None) -> list[Swept]:
    return instance_ops.sweep_stale(ledger, settings, now)


def instances(ledger: Ledger, settings: Settings = DEFAULT_SETTINGS, now: datetime | None = None
              ) -> list[dict[str, Any]]:
    return list(instance_ops.instance_states(ledger, settings, now))


def query(ledger: Ledger, instance_id: str, event_type: str | list[str] | None = None,
          start_date: str | None = None, end_date: str | None = None, keyword: str | None = None,
          lineage: dict[str, Any] | None = None, limit: int | None = queries.DEFAULT_LIMIT,
          offset: int | None = 0, cursor: str | None = None, settings: Settings = DEFAULT_SETTINGS) -> QueryResult:
    return queries.query(ledger, instance_id, event_type, start_date, end_date, keyword, lineage, limit, offset,
                         cursor, settings.catalog)


def replay(ledger: Ledger, instance_id: str, to_sequence_num: int | None = None) -> Replayed:
    return queries.replay(ledger, instance_id, to_sequence_num)


def state(ledger: Ledger, instance_id: str) -> dict[str, Any]:
    """The instance's current state (the reducer's, as replay builds it)."""
    last_event(ledger, check_instance_id(instance_id))
    return instance_ops.replayed_state(ledger, instance_id)


def resume(ledger: Ledger, instance_id: str) -> dict[str, Any]:
    """Where the instance left off: what finished, what failed, what is open, the suggested next
    steps and one sentence (resume.py holds the rules)."""
    return resume_rules.summary(state(ledger, instance_id))


def stats(ledger: Ledger, instance_id: str | None = None) -> dict[str, Any]:
    return queries.stats(ledger, instance_id)


def event_types(settings: Settings = DEFAULT_SETTINGS, with_field_kinds: bool = False) -> list[dict[str, Any]]:
    """Every type of the catalog: type, description, category, required and optional fields (and,
    with `with_field_kinds`, each field's kind, aliases and whether the type is on)."""
    listing = catalog_listing(settings.catalog)
    if not with_field_kinds:
        return listing
    specs = settings.catalog.types
    return [{**item, "field_kinds": dict(field_kinds(specs[item["type"]])), "aliases": list(specs[item["type"]].aliases),
             "enabled": specs[item["type"]].enabled} for item in listing]

"""The pack's MCP tools, under the real system's names and with its argument names and result
shapes (REFERENCE.md section 2; the plan's TypeScript interfaces), so agents written for
supervisor-service-s keep working:

    mcp_meta_emit_event(instance_id, event_type, event_data, metadata?)
        -> {success, event_id, sequence_num, timestamp}
    mcp_meta_query_events(instance_id, filters?, limit?, offset?)
        -> {events: [{event_id, event_type, sequence_num, timestamp, event_data, metadata}],
            total_count, has_more}
    mcp_meta_replay_events(instance_id, to_sequence_num?)
        -> {final_state: {last_epic, last_event_type, latest_timestamp, total_events_replayed,
            checkpoint_state, ...}, events_replayed, duration_ms, success}
    mcp_meta_list_event_types() -> {event_types: [{type, description, category,
                                                   required_fields, optional_fields}]}

and chronik's own: mcp_meta_register_instance, mcp_meta_heartbeat, mcp_meta_resume,
mcp_meta_list_instances, mcp_meta_stats, mcp_meta_close_instance. Every one reports a refusal as
the real system did, `{success: false, error}`, with the field and the fix in `error`.

Event data going back to the agent is capped (settings: 16 KiB per event, 256 KiB per response);
a cut value becomes `{"_truncated": {original_bytes, limit_bytes, preview, read_whole}}` and a
cut page sets has_more and adds `truncated: {events_omitted, ...}`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec

from chronik.domains.mcpkit import ToolSpec, arguments_of, cap_events, cap_value
from chronik.domains.sessions import service
from chronik.domains.sessions.events import LINEAGE_NAMES
from chronik.domains.sessions.settings import Settings, from_environment
from chronik.errors import ValidationError
from chronik.ledger import Ledger

READ_WHOLE = "read the event whole with ledger_read_stream (stream instance:ID, start = its sequence_num)"
_ID = {"type": "string", "description": "The instance id mcp_meta_register_instance returned (e.g. odin-PS-8f4a2b)."}
_OBJECT = {"type": "object", "additionalProperties": True}


@cache
def settings() -> Settings:
    """The pack's settings for this server process (CHRONIK_SESSIONS_* variables)."""
    return from_environment()


def _schema(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def _recorded(result: service.Recorded) -> dict[str, Any]:
    return {"success": True, "event_id": result.event_id, "sequence_num": result.sequence_num,
            "timestamp": result.timestamp}


def emit_event(ledger: Ledger, arguments: dict[str, Any]) -> dict[str, Any]:
    args = arguments_of(arguments, EMIT_SCHEMA)
    return _recorded(service.emit(ledger, args["instance_id"], args["event_type"], args["event_data"],
                                  args.get("metadata"), settings()))


def query_events(ledger: Ledger, arguments: dict[str, Any]) -> dict[str, Any]:
    args = arguments_of(arguments, QUERY_SCHEMA)
    filters = args.get("filters") or {}
    if not isinstance(filters, dict):
        raise ValidationError("filters", "must be an object", "e.g. {\"event_type\": \"epic_completed\"}")
    known = set(FILTER_PROPERTIES)
    unknown = sorted(set(filters) - known)
    if unknown:
        raise ValidationError(f"filters.{unknown[0]}", "is not a filter", f"use {', '.join(FILTER_PROPERTIES)}")
    lineage = {name: filters[name] for name in LINEAGE_NAMES if name in filters}
    found = service.query(ledger, args["instance_id"], filters.get("event_type"), filters.get("start_date"),
                          filters.get("end_date"), filters.get("keyword"), lineage, args.get("limit"),
                          args.get("offset"), settings=settings())
    current = settings()
    events, cut = cap_events(found.events, ("event_data", "metadata"), current.result_event_bytes,
                             current.result_bytes, READ_WHOLE)
    result: dict[str, Any] = {"events": events, "total_count": found.total_count,
                              "has_more": found.has_more or cut is not None}
    if cut is not None:
        result["truncated"] = cut
    return result


def replay_events(ledger: Ledger, arguments: dict[str, Any]) -> dict[str, Any]:
    args = arguments_of(arguments, REPLAY_SCHEMA)
    replayed = service.replay(ledger, args["instance_id"], args.get("to_sequence_num"))
    result: dict[str, Any] = msgspec.to_builtins(replayed)
    checkpoint = result["final_state"].get("checkpoint_state")
    if checkpoint is not None:
        result["final_state"]["checkpoint_state"] = cap_value(checkpoint, settings().result_event_bytes, READ_WHOLE)
    return result


def list_event_types(ledger: Ledger, arguments: dict[str, Any]) -> dict[str, Any]:
    arguments_of(arguments, _schema({}))
    return {"event_types": service.event_types(settings())}


def register_instance(ledger: Ledger, arguments: dict[str, Any]) -> dict[str, Any]:
    args = arguments_of(arguments, REGISTER_SCHEMA)
    details: dict[str, Any] = {name: args[name] for name in ("host", "pid", "model", "working_directory", "agent") if name in args}
    result = service.register(ledger, args.get("project"), args.get("instance_id"), details, args.get("metadata"),
                              settings())
    return {**_recorded(result), "instance_id": result.instance_id}


def heartbeat(ledger: Ledger, arguments: dict[str, Any]) -> dict[str, Any]:
    args = arguments_of(arguments, HEARTBEAT_SCHEMA)
    data: dict[str, Any] = {name: args[name] for name in ("context_percent", "current_epic", "status") if name in args}
    result = service.heartbeat(ledger, args["instance_id"], data, settings=settings())
    return {**_recorded(result), "recorded": result.recorded}


def resume(ledger: Ledger, arguments: dict[str, Any]) -> dict[str, Any]:
    args = arguments_of(arguments, _schema({"instance_id": _ID}, ("instance_id",)))
    return {"success": True, **service.resume(ledger, args["instance_id"])}


def list_instances(ledger: Ledger, arguments: dict[str, Any]) -> dict[str, Any]:
    arguments_of(arguments, _schema({}))
    found = service.instances(ledger, settings())
    return {"success": True, "instances": found, "count": len(found)}


def stats(ledger: Ledger, arguments: dict[str, Any]) -> dict[str, Any]:
    args = arguments_of(arguments, _schema({"instance_id": {**_ID, "description": "One instance (default: all)."}}))
    return {"success": True, **service.stats(ledger, args.get("instance_id"))}


def close_instance(ledger: Ledger, arguments: dict[str, Any]) -> dict[str, Any]:
    args = arguments_of(arguments, _schema({"instance_id": _ID, "reason": {"type": "string"}}, ("instance_id",)))
    return _recorded(service.close(ledger, args["instance_id"], args.get("reason"), settings()))


EMIT_SCHEMA = _schema({
    "instance_id": _ID,
    "event_type": {"type": "string", "description": "An event type of mcp_meta_list_event_types (or an alias "
                                                    "such as deployment_done)."},
    "event_data": {**_OBJECT, "description": "The event's fields: its required ones at least "
                                             "(mcp_meta_list_event_types lists them)."},
    "metadata": {**_OBJECT, "description": "Tags and context; parent_uuid, root_uuid and depth for lineage."},
}, ("instance_id", "event_type", "event_data"))
FILTER_PROPERTIES: dict[str, Any] = {
    "event_type": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    "start_date": {"type": "string", "description": "ISO 8601, inclusive (no zone: UTC)."},
    "end_date": {"type": "string", "description": "ISO 8601, inclusive (a date: to the end of that day)."},
    "keyword": {"type": "string", "description": "Case-insensitive, in the type, data and metadata."},
    "parent_uuid": {"type": "string"}, "root_uuid": {"type": "string"}, "depth": {"type": "integer"},
}
QUERY_SCHEMA = _schema({
    "instance_id": _ID,
    "filters": {"type": "object", "properties": FILTER_PROPERTIES, "additionalProperties": False},
    "limit": {"type": "integer", "description": "1 to 1000 (clamped); default 100."},
    "offset": {"type": "integer", "minimum": 0, "description": "Events to skip; default 0."},
}, ("instance_id",))
REPLAY_SCHEMA = _schema({
    "instance_id": _ID,
    "to_sequence_num": {"type": "integer", "minimum": 0,
                        "description": "Replay up to this sequence number, inclusive (default: all)."},
}, ("instance_id",))
REGISTER_SCHEMA = _schema({
    "project": {"type": "string", "description": "The project; the id becomes <project>-PS-<6 hex>."},
    "instance_id": {"type": "string", "description": "An id to register instead of a generated one."},
    "host": {"type": "string"}, "pid": {"type": "integer"}, "model": {"type": "string"},
    "working_directory": {"type": "string"}, "agent": {"type": "string"}, "metadata": _OBJECT,
})
HEARTBEAT_SCHEMA = _schema({
    "instance_id": _ID, "context_percent": {"type": "number"}, "current_epic": {"type": "string"},
    "status": {"type": "string"},
}, ("instance_id",))


def mcp_tools() -> list[ToolSpec]:
    """The pack's tools, as the registry entry names them."""
    def meta(name: str, description: str, schema: dict[str, Any], call: Any, read_only: bool,
             destructive: bool = False, idempotent: bool = False) -> ToolSpec:
        return ToolSpec(name=name, description=description, input_schema=schema, call=call, read_only=read_only,
                        destructive=destructive, idempotent=idempotent or read_only, refusals_as_results=True)

    return [
        meta("mcp_meta_emit_event", "Record an event for an agent instance (epic_started, test_passed, "
             "commit_created, deployment_completed, checkpoint_created, ...). Returns its sequence_num once durable.",
             EMIT_SCHEMA, emit_event, read_only=False),
        meta("mcp_meta_query_events", "An instance's events, ascending by sequence, filtered by type, date range, "
             "keyword and lineage; returns events, total_count and has_more.", QUERY_SCHEMA, query_events,
             read_only=True),
        meta("mcp_meta_replay_events", "Rebuild an instance's state from its events, up to a sequence number: the "
             "last epic, checkpoint, tests, commits, PRs, deployments, open tasks and errors.", REPLAY_SCHEMA,
             replay_events, read_only=True),
        meta("mcp_meta_list_event_types", "Every event type with its category, description and required and "
             "optional fields.", _schema({}), list_event_types, read_only=True),
        meta("mcp_meta_register_instance", "Register an agent instance for a project; returns its instance_id "
             "(<project>-PS-<6 hex>). Call once per session, then heartbeat and emit.", REGISTER_SCHEMA,
             register_instance, read_only=False),
        meta("mcp_meta_heartbeat", "Say the instance is alive. Recorded at most once per heartbeat interval "
             "(recorded: false when coalesced).", HEARTBEAT_SCHEMA, heartbeat, read_only=False, idempotent=True),
        meta("mcp_meta_resume", "Where an instance left off: what finished, what failed, what is open, the next "
             "steps and one sentence. Call it first in a new session.",
             _schema({"instance_id": _ID}, ("instance_id",)), resume, read_only=True),
        meta("mcp_meta_list_instances", "Every instance with its project, last heartbeat, state (active, stale, "
             "closed) and last event.", _schema({}), list_instances, read_only=True),
        meta("mcp_meta_stats", "Counts per event type, epic failure rate and p50/p95 of recorded durations, for "
             "one instance or all.", _schema({"instance_id": _ID}), stats, read_only=True),
        meta("mcp_meta_close_instance", "End an instance's session: it takes no more events.",
             _schema({"instance_id": _ID, "reason": {"type": "string"}}, ("instance_id",)), close_instance,
             read_only=False, destructive=True, idempotent=False),
    ]

"""The general ledger tools of `chronik mcp`: append (with an expected version and event ids,
so a retry is idempotent), read a stream, query, list streams, the head, verify. Each is one
`chronik.Ledger` call; refusals are MCP tool errors that name the argument and the fix.
"""

from __future__ import annotations

from typing import Any

import msgspec

from chronik.domains.mcpkit import ToolSpec, arguments_of, cap_events
from chronik.errors import ValidationError
from chronik.ledger import Ledger
from chronik.model import Event, Expect, Expectation, Filter, NewEvent

EVENT_BYTES = 16 * 1024
RESPONSE_BYTES = 256 * 1024
DEFAULT_LIMIT = 100
MAX_LIMIT = 1_000
READ_WHOLE = "read fewer events at a time (limit), or use `chronik read` outside MCP"
EXPECT_WORDS = {member.value: member for member in Expect}
_STREAM = {"type": "string", "description": "A stream name, category:id (e.g. order:42, instance:odin-PS-8f4a2b)."}
_LIMIT = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": "At most this many events (100)."}


def _schema(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def _events(events: list[Event]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    return cap_events([event.to_dict() for event in events], ("data", "meta"), EVENT_BYTES, RESPONSE_BYTES,
                      READ_WHOLE)


def _limit(value: Any) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_LIMIT:
        raise ValidationError("limit", f"{value!r} is not from 1 to {MAX_LIMIT}", f"use 1 to {MAX_LIMIT}")
    return value


def _expectation(value: Any) -> Expectation:
    if value is None:
        return Expect.ANY
    if isinstance(value, str) and value in EXPECT_WORDS:
        return EXPECT_WORDS[value]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValidationError("expected_version", f"{value!r} is not an expectation",
                          "use a version number (0: the stream must not exist), any, no-stream or exists")


def append(ledger: Ledger, arguments: dict[str, Any]) -> dict[str, Any]:
    args = arguments_of(arguments, APPEND_SCHEMA)
    items = args["events"]
    if not isinstance(items, list) or not items:
        raise ValidationError("events", "must be a non-empty list of events", 'e.g. [{"type": "created", "data": {}}]')
    events = []
    for index, item in enumerate(items):
        try:
            events.append(msgspec.convert(item, NewEvent))
        except msgspec.ValidationError as exc:
            raise ValidationError(f"events[{index}]", str(exc), "give type, and optionally data, meta and id") \
                from None
    result = ledger.append(args["stream"], events, expect=_expectation(args.get("expected_version")))
    return msgspec.to_builtins(result)


def read_stream(ledger: Ledger, arguments: dict[str, Any]) -> dict[str, Any]:
    args = arguments_of(arguments, READ_SCHEMA)
    limit = _limit(args.get("limit"))
    found = list(ledger.read_stream(args["stream"], start=args.get("start", 1),
                                    backwards=bool(args.get("backwards", False)), limit=limit + 1))
    events, cut = _events(found[:limit])
    return {"events": events, "has_more": len(found) > limit or cut is not None,
            **({"truncated": cut} if cut else {})}


def query(ledger: Ledger, arguments: dict[str, Any]) -> dict[str, Any]:
    args = arguments_of(arguments, QUERY_SCHEMA)
    event_filter = Filter(streams=args.get("streams"), categories=args.get("categories"), types=args.get("types"),
                          since=args.get("since"), until=args.get("until"), text=args.get("text"))
    page = ledger.query(event_filter, limit=_limit(args.get("limit")), cursor=args.get("cursor"))
    events, cut = _events(page.events)
    return {"events": events, "total": page.total, "has_more": page.has_more or cut is not None,
            "next_cursor": page.next_cursor, **({"truncated": cut} if cut else {})}


def streams(ledger: Ledger, arguments: dict[str, Any]) -> dict[str, Any]:
    args = arguments_of(arguments, STREAMS_SCHEMA)
    found = ledger.streams(args.get("category"))
    return {"streams": msgspec.to_builtins(found), "count": len(found)}


def head(ledger: Ledger, arguments: dict[str, Any]) -> dict[str, Any]:
    arguments_of(arguments, _schema({}))
    return msgspec.to_builtins(ledger.head())


def verify(ledger: Ledger, arguments: dict[str, Any]) -> dict[str, Any]:
    args = arguments_of(arguments, VERIFY_SCHEMA)
    report = ledger.verify(from_position=args.get("from_position"), to_position=args.get("to_position"))
    return msgspec.to_builtins(report)


APPEND_SCHEMA = _schema({
    "stream": _STREAM,
    "events": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["type"], "additionalProperties": False,
        "properties": {"type": {"type": "string"}, "data": {"type": "object"}, "meta": {"type": "object"},
                       "id": {"type": "string", "description": "Give an id to make a retry idempotent."}}}},
    "expected_version": {"anyOf": [{"type": "integer", "minimum": 0},
                                   {"type": "string", "enum": list(EXPECT_WORDS)}],
                         "description": "The stream's version now (0: new stream), or any, no-stream, exists."},
}, ("stream", "events"))
READ_SCHEMA = _schema({"stream": _STREAM, "start": {"type": "integer", "minimum": 1}, "limit": _LIMIT,
                       "backwards": {"type": "boolean", "description": "Newest first."}}, ("stream",))
_NAMES = {"type": "array", "items": {"type": "string"}}
QUERY_SCHEMA = _schema({"streams": _NAMES, "categories": _NAMES, "types": _NAMES,
                        "since": {"type": "string", "description": "RFC 3339, a date, or an age like 2h."},
                        "until": {"type": "string"}, "text": {"type": "string", "description": "Case-insensitive."},
                        "limit": _LIMIT, "cursor": {"type": "string", "description": "next_cursor of the last page."}})
STREAMS_SCHEMA = _schema({"category": {"type": "string"}})
VERIFY_SCHEMA = _schema({"from_position": {"type": "integer", "minimum": 1},
                         "to_position": {"type": "integer", "minimum": 1}})


def ledger_tools() -> list[ToolSpec]:
    def tool(name: str, description: str, schema: dict[str, Any], call: Any, read_only: bool) -> ToolSpec:
        return ToolSpec(name=name, description=description, input_schema=schema, call=call, read_only=read_only,
                        idempotent=read_only)

    return [
        tool("chronik_append", "Append events to a stream atomically, if it is at expected_version. Events "
             "with ids are idempotent: a retry returns the original result.", APPEND_SCHEMA, append, False),
        tool("chronik_read_stream", "A stream's events in version order (or newest first).", READ_SCHEMA,
             read_stream, True),
        tool("chronik_query", "Events of the whole ledger in position order, filtered by stream, category, type, "
             "time and text; page with next_cursor.", QUERY_SCHEMA, query, True),
        tool("chronik_streams", "Every stream (of a category) with its version and last event.", STREAMS_SCHEMA,
             streams, True),
        tool("chronik_head", "The newest position and its hash.", _schema({}), head, True),
        tool("chronik_verify", "Check the hash chain: positions, links, hashes, versions (and signatures).",
             VERIFY_SCHEMA, verify, True),
    ]

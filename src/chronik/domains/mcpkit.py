"""What a domain pack's MCP tools are made of, without the MCP SDK (the server, chronik.mcp,
turns these into the SDK's tools; packs import nothing from an interface).

A pack lists its tools in its registry entry (`mcp_tools="chronik.domains.NAME.tools:mcp_tools"`,
a function returning `ToolSpec`s). Each spec names the tool, describes it, gives its JSON Schema
and annotations (read-only or mutating), and a `call(ledger, arguments) -> dict` that makes one
library call and returns the result as JSON values. Calls run in a worker thread, so a slow
store never blocks the server's event loop.

Refusals: a call raises chronik's typed errors. With `refusals_as_results` the server returns
`{"success": false, "error": "<field>: <problem> (<fix>)"}` as the tool's result (what agents
written for the real system read); otherwise an MCP tool error with the same words.

Sizes: `cap_events` keeps what goes back to an agent bounded, per event and per response, and
says what it cut.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from chronik.errors import ChronikError, ValidationError
from chronik.ledger import Ledger

ToolCall = Callable[[Ledger, dict[str, Any]], dict[str, Any]]
TRUNCATED = "_truncated"
PREVIEW_CHARS = 200
_encode = msgspec.json.Encoder().encode


class ToolSpec(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str
    input_schema: dict[str, Any]
    call: ToolCall
    title: str | None = None
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    refusals_as_results: bool = False


def refusal(error: ChronikError) -> dict[str, Any]:
    """The real system's refusal: {success: false, error} (the error names the field and fix)."""
    return {"success": False, "error": str(error)}


def arguments_of(arguments: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`arguments` after the checks every tool shares: required ones present, no unknown ones
    (a misspelt argument is named, not silently dropped)."""
    known = schema.get("properties", {})
    for name in schema.get("required", []):
        if arguments.get(name) is None:
            raise ValidationError(name, "is missing", f"pass {name}: {known.get(name, {}).get('description', '')}"
                                  .rstrip(": "))
    unknown = sorted(set(arguments) - set(known))
    if unknown:
        raise ValidationError(unknown[0], "is not an argument of this tool",
                              f"use {', '.join(known) or 'no arguments'}")
    return arguments


def json_size(value: Any) -> int:
    return len(_encode(value))


def cap_value(value: Any, limit_bytes: int, read_whole: str) -> Any:
    """`value` if its JSON fits in `limit_bytes`, else a marker object with its size, a preview
    and how to read it whole."""
    size = json_size(value)
    if size <= limit_bytes:
        return value
    preview = _encode(value).decode()[:PREVIEW_CHARS]
    return {TRUNCATED: {"original_bytes": size, "limit_bytes": limit_bytes, "preview": preview,
                        "read_whole": read_whole}}


def cap_events(events: Sequence[dict[str, Any]], fields: Sequence[str], event_bytes: int, total_bytes: int,
               read_whole: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Events for a response: each of `fields` (event_data, metadata, data, ...) over
    `event_bytes` replaced by a marker; events after the response reaches `total_bytes` left out.
    Returns the events and, when any were left out, a marker saying how many and what to do."""
    kept: list[dict[str, Any]] = []
    used = 0
    for index, event in enumerate(events):
        capped = {key: cap_value(value, event_bytes, read_whole) if key in fields else value
                  for key, value in event.items()}
        size = json_size(capped)
        if kept and used + size > total_bytes:
            return kept, {"events_omitted": len(events) - index, "limit_bytes": total_bytes,
                          "fix": "ask for fewer events (limit) and page on (offset or cursor)"}
        kept.append(capped)
        used += size
    return kept, None

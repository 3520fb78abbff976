"""The MCP server: chronik's general ledger tools and every domain pack's tools (the registry's
`mcp_tools` entries), served with the official `mcp` SDK's low-level `Server` over stdio (or
streamable HTTP, http.py).

The low-level server is used because the tools bring their own JSON Schemas and their own
argument checks: a refusal must reach an agent as the real system's `{success: false, error}`
result (tools whose spec asks for it) or an MCP tool error naming the field, never as a crash.

Every call runs in a worker thread (`anyio.to_thread`), so the event loop keeps serving other
requests while a call waits for the store; an append returns only when it is durable (and on
stores with group commit, concurrent appends share a commit). Nothing raised by a tool stops
the server.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
import mcp_types as types
import msgspec
from mcp.server import Server
from mcp.server.stdio import stdio_server

import chronik
from chronik.domains import registry
from chronik.domains.mcpkit import ToolSpec, refusal
from chronik.errors import ChronikError, LimitExceeded
from chronik.ledger import Ledger
from chronik.mcp.ledger_tools import ledger_tools

log = logging.getLogger("chronik.mcp")
SERVER_NAME = "chronik"
# A backstop over the tools' own caps: no single result larger than this leaves the server.
MAX_RESULT_BYTES = 1024 * 1024
INSTRUCTIONS = ("chronik: an append-only, hash-chained event ledger. Agent sessions: register once "
                "(mcp_meta_register_instance), call mcp_meta_resume to learn where you left off, heartbeat, and "
                "emit events as you work (mcp_meta_emit_event; mcp_meta_list_event_types lists the types).")
_encode = msgspec.json.Encoder().encode


def all_tools() -> list[ToolSpec]:
    """The ledger tools, then each registered pack's (in pack order)."""
    tools = ledger_tools()
    for pack in registry.packs():
        if pack.mcp_tools is not None:
            found = registry.load(pack.mcp_tools)
            tools.extend(found() if callable(found) else found)
    names = [tool.name for tool in tools]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ChronikError(f"MCP tool names used twice: {', '.join(duplicated)}")
    return tools


def sdk_tool(spec: ToolSpec) -> types.Tool:
    return types.Tool(name=spec.name, title=spec.title, description=spec.description,
                      input_schema=spec.input_schema,
                      annotations=types.ToolAnnotations(title=spec.title, read_only_hint=spec.read_only,
                                                        destructive_hint=spec.destructive,
                                                        idempotent_hint=spec.idempotent, open_world_hint=False))


def text_result(value: Any, is_error: bool = False) -> types.CallToolResult:
    """A result as JSON text and, for objects, as structured content too."""
    text = _encode(value).decode()
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                structured_content=value if isinstance(value, dict) else None, is_error=is_error)


class ToolServer:
    """The tools over one open ledger."""

    def __init__(self, ledger: Ledger, tools: Sequence[ToolSpec] | None = None) -> None:
        self.ledger = ledger
        self.tools = {tool.name: tool for tool in (all_tools() if tools is None else tools)}
        self.listing = [sdk_tool(tool) for tool in self.tools.values()]

    async def list_tools(self, _ctx: Any, _params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=self.listing)

    async def call_tool(self, _ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        spec = self.tools.get(params.name)
        if spec is None:
            return text_result({"error": "UnknownTool", "message": f"no tool named {params.name[:100]!r}",
                                "fix": f"use one of {', '.join(self.tools)}"}, is_error=True)
        return await self.run(spec, dict(params.arguments or {}))

    async def run(self, spec: ToolSpec, arguments: dict[str, Any]) -> types.CallToolResult:
        try:
            result = await anyio.to_thread.run_sync(partial(spec.call, self.ledger, arguments))
            value = msgspec.to_builtins(result)
            size = len(_encode(value))
            if size > MAX_RESULT_BYTES:
                raise LimitExceeded("result", "max_result_bytes", MAX_RESULT_BYTES, size,
                                    "ask for less (a smaller limit, one instance, a narrower filter)")
        except ChronikError as error:
            if spec.refusals_as_results:
                return text_result(refusal(error))
            return text_result(error.to_dict(), is_error=True)
        except Exception as error:  # a bug must not take the server (and the agent's session) down
            log.exception("tool %s failed", spec.name)
            message = f"internal error in {spec.name}: {type(error).__name__}: {error}"[:500]
            if spec.refusals_as_results:
                return text_result({"success": False, "error": message})
            return text_result({"error": "InternalError", "message": message}, is_error=True)
        return text_result(value)


def build_server(ledger: Ledger, tools: Sequence[ToolSpec] | None = None) -> Server[Any]:
    """The SDK server with chronik's tools over `ledger`."""
    tool_server = ToolServer(ledger, tools)
    return Server(SERVER_NAME, version=chronik.__version__, instructions=INSTRUCTIONS,
                  on_list_tools=tool_server.list_tools, on_call_tool=tool_server.call_tool)


async def serve_stdio(ledger: Ledger) -> None:
    """Serve MCP on this process's stdin and stdout until the client closes them."""
    server = build_server(ledger)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def run_stdio(ledger: Ledger) -> None:
    anyio.run(serve_stdio, ledger)

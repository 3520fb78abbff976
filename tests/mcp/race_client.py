"""One MCP client of the emit race (run as its own process by test_mcp_race.py): it starts
`chronik mcp` over stdio, says it is ready, waits for the go file, emits COUNT events to the
instance and prints every result as one JSON line."""

from __future__ import annotations

import json
import os
import sys

import anyio
from mcp_testing import call, stdio_client


async def race(url: str, instance_id: str, count: int, client: int, go_file: str) -> list[dict]:
    async with stdio_client(url) as session:
        await call(session, "chronik_head")  # connected and serving
        print("ready", flush=True)
        while not os.path.exists(go_file):
            await anyio.sleep(0.005)
        return [await call(session, "mcp_meta_emit_event", {
            "instance_id": instance_id, "event_type": "tool_use",
            "event_data": {"tool_name": "grep", "tool_use_id": f"c{client}-{index}"}}) for index in range(count)]


if __name__ == "__main__":
    ledger_url, instance, emits, number, go = sys.argv[1:6]
    for result in anyio.run(race, ledger_url, instance, int(emits), int(number), go):
        print(json.dumps(result), flush=True)

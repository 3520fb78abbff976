"""What the MCP tests share: `chronik mcp` started as a real subprocess and driven by the
official SDK's client, over stdio or streamable HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

CHRONIK = str(Path(sys.executable).parent / "chronik")


def sqlite_url(path: Path) -> str:
    return "sqlite:///" + str(path).lstrip("/")


def stdio_server(url: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    """`chronik --ledger URL mcp`, as an MCP client configuration starts it."""
    return StdioServerParameters(command=CHRONIK, args=["--ledger", url, "mcp"], env=env)


@asynccontextmanager
async def stdio_client(url: str, env: dict[str, str] | None = None):
    async with Client(stdio_server(url, env), read_timeout_seconds=60) as client:
        yield client


async def call(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    """A tool's result as JSON (its structured content, which equals its text)."""
    result = await client.call_tool(tool, arguments or {})
    text = json.loads(result.content[0].text)
    if result.structured_content is not None:
        assert result.structured_content == text
    if result.is_error:
        return {"is_error": True, **text}
    return text


class HttpServer:
    """`chronik mcp --http --port 0 ...` in the background; `url` is what it printed."""

    def __init__(self, ledger_url: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen([CHRONIK, "--ledger", ledger_url, "mcp", "--http", "--port", "0", *args],
                                        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                        env={**os.environ, **(env or {})})
        self.url = self._wait_for_url()

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + 60
        assert self.process.stderr is not None
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                raise AssertionError(f"chronik mcp --http exited with {self.process.wait()}")
            if "streamable HTTP on " in line:
                return line.rsplit(" ", 1)[1].strip()
        raise AssertionError("chronik mcp --http did not say where it listens")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

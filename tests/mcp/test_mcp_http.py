"""`chronik mcp --http` as a real subprocess: the SDK's streamable HTTP client with the bearer
token, a wrong or missing token (401), Host and Origin checks (DNS rebinding), and no serving
off loopback without a token."""

from __future__ import annotations

import subprocess

import anyio
import httpx2
import pytest
from mcp.client.streamable_http import streamable_http_client
from mcp_testing import CHRONIK, HttpServer, call, sqlite_url

from mcp import Client, MCPError

TOKEN = "test-token-0123456789abcdef"
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "test", "version": "1"}}}
HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


@pytest.fixture
def server(tmp_path):
    running = HttpServer(sqlite_url(tmp_path / "ledger.db"), "--token", TOKEN)
    yield running
    running.stop()


def client_for(url: str, token: str) -> Client:
    http = httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=60)
    return Client(streamable_http_client(url, http_client=http), read_timeout_seconds=60)


def test_a_session_over_streamable_http(server):
    async def session():
        async with client_for(server.url, TOKEN) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            instance = (await call(client, "mcp_meta_register_instance", {"project": "odin"}))["instance_id"]
            emitted = await call(client, "mcp_meta_emit_event", {
                "instance_id": instance, "event_type": "epic_started",
                "event_data": {"epic_id": "epic-003", "feature_name": "oauth"}})
            refused = await call(client, "mcp_meta_emit_event", {
                "instance_id": instance, "event_type": "epic_started", "event_data": {"epic_id": 3}})
            queried = await call(client, "mcp_meta_query_events", {"instance_id": instance,
                                                                   "filters": {"keyword": "OAUTH"}})
            replayed = await call(client, "mcp_meta_replay_events", {"instance_id": instance})
            resumed = await call(client, "mcp_meta_resume", {"instance_id": instance})
            return tools, emitted, refused, queried, replayed, resumed

    tools, emitted, refused, queried, replayed, resumed = anyio.run(session)
    assert {"mcp_meta_emit_event", "mcp_meta_query_events", "chronik_append"} <= tools
    assert emitted["success"] and emitted["sequence_num"] == 2
    assert refused["success"] is False and refused["error"].startswith("event_data.")
    assert queried["total_count"] == 1 and queried["events"][0]["sequence_num"] == 2
    assert replayed["final_state"]["last_epic"] == "epic-003"
    assert resumed["sentence"] == "Epic epic-003 in progress."


def post(url: str, headers: dict[str, str]) -> httpx2.Response:
    return httpx2.post(url, json=INITIALIZE, headers={**HEADERS, **headers}, timeout=30)


def test_a_wrong_or_missing_token_is_refused(server):
    assert post(server.url, {"authorization": "Bearer wrong-token-0123456789"}).status_code == 401
    missing = post(server.url, {})
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert post(server.url, {"authorization": f"Bearer {TOKEN}"}).status_code == 200

    async def with_wrong_token():
        async with client_for(server.url, "wrong-token-0123456789"):
            pass

    with pytest.raises(ExceptionGroup) as caught:  # the SDK's task groups wrap its MCPError
        anyio.run(with_wrong_token)
    assert caught.group_contains(MCPError, match="error response")


def test_host_and_origin_are_checked(server):
    good = {"authorization": f"Bearer {TOKEN}"}
    assert post(server.url, {**good, "host": "evil.example:80"}).status_code == 421
    assert post(server.url, {**good, "origin": "https://evil.example"}).status_code == 403
    assert post(server.url, {**good, "origin": "http://localhost:3000"}).status_code == 200


def test_no_serving_off_loopback_without_a_token(tmp_path):
    done = subprocess.run([CHRONIK, "--ledger", sqlite_url(tmp_path / "l.db"), "mcp", "--http", "--host",
                           "0.0.0.0", "--port", "0"], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert "--token" in done.stderr and "required" in done.stderr
    short = subprocess.run([CHRONIK, "--ledger", sqlite_url(tmp_path / "l.db"), "mcp", "--http", "--port", "0",
                            "--token", "short"], capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin"})
    assert short.returncode == 2 and "--token" in short.stderr

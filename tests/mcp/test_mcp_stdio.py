"""`chronik mcp` over stdio, as a real subprocess driven by the SDK's client: the tools and
their schemas and annotations, an agent's session end to end with the real system's result
shapes, refusals as `{success: false, error}` naming the field (nothing written, the server
alive), capped results, and the general ledger tools."""

from __future__ import annotations

import anyio
import pytest
from mcp_testing import call, sqlite_url, stdio_client

SESSION_TOOLS = {"mcp_meta_emit_event", "mcp_meta_query_events", "mcp_meta_replay_events",
                 "mcp_meta_list_event_types", "mcp_meta_register_instance", "mcp_meta_heartbeat",
                 "mcp_meta_resume", "mcp_meta_list_instances", "mcp_meta_stats", "mcp_meta_close_instance"}
LEDGER_TOOLS = {"chronik_append", "chronik_read_stream", "chronik_query", "chronik_streams", "chronik_head",
                "chronik_verify"}
READ_ONLY = {"mcp_meta_query_events", "mcp_meta_replay_events", "mcp_meta_list_event_types", "mcp_meta_resume",
             "mcp_meta_list_instances", "mcp_meta_stats", "chronik_read_stream", "chronik_query",
             "chronik_streams", "chronik_head", "chronik_verify"}


@pytest.fixture
def url(tmp_path):
    return sqlite_url(tmp_path / "ledger.db")


def test_tools_schemas_and_annotations(url):
    async def check():
        async with stdio_client(url) as client:
            return (await client.list_tools()).tools

    tools = {tool.name: tool for tool in anyio.run(check)}
    assert set(tools) == SESSION_TOOLS | LEDGER_TOOLS
    for name, tool in tools.items():
        assert tool.description and tool.input_schema["type"] == "object"
        assert tool.annotations.read_only_hint is (name in READ_ONLY), name
    emit = tools["mcp_meta_emit_event"].input_schema
    assert list(emit["properties"]) == ["instance_id", "event_type", "event_data", "metadata"]
    assert emit["required"] == ["instance_id", "event_type", "event_data"]
    query = tools["mcp_meta_query_events"].input_schema
    assert list(query["properties"]) == ["instance_id", "filters", "limit", "offset"]
    assert set(query["properties"]["filters"]["properties"]) >= {"event_type", "start_date", "end_date", "keyword"}
    assert list(tools["mcp_meta_replay_events"].input_schema["properties"]) == ["instance_id", "to_sequence_num"]
    assert tools["mcp_meta_list_event_types"].input_schema["properties"] == {}
    assert tools["mcp_meta_close_instance"].annotations.destructive_hint is True
    assert tools["mcp_meta_emit_event"].annotations.destructive_hint is False


def test_an_agents_session_end_to_end(url):
    async def session():
        async with stdio_client(url) as client:
            registered = await call(client, "mcp_meta_register_instance", {"project": "odin", "model": "opus"})
            instance = registered["instance_id"]
            emitted = [await call(client, "mcp_meta_emit_event", {"instance_id": instance, "event_type": event_type,
                                                                  "event_data": data})
                       for event_type, data in [
                           ("epic_started", {"epic_id": "epic-003", "feature_name": "authentication-oauth",
                                             "estimated_hours": 60}),
                           ("test_passed", {"epic_id": "epic-003", "test_type": "unit", "passed_count": 5,
                                            "failed_count": 3}),
                           ("epic_completed", {"epic_id": "epic-003", "duration_hours": 58.5}),
                           ("prd_updated", {"epic_id": "epic-003"})]]
            beat = await call(client, "mcp_meta_heartbeat", {"instance_id": instance, "context_percent": 40})
            queried = await call(client, "mcp_meta_query_events", {
                "instance_id": instance, "filters": {"event_type": ["epic_started", "epic_completed"],
                                                     "start_date": "2020-01-01", "keyword": "EPIC-003"},
                "limit": 10})
            replayed = await call(client, "mcp_meta_replay_events", {"instance_id": instance, "to_sequence_num": 3})
            resumed = await call(client, "mcp_meta_resume", {"instance_id": instance})
            types = await call(client, "mcp_meta_list_event_types")
            listed = await call(client, "mcp_meta_list_instances")
            stats = await call(client, "mcp_meta_stats", {"instance_id": instance})
            verified = await call(client, "chronik_verify")
            return registered, emitted, beat, queried, replayed, resumed, types, listed, stats, verified

    registered, emitted, beat, queried, replayed, resumed, types, listed, stats, verified = anyio.run(session)
    assert set(registered) == {"success", "event_id", "sequence_num", "timestamp", "instance_id"}
    assert registered["success"] and registered["sequence_num"] == 1
    for number, result in enumerate(emitted, start=2):
        assert list(result) == ["success", "event_id", "sequence_num", "timestamp"]
        assert result["success"] and result["sequence_num"] == number
    assert beat["success"] and beat["recorded"] and beat["sequence_num"] == 6
    assert list(queried) == ["events", "total_count", "has_more"]
    assert [e["event_type"] for e in queried["events"]] == ["epic_started", "epic_completed"]
    assert queried["total_count"] == 2 and queried["has_more"] is False
    assert list(queried["events"][0])[:6] == ["event_id", "event_type", "sequence_num", "timestamp",
                                              "event_data", "metadata"]
    assert list(replayed) == ["final_state", "events_replayed", "duration_ms", "success"]
    assert replayed["events_replayed"] == 3 and replayed["success"] is True
    assert replayed["final_state"]["last_event_type"] == "test_passed"
    assert replayed["final_state"]["total_events_replayed"] == 3
    assert resumed["sentence"] == "Epic complete! 5/8 tests passed. PRD updated. Ready for next epic."
    assert len(types["event_types"]) == 32
    assert listed["instances"][0]["instance_id"] == registered["instance_id"]
    assert listed["instances"][0]["state"] == "active"
    assert stats["epics"]["completed"] == 1 and stats["event_type_counts"]["epic_started"] == 1
    assert verified["ok"] is True and verified["checked"] == 6


BAD_CALLS = [
    ("mcp_meta_emit_event", {"event_type": "epic_started", "event_data": {}}, "instance_id"),
    ("mcp_meta_emit_event", {"instance_id": "@ID", "event_type": "epic_started", "event_data": "epic-003"},
     "event_data"),
    ("mcp_meta_emit_event", {"instance_id": "@ID", "event_type": "epic_begun", "event_data": {}}, "event_type"),
    ("mcp_meta_emit_event", {"instance_id": "@ID", "event_type": "epic_started", "event_data": {"epic_id": "e"}},
     "event_data.feature_name"),
    ("mcp_meta_emit_event", {"instance_id": "@ID", "event_type": "test_passed",
                             "event_data": {"epic_id": "e", "passed_count": "five"}}, "event_data.passed_count"),
    ("mcp_meta_emit_event", {"instance_id": "@ID", "event_type": "checkpoint_created",
                             "event_data": {"checkpoint_id": "c", "summary": "x" * 70_000}}, "event_data"),
    ("mcp_meta_emit_event", {"instance_id": "ghost-PS-000000", "event_type": "epic_started",
                             "event_data": {"epic_id": "e", "feature_name": "f"}}, "instance_id"),
    ("mcp_meta_emit_event", {"instance_id": "@ID", "event_type": "error", "event_data": {"message": "m"},
                             "tags": ["x"]}, "tags"),
    ("mcp_meta_query_events", {"instance_id": "@ID", "filters": {"start_date": "last tuesday"}}, "start_date"),
    ("mcp_meta_query_events", {"instance_id": "@ID", "filters": {"since": "2026-01-01"}}, "filters.since"),
    ("mcp_meta_query_events", {"instance_id": "@ID", "limit": "all"}, "limit"),
    ("mcp_meta_replay_events", {"instance_id": "@ID", "to_sequence_num": -3}, "to_sequence_num"),
    ("mcp_meta_register_instance", {"project": "has spaces"}, "project"),
    ("mcp_meta_heartbeat", {"instance_id": "ghost-PS-000000"}, "instance_id"),
]


def test_refusals_name_the_field_write_nothing_and_keep_the_server_up(url):
    async def refuse():
        async with stdio_client(url) as client:
            instance = (await call(client, "mcp_meta_register_instance", {"project": "odin"}))["instance_id"]
            head = await call(client, "chronik_head")
            answers = []
            for tool, arguments, _field in BAD_CALLS:
                arguments = {k: instance if v == "@ID" else v for k, v in arguments.items()}
                answers.append(await call(client, tool, arguments))
            after = await call(client, "chronik_head")
            still = await call(client, "mcp_meta_emit_event", {"instance_id": instance, "event_type": "error",
                                                               "event_data": {"message": "still here"}})
            unknown = await call(client, "no_such_tool")
            return head, answers, after, still, unknown

    head, answers, after, still, unknown = anyio.run(refuse)
    for (tool, _arguments, field), answer in zip(BAD_CALLS, answers, strict=True):
        assert answer["success"] is False and list(answer) == ["success", "error"], (tool, answer)
        assert answer["error"].startswith(f"{field}:"), (field, answer["error"])
        assert "(" in answer["error"], f"no fix in {answer['error']}"
    assert after == head, "a refused call wrote something"
    assert still["success"] and still["sequence_num"] == 2
    assert unknown["is_error"] and "mcp_meta_emit_event" in unknown["fix"]


def test_event_data_returned_is_capped_per_event_and_per_response(url):
    env = {"CHRONIK_SESSIONS_RESULT_EVENT_BYTES": "2048", "CHRONIK_SESSIONS_RESULT_BYTES": "8192"}

    async def capped():
        async with stdio_client(url, env) as client:
            instance = (await call(client, "mcp_meta_register_instance", {"project": "odin"}))["instance_id"]
            for index in range(12):
                await call(client, "mcp_meta_emit_event", {
                    "instance_id": instance, "event_type": "checkpoint_created",
                    "event_data": {"checkpoint_id": f"cp-{index}", "summary": "s" * (5000 if index == 0 else 900)}})
            return await call(client, "mcp_meta_query_events", {"instance_id": instance, "limit": 100})

    page = anyio.run(capped)
    first = page["events"][1]["event_data"]
    assert set(first) == {"_truncated"}
    assert first["_truncated"]["limit_bytes"] == 2048 and first["_truncated"]["original_bytes"] > 5000
    assert first["_truncated"]["preview"].startswith('{"checkpoint_id":"cp-0"')
    assert page["events"][2]["event_data"]["checkpoint_id"] == "cp-1"
    assert page["has_more"] is True and page["truncated"]["events_omitted"] == 13 - len(page["events"])
    assert 0 < len(page["events"]) < 13 and page["total_count"] == 13


def test_the_ledger_tools(url):
    async def ledger_tools():
        async with stdio_client(url) as client:
            event = {"type": "order_placed", "data": {"sku": "A-1"}, "id": "0f8fad5b-d9cb-469f-a165-70867728950e"}
            first = await call(client, "chronik_append", {"stream": "order:1", "events": [event],
                                                          "expected_version": 0})
            retry = await call(client, "chronik_append", {"stream": "order:1", "events": [event],
                                                          "expected_version": 0})
            conflict = await call(client, "chronik_append", {"stream": "order:1", "events": [{"type": "x"}],
                                                             "expected_version": 5})
            bad = await call(client, "chronik_append", {"stream": "order:1", "events": [{"data": {}}]})
            read = await call(client, "chronik_read_stream", {"stream": "order:1"})
            page = await call(client, "chronik_query", {"types": ["order_placed"], "limit": 1})
            streams = await call(client, "chronik_streams", {"category": "order"})
            return first, retry, conflict, bad, read, page, streams

    first, retry, conflict, bad, read, page, streams = anyio.run(ledger_tools)
    assert first == retry and first["version"] == 1
    assert conflict["is_error"] and conflict["error"] == "ConcurrencyError"
    assert bad["is_error"] and bad["field"] == "events[0]"
    assert [e["data"] for e in read["events"]] == [{"sku": "A-1"}] and read["has_more"] is False
    assert page["total"] == 1 and page["next_cursor"] is None
    assert streams["count"] == 1 and streams["streams"][0]["stream"] == "order:1"

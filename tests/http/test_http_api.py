"""Every API route through a real `chronik serve` process: shapes, statuses and error JSON."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import uuid

import pytest

from chronik import codec

pytestmark = pytest.mark.usefixtures("shared_server")


def unique_stream(category: str = "order") -> str:
    return f"{category}:{uuid.uuid4().hex[:12]}"


def append(client, stream, *events, expect=None, status=201):
    body = {"events": list(events)}
    if expect is not None:
        body["expect"] = expect
    response = client.post(f"/v1/streams/{stream}/events", json=body)
    assert response.status_code == status, response.text
    return response.json()


def test_append_returns_positions_version_and_ids(shared_server):
    with shared_server.client() as client:
        stream = unique_stream()
        result = append(client, stream, {"type": "created", "data": {"amount": 5}},
                        {"type": "paid", "data": {"amount": 7}, "meta": {"by": "test"}}, expect="no-stream")
        assert set(result) == {"first_position", "last_position", "version", "ids"}
        assert result["version"] == 2 and result["last_position"] == result["first_position"] + 1
        assert len(result["ids"]) == 2
        again = append(client, stream, {"type": "shipped"}, expect=2)
        assert again["version"] == 3


def test_an_append_retried_with_the_same_ids_is_recorded_once(shared_server):
    with shared_server.client() as client:
        stream = unique_stream()
        event = {"type": "created", "id": str(uuid.uuid4()), "data": {"n": 1}}
        first = append(client, stream, event)
        retry = append(client, stream, event)
        assert retry == first
        assert len(client.get(f"/v1/streams/{stream}/events").json()["events"]) == 1


def test_a_stale_expectation_is_409_with_the_current_version(shared_server):
    with shared_server.client() as client:
        stream = unique_stream()
        append(client, stream, {"type": "created"})
        response = client.post(f"/v1/streams/{stream}/events", json={"events": [{"type": "x"}], "expect": 0})
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "ConcurrencyError" and error["current_version"] == 1 and error["exit_code"] == 4
        assert error["field"] is None and error["message"]
        assert len(client.get(f"/v1/streams/{stream}/events").json()["events"]) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"events": [{"type": "Not A Type!"}]}, "events[0].type"),
    ({"events": [{"type": 3}]}, "events[0].type"),
    ({"events": []}, "events"),
    ({"events": [{"type": "ok", "data": [1]}]}, "events[0].data"),
    ({"events": [{"type": "ok"}], "expect": "sometimes"}, "expect"),
    ({"events": [{"type": "ok", "surprise": 1}]}, "events[0]"),
    ({"nothing": []}, "body"),
])
def test_invalid_input_is_422_naming_the_field(shared_server, body, field):
    with shared_server.client() as client:
        stream = unique_stream()
        response = client.post(f"/v1/streams/{stream}/events", json=body)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "ValidationError" and error["exit_code"] == 2
        assert error["field"] == field or (field == "body" and error["field"] in ("body", "")), error
        assert client.get(f"/v1/streams/{stream}/events").json() == {"events": []}


def test_bad_json_and_a_bad_stream_name_are_422(shared_server):
    with shared_server.client() as client:
        response = client.post("/v1/streams/order:1/events", content=b'{"events": [{"type": "a",}]}')
        assert response.status_code == 422 and response.json()["error"]["field"] == "body"
        duplicate = client.post("/v1/streams/order:1/events", content=b'{"events": [], "events": []}')
        assert duplicate.status_code == 422 and "duplicate" in duplicate.json()["error"]["message"]
        response = client.post("/v1/streams/no-colon/events", json={"events": [{"type": "a"}]})
        assert response.status_code == 422 and response.json()["error"]["field"] == "stream"


def test_size_limits_are_413_before_parsing(shared_server):
    with shared_server.client() as client:
        big = {"events": [{"type": "big", "data": {"blob": "x" * (2 * 1024 * 1024)}}]}
        response = client.post(f"/v1/streams/{unique_stream()}/events", json=big)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "LimitExceeded"
        assert response.json()["error"]["limit_name"] == "max_event_bytes"
        deep = b'{"events": [{"type": "deep", "data": ' + b'{"a": ' * 200 + b"1" + b"}" * 200 + b"}]}"
        response = client.post(f"/v1/streams/{unique_stream()}/events", content=deep)
        assert response.status_code == 413 and response.json()["error"]["limit_name"] == "max_body_depth"
        huge = b"[" * 9 * 1024 * 1024
        response = client.post(f"/v1/streams/{unique_stream()}/events", content=huge)
        assert response.status_code == 413 and response.json()["error"]["limit_name"] == "max_body_bytes"


def test_atomic_multi_stream_append(shared_server):
    with shared_server.client() as client:
        one, two = unique_stream(), unique_stream("invoice")
        response = client.post("/v1/events", json={"streams": [
            {"stream": one, "events": [{"type": "created"}], "expect": "no-stream"},
            {"stream": two, "events": [{"type": "issued"}, {"type": "sent"}]}]})
        assert response.status_code == 201, response.text
        results = response.json()["streams"]
        assert results[one]["version"] == 1 and results[two]["version"] == 2
        # One stale expectation: nothing of the call is written.
        response = client.post("/v1/events", json={"streams": [
            {"stream": one, "events": [{"type": "again"}], "expect": "no-stream"},
            {"stream": two, "events": [{"type": "more"}]}]})
        assert response.status_code == 409
        assert len(client.get(f"/v1/streams/{two}/events").json()["events"]) == 2
        response = client.post("/v1/events", json={"streams": [
            {"stream": one, "events": [{"type": "ok"}]}, {"stream": two, "events": [{"type": "No!"}]}]})
        assert response.status_code == 422 and response.json()["error"]["field"] == "streams[1].events[0].type"


def test_read_stream_forwards_backwards_and_limited(shared_server):
    with shared_server.client() as client:
        stream = unique_stream()
        append(client, stream, *({"type": "step", "data": {"i": i}} for i in range(1, 6)))
        events = client.get(f"/v1/streams/{stream}/events").json()["events"]
        assert [e["version"] for e in events] == [1, 2, 3, 4, 5]
        assert set(events[0]) == {"position", "stream", "version", "type", "id", "time", "data", "meta",
                                  "prev", "hash", "sig"}
        backwards = client.get(f"/v1/streams/{stream}/events", params={"backwards": "true", "limit": 2})
        assert [e["version"] for e in backwards.json()["events"]] == [5, 4]
        ranged = client.get(f"/v1/streams/{stream}/events", params={"start": 2, "end": 3})
        assert [e["version"] for e in ranged.json()["events"]] == [2, 3]
        too_many = client.get(f"/v1/streams/{stream}/events", params={"limit": 100_000})
        assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "limit"
        bad = client.get(f"/v1/streams/{stream}/events", params={"start": "zero"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "start"


def test_events_match_chronik_read_json(shared_server):
    """The Event JSON is what `chronik read --json` prints, line for line."""
    with shared_server.client() as client:
        stream = unique_stream()
        append(client, stream, {"type": "created", "data": {"é": "ünïcode", "n": 1.5}})
        over_http = client.get(f"/v1/streams/{stream}/events").json()["events"]
    printed = subprocess.run([sys.executable, "-m", "chronik.cli", "--ledger", shared_server.ledger_url, "read",
                              stream, "--json"], capture_output=True, text=True, check=True).stdout
    assert [json.loads(line) for line in printed.splitlines()] == over_http


def test_query_pages_with_a_cursor_and_filters(shared_server):
    with shared_server.client() as client:
        category = "q" + uuid.uuid4().hex[:8]
        streams = [f"{category}:{i}" for i in range(3)]
        for index, stream in enumerate(streams):
            append(client, stream, {"type": "made", "data": {"i": index}}, {"type": "kept", "data": {"i": index}})
        seen, cursor = [], None
        while True:
            params = {"categories": category, "types": "made,kept", "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/v1/events", params=params).json()
            seen += page["events"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == 6 and [e["position"] for e in seen] == sorted(e["position"] for e in seen)
        made = client.get("/v1/events", params=[("categories", category), ("types", "made")]).json()["events"]
        assert [e["type"] for e in made] == ["made"] * 3
        text = client.get("/v1/events", params={"categories": category, "text": "KEPT"}).json()["events"]
        assert len(text) == 3
        after = client.get("/v1/events", params={"after": seen[3]["position"], "categories": category}).json()
        assert [e["position"] for e in after["events"]] == [e["position"] for e in seen[4:]]
        since = client.get("/v1/events", params={"categories": category, "since": seen[0]["time"]}).json()
        assert len(since["events"]) == 6
        bad = client.get("/v1/events", params={"types": "Bad Type"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "types"
        bad = client.get("/v1/events", params={"cursor": "nonsense"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "cursor"
        bad = client.get("/v1/events", params={"since": "last tuesday"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "since"


def test_streams_head_and_verify_match_the_cli(shared_server):
    with shared_server.client() as client:
        stream = unique_stream("listing")
        append(client, stream, {"type": "created"})
        infos = client.get("/v1/streams", params={"category": "listing"}).json()["streams"]
        assert [i["stream"] for i in infos] == [stream] and infos[0]["version"] == 1
        head = client.get("/v1/head").json()
        report = client.post("/v1/verify").json()
    cli_head = json.loads(subprocess.run([sys.executable, "-m", "chronik.cli", "--ledger", shared_server.ledger_url,
                                          "head", "--json"], capture_output=True, text=True).stdout)
    assert cli_head["position"] >= head["position"] and set(head) == {"position", "hash"}
    assert report["ok"] is True and report["first_bad_position"] is None
    assert [c["name"] for c in report["checks"]] == ["storage", "chain", "positions", "versions", "signatures",
                                                      "anchor"]
    with shared_server.client() as client:
        ranged = client.post("/v1/verify", json={"from_position": 1, "to_position": 1}).json()
        assert ranged["ok"] and ranged["checked"] == 1
        bad = client.post("/v1/verify", json={"from_position": 0})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "from_position"
        # Beyond 64 bits: was a 500 (OverflowError from SQLite), found by schemathesis.
        for field in ("from_position", "to_position"):
            huge = client.post("/v1/verify", json={field: 20676776556979411746816})
            assert huge.status_code == 422 and huge.json()["error"]["field"] == field, huge.text
        bad = client.post("/v1/verify", json={"anchor": {"format": "nope"}})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "anchor"


def test_replay_and_diff_with_a_reducer_named_at_start(shared_server):
    with shared_server.client() as client:
        offered = client.get("/v1/reducers").json()["reducers"]
        assert {"name": "tally", "version": 1, "categories": None, "source": "http_reducers:Tally",
                "summary": ""} in offered
        assert any(r["name"] == "extension-status" and r["categories"] == ["extension"] for r in offered)
        stream = unique_stream()
        append(client, stream, {"type": "created", "data": {"amount": 5}}, {"type": "paid", "data": {"amount": 7}})
        now = client.get(f"/v1/streams/{stream}/state", params={"reducer": "tally"}).json()
        assert now["state"] == {"count": 2, "total": 12, "types": {"created": 1, "paid": 1}}
        assert now["version"] == 2 and now["reducer"] == "tally@1"
        then = client.get(f"/v1/streams/{stream}/state", params={"reducer": "tally", "version": 1}).json()
        assert then["state"]["total"] == 5 and then["version"] == 1
        diff = client.get(f"/v1/streams/{stream}/diff", params={"reducer": "tally", "a": 1, "b": 2}).json()
        changed = {c["path"]: c for c in diff["changes"]}
        assert changed["$.total"]["old"] == 5 and changed["$.total"]["new"] == 12
        assert [e["version"] for e in changed["$.total"]["events"]] == [2]
        unknown = client.get(f"/v1/streams/{stream}/state", params={"reducer": "nope"})
        assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "reducer"
        both = client.get(f"/v1/streams/{stream}/state", params={"reducer": "tally", "version": 1, "position": 1})
        assert both.status_code == 422 and both.json()["error"]["field"] == "position"
        missing = client.get(f"/v1/streams/{stream}/diff", params={"reducer": "tally"})
        assert missing.status_code == 422 and missing.json()["error"]["field"] == "a"


def test_the_extensions_pack_route(shared_server):
    with shared_server.client() as client:
        append(client, "extension:python", {"type": "install_started", "data": {
            "version": "3.13", "source": "chronik", "install_method": "Script", "state_before": None,
            "state_after": "installing"}})
        statuses = client.get("/v1/ext/status").json()["statuses"]
        assert [s["name"] for s in statuses] == ["python"] and statuses[0]["state"] == "installing"
        bad = client.get("/v1/ext/status", params={"all": "maybe"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "all"


def test_health_metrics_and_openapi(shared_server):
    with shared_server.client() as client:
        assert client.get("/healthz").json() == {"ok": True}
        ready = client.get("/readyz").json()
        assert ready["ok"] is True and ready["head_position"] >= 0
        append(client, unique_stream(), {"type": "counted"})
        metrics = client.get("/metrics")
        assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
        for name in ("chronik_appends_total", "chronik_append_seconds_bucket", "chronik_events_read_total",
                     "chronik_subscriptions", "chronik_subscription_lag_max_events", "chronik_verify_runs_total",
                     "chronik_store_errors_total", "chronik_commit_group_appends_bucket"):
            assert name in metrics.text, name
        assert 'chronik_appends_total{outcome="ok"}' in metrics.text
        document = client.get("/openapi.json").json()
        assert document["openapi"].startswith("3.1")
        for path in ("/v1/streams/{stream}/events", "/v1/events", "/v1/streams", "/v1/head", "/v1/verify",
                     "/v1/subscribe", "/metrics", "/healthz", "/readyz", "/v1/ext/status"):
            assert path in document["paths"], path


def test_unknown_routes_and_methods_answer_in_the_error_shape(shared_server):
    with shared_server.client() as client:
        missing = client.get("/v1/nothing")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "NoRoute"
        wrong = client.delete("/v1/head")
        assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "MethodNotAllowed"


def test_a_locked_store_is_503_with_retry_after(start_server, tmp_path):
    path = tmp_path / "busy.db"
    server = start_server(ledger=f"sqlite:///{path}?busy_timeout_ms=100")
    with server.client() as client:
        append(client, "order:1", {"type": "created"})
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds SQLite's write lock
        try:
            response = client.post("/v1/streams/order:1/events", json={"events": [{"type": "blocked"}]})
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "StoreBusy" and response.headers["retry-after"] == "1"
        assert append(client, "order:1", {"type": "later"})["version"] == 2


def test_times_are_the_ledgers(shared_server):
    with shared_server.client() as client:
        stream = unique_stream()
        append(client, stream, {"type": "created"})
        event = client.get(f"/v1/streams/{stream}/events").json()["events"][0]
    assert codec.canonical_time(event["time"]) == event["time"]

"""The live stream: SSE resumed with Last-Event-ID while writers append, NDJSON, filters,
heartbeats, and a slow client disconnected instead of growing memory."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import threading
import time

import httpx
import pytest

from chronik import NewEvent, open_ledger
from chronik.http.live import Broadcaster, SlowConsumer, live_events
from chronik.http.metrics import Metrics
from chronik.model import ReadFilter

WRITERS = 2
EVENTS_PER_WRITER = 80
CLIENTS = 3

WRITER = """
import random, sys, time, httpx
base, writer, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
with httpx.Client(base_url=base, timeout=30) as client:
    for i in range(count):
        events = [{"type": "ticked", "data": {"writer": writer, "i": i, "j": j}} for j in range(rng.choice([1, 1, 2]))]
        response = client.post(f"/v1/streams/w{writer}:{i % 3}/events", json={"events": events})
        assert response.status_code == 201, response.text
        time.sleep(rng.uniform(0, 0.02))
"""


def sse_messages(lines):
    """(id, event, data) of each server-sent event; (None, None, None) for a heartbeat comment."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                yield fields.get("id"), fields.get("event"), fields["data"]
            fields = {}
        elif line.startswith(":"):
            yield None, None, None
        else:
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value


class ReconnectingClient(threading.Thread):
    """Reads the SSE stream, disconnects after a random number of events, reconnects with
    Last-Event-ID, until it has seen position `final` (known once the writers are done)."""

    def __init__(self, base_url: str, rng: random.Random, writers_done: threading.Event) -> None:
        super().__init__(daemon=True)
        self.base_url, self.rng, self.writers_done = base_url, rng, writers_done
        self.final: int | None = None
        self.seen: list[dict] = []
        self.reconnects = 0
        self.error: BaseException | None = None

    def finished(self) -> bool:
        return self.final is not None and bool(self.seen) and self.seen[-1]["position"] >= self.final

    def run(self) -> None:
        try:
            deadline = time.monotonic() + 60
            while not self.finished() and time.monotonic() < deadline:
                headers = {"Last-Event-ID": str(self.seen[-1]["position"])} if self.seen else {}
                budget = self.rng.randint(1, 15)
                with httpx.stream("GET", self.base_url + "/v1/subscribe", headers=headers,
                                  timeout=httpx.Timeout(10, read=10)) as response:
                    assert response.status_code == 200 and response.headers["content-type"].startswith(
                        "text/event-stream")
                    for event_id, event_type, data in sse_messages(response.iter_lines()):
                        if data is not None:
                            event = json.loads(data)
                            assert int(event_id) == event["position"] and event_type == event["type"]
                            self.seen.append(event)
                            budget -= 1
                        if self.finished() or budget <= 0:
                            break
                self.reconnects += 1
                time.sleep(self.rng.uniform(0, 0.05))
        except BaseException as error:  # reported by the test thread
            self.error = error


def test_sse_clients_that_reconnect_at_random_see_the_log_exactly(start_server):
    seed = random.randrange(2**32)
    print(f"seed: {seed}")
    server = start_server("--heartbeat-s", "0.2")
    writers_done = threading.Event()
    clients = [ReconnectingClient(server.base_url, random.Random(seed + i), writers_done) for i in range(CLIENTS)]
    for client in clients:
        client.start()
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, server.base_url, str(w), str(EVENTS_PER_WRITER),
                                 str(seed + 100 + w)]) for w in range(WRITERS)]
    for writer in writers:
        assert writer.wait(timeout=120) == 0
    with server.client() as http:
        final = http.get("/v1/head").json()["position"]
        log, after = [], 0
        while True:
            page = http.get("/v1/events", params={"after": after, "limit": 1000}).json()
            log += page["events"]
            if page["next_after"] is None:
                break
            after = page["next_after"]
    writers_done.set()
    for client in clients:
        client.final = final
    for client in clients:
        client.join(timeout=90)
        assert client.error is None, f"seed {seed}: {client.error!r}"
        positions = [event["position"] for event in client.seen]
        assert positions == list(range(1, final + 1)), f"seed {seed}: gaps or duplicates"
        assert client.seen == log, f"seed {seed}: the stream differs from the log"
        assert client.reconnects >= 3, f"seed {seed}: the client did not reconnect"
    assert final >= WRITERS * EVENTS_PER_WRITER


def test_ndjson_with_filters_limit_and_resume(start_server):
    server = start_server("--heartbeat-s", "0.2")
    with server.client() as http:
        for i in range(4):
            http.post(f"/v1/streams/{'order' if i % 2 else 'invoice'}:{i}/events",
                      json={"events": [{"type": "made" if i < 3 else "kept"}]})
        with http.stream("GET", "/v1/subscribe", params={"format": "ndjson", "categories": "order",
                                                          "limit": 2}) as response:
            assert response.headers["content-type"].startswith("application/x-ndjson")
            lines = [json.loads(line) for line in response.iter_lines() if line.strip()]
        assert [(e["stream"], e["position"]) for e in lines] == [("order:1", 2), ("order:3", 4)]
        with http.stream("GET", "/v1/subscribe", params={"format": "ndjson", "after": 2, "types": "made",
                                                          "limit": 1}) as response:
            assert [json.loads(line)["position"] for line in response.iter_lines() if line.strip()] == [3]
        bad = http.get("/v1/subscribe", headers={"Last-Event-ID": "yesterday"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "Last-Event-ID"
        bad = http.get("/v1/subscribe", params={"types": "Not A Type"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "types"


def test_a_live_client_gets_heartbeats_and_new_events(start_server):
    server = start_server("--heartbeat-s", "0.1")
    with server.client() as http, http.stream("GET", "/v1/subscribe") as response:
        messages = sse_messages(response.iter_lines())
        assert next(messages) == (None, None, None)  # a heartbeat on an idle ledger
        threading.Timer(0.2, lambda: httpx.post(server.base_url + "/v1/streams/order:9/events",
                                                json={"events": [{"type": "late"}]})).start()
        event = next(m for m in messages if m[0] is not None)
        assert event[0] == "1" and event[1] == "late"
        metrics = http.get("/metrics").text
        assert "chronik_subscriptions 1.0" in metrics


def test_a_slow_client_is_disconnected_with_a_reason(tmp_path):
    """The queue of a client that does not keep up overflows: it is dropped, never grown."""
    ledger = open_ledger(f"sqlite:///{tmp_path / 'slow.db'}")
    metrics = Metrics()

    async def scenario() -> list[int]:
        broadcaster = Broadcaster(ledger, metrics, buffer_events=5)
        broadcaster.start(asyncio.get_running_loop())
        received: list[int] = []
        stream = live_events(ledger, broadcaster, 0, ReadFilter(), heartbeat_s=0.05)
        try:
            assert await anext(stream) == []  # registered, nothing yet
            await asyncio.to_thread(ledger.append, "order:1", [NewEvent("tick", {"i": i}) for i in range(50)])
            await asyncio.sleep(0.5)  # the broadcaster queues 50 events for a client that reads none
            with pytest.raises(SlowConsumer):
                async for events in stream:
                    received += [event.position for event in events]
            assert broadcaster.subscribers == set()
            return received
        finally:
            broadcaster.stop()

    try:
        received = asyncio.run(scenario())
    finally:
        ledger.close()
    assert received == []  # dropped at once, not after draining a backlog

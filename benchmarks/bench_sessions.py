"""Agent sessions: the plan's performance targets, on SQLite and PostgreSQL, each beside the
real system's design (bench_sessions_peer.py) measured in the same run on the same events.

    python benchmarks/bench_sessions.py [--store sqlite|postgres|both] [--events 1000000]
                                        [--instances 1000] [--quick] [--pg-url URL] [--json FILE]

The ledger holds `--events` events of `--instances` instances (registered, then a realistic mix:
tool use and results, messages, commits, tests, epics, checkpoints, errors, heartbeats; ~300-500
bytes of data each), recorded over 90 days. Figures (milliseconds; p50 and p99 of repeated runs):

- emit through the MCP tool function in-process (plan < 10 ms p99; aim < 2 ms), durable;
- emit through a stdio client round trip (the SDK client and `chronik mcp` as a subprocess);
- the last 100 events of one instance (plan < 50 ms; aim < 5 ms);
- replay of 100 events (plan < 200 ms; aim < 5 ms);
- type + date range + keyword query of one instance (plan < 100 ms p99; aim < 20 ms p99);
- bytes per stored event, indexes included (plan: ~500 bytes).

Without --pg-url PostgreSQL is $CHRONIK_BENCH_PG_URL, else postgresql://postgres@127.0.0.1:5432/postgres.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import chronik  # noqa: E402
from bench_sessions_peer import OriginalPostgres, OriginalSqlite  # noqa: E402
from chronik.domains.sessions import service, tools  # noqa: E402
from chronik.domains.sessions.checks import DEFAULT_CATALOG  # noqa: E402
from chronik.model import Expect, Filter, NewEvent  # noqa: E402
from chronik.stores import open_store  # noqa: E402

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SPAN = timedelta(days=90)
WORDS = ("cors", "token", "refresh", "oauth", "migration", "timeout", "retry", "schema", "cache", "latency",
         "deploy", "health", "handler", "fixture", "coverage", "lint", "webpack", "postgres", "index", "queue")
QUERY_TYPES = ["tool_result", "error", "test_failed"]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def realistic_event(rng: random.Random, index: int) -> tuple[str, dict[str, Any]]:
    """One event of a working agent (weights from a day's session: mostly tool calls)."""
    roll = rng.random()
    epic = f"epic-{index // 150:03d}"
    if roll < 0.32:
        return "tool_use", {"tool_name": rng.choice(("Read", "Edit", "Bash", "Grep")),
                            "tool_use_id": f"toolu_{rng.getrandbits(64):016x}",
                            "input": {"path": f"src/{_text(rng, 2).replace(' ', '/')}.py", "pattern": _text(rng, 4)}}
    if roll < 0.62:
        return "tool_result", {"tool_name": "Bash", "tool_use_id": f"toolu_{rng.getrandbits(64):016x}",
                               "is_error": rng.random() < 0.1, "output": _text(rng, 30),
                               "duration_ms": round(rng.uniform(5, 900), 1)}
    if roll < 0.68:
        return "user_message", {"content": _text(rng, 25)}
    if roll < 0.72:
        return "assistant_start", {"model": "claude-opus", "turn": index}
    if roll < 0.77:
        return "commit_created", {"commit_sha": f"{rng.getrandbits(160):040x}", "message": _text(rng, 8),
                                  "files_changed": rng.randint(1, 30), "epic_id": epic}
    if roll < 0.82:
        passed = rng.randint(10, 200)
        kind = "test_passed" if rng.random() < 0.8 else "test_failed"
        data: dict[str, Any] = {"epic_id": epic, "test_type": rng.choice(("unit", "integration", "e2e")),
                                "passed_count": passed, "failed_count": rng.randint(0 if kind == "test_passed" else 1, 5),
                                "duration_seconds": round(rng.uniform(2, 400), 1)}
        if kind == "test_failed":
            data["failing_tests"] = [f"test_{rng.choice(WORDS)}" for _ in range(2)]
        return kind, data
    if roll < 0.86:
        return "context_window_updated", {"percent_used": round(rng.uniform(5, 95), 1),
                                          "tokens_used": rng.randint(1000, 190_000), "tokens_max": 200_000}
    if roll < 0.89:
        return "checkpoint_created", {"checkpoint_id": f"cp-{index}", "epic_id": epic, "summary": _text(rng, 20)}
    if roll < 0.93:
        return "error", {"message": f"{_text(rng, 6)} timeout", "error_type": "ToolError", "epic_id": epic}
    if roll < 0.95:
        return "epic_started", {"epic_id": epic, "feature_name": _text(rng, 2), "estimated_hours": 40}
    if roll < 0.97:
        return "epic_completed", {"epic_id": epic, "duration_hours": round(rng.uniform(1, 80), 1),
                                  "files_changed": rng.randint(1, 60)}
    return "instance_heartbeat", {"context_percent": round(rng.uniform(5, 95), 1)}


class Timeline:
    """The ledger's clock while loading: the load covers SPAN, one step per append."""

    def __init__(self, appends: int) -> None:
        self.now = datetime.now(UTC) - SPAN
        self.step = SPAN / max(appends, 1)

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


def load(url: str, events: int, instances: int, rng: random.Random) -> tuple[list[str], float]:
    """Fill the ledger: every instance registered, then rounds of 10 events for 100 instances
    per append (1,000 events, one commit). Returns the instance ids and the seconds it took."""
    per_instance = max(events // instances - 1, 1)
    rounds = -(-per_instance // 10)
    groups = -(-instances // 100)
    clock = Timeline(rounds * groups + groups)
    ids = [f"proj{n % 50}-PS-{n:06x}" for n in range(instances)]
    started = time.perf_counter()
    with chronik.Ledger(open_store(url), clock=clock) as ledger:
        for group in range(groups):
            members = ids[group * 100:(group + 1) * 100]
            ledger.append_many({f"instance:{i}": ([NewEvent("instance_registered", {"project": i.split("-")[0]})],
                                                  Expect.NO_STREAM) for i in members})
        for round_number in range(rounds):
            for group in range(groups):
                batch = {}
                for instance in ids[group * 100:(group + 1) * 100]:
                    new = []
                    for k in range(min(10, per_instance - round_number * 10)):
                        event_type, data = realistic_event(rng, round_number * 10 + k)
                        checked = DEFAULT_CATALOG.check(event_type, data)
                        new.append(NewEvent(checked.type, checked.data, checked.meta))
                    if new:
                        batch[f"instance:{instance}"] = (new, Expect.ANY)
                ledger.append_many(batch)
    return ids, time.perf_counter() - started


def peer_rows(url: str) -> Iterator[tuple]:
    with chronik.open_ledger(url, read_only=True) as ledger:
        for event in ledger.read_all(filter=Filter(categories=["instance"])):
            yield (str(uuid.UUID(event.id)), event.stream.partition(":")[2], event.type, event.version, event.time,
                   json.dumps(event.data), json.dumps(event.meta))


def timed(run: Callable[[], Any], repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 3),
            "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 3), "runs": repeat}


def stdio_round_trips(url: str, instance: str, repeat: int) -> dict[str, float]:
    import anyio

    from mcp import Client, StdioServerParameters

    samples: list[float] = []

    async def run() -> None:
        chronik_cli = str(Path(sys.executable).parent / "chronik")
        async with Client(StdioServerParameters(command=chronik_cli, args=["--ledger", url, "mcp"])) as client:
            for index in range(repeat):
                began = time.perf_counter()
                result = await client.call_tool("mcp_meta_emit_event", {
                    "instance_id": instance, "event_type": "tool_use",
                    "event_data": {"tool_name": "Read", "tool_use_id": f"rt-{index}"}})
                samples.append((time.perf_counter() - began) * 1000)
                assert result.structured_content and result.structured_content["success"], result

    anyio.run(run)
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 3),
            "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 3), "runs": repeat}


def window(rng: random.Random) -> tuple[str, str]:
    start = datetime.now(UTC) - SPAN + timedelta(days=rng.uniform(0, 60))
    return start.isoformat(), (start + timedelta(days=30)).isoformat()


def measure(url: str, ids: list[str], per_instance: int, peer: Any, rng: random.Random, repeat: int,
            quick: bool) -> dict[str, Any]:
    """Every figure: (chronik's, the original design's, the plan's target, the aim)."""
    figures: dict[str, Any] = {}
    now = datetime.now(UTC).isoformat()
    with chronik.open_ledger(url) as ledger:
        emitter = service.register(ledger, "bench").instance_id
        peer.emit(emitter, "instance_registered", {"project": "bench"}, now)
        data = {"tool_name": "Read", "tool_use_id": "toolu_0", "input": {"path": "src/app.py"}}
        args = {"instance_id": emitter, "event_type": "tool_use", "event_data": data}
        figures["emit (MCP tool function)"] = (timed(lambda: tools.emit_event(ledger, args), repeat * 5),
                                               timed(lambda: peer.emit(emitter, "tool_use", data, now), repeat * 5),
                                               10, 2)
        figures["last 100 events of one instance"] = (
            timed(lambda: service.query(ledger, rng.choice(ids), offset=per_instance - 100, limit=100), repeat),
            timed(lambda: peer.last(rng.choice(ids), 100), repeat), 50, 5)
        figures["replay of 100 events"] = (
            timed(lambda: tools.replay_events(ledger, {"instance_id": rng.choice(ids), "to_sequence_num": 100}),
                  repeat),
            timed(lambda: peer.replay(rng.choice(ids), 100), repeat), 200, 5)

        def chronik_query() -> None:
            start, end = window(rng)
            service.query(ledger, rng.choice(ids), event_type=QUERY_TYPES, start_date=start, end_date=end,
                          keyword=rng.choice(WORDS))

        def peer_query() -> None:
            start, end = window(rng)
            peer.query(rng.choice(ids), QUERY_TYPES, start, end, rng.choice(WORDS))

        figures["type + date range + keyword query"] = (timed(chronik_query, repeat), timed(peer_query, repeat),
                                                       100, 20)
    figures["emit (stdio client round trip)"] = (stdio_round_trips(url, emitter, 200 if quick else repeat * 2),
                                                 None, 10, 2)
    return figures


def chronik_bytes_per_event(url: str, kind: str) -> tuple[float, float]:
    """Bytes per stored event: events, streams and their indexes; and of that, the text index
    (issue 11's trigram index, which answers text filters over the whole ledger)."""
    with chronik.open_ledger(url, read_only=True) as ledger:
        count = ledger.head().position
        path = ledger.store.path
    if kind == "sqlite":
        import sqlite3

        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        sizes = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
        conn.close()
        total = sum(size for name, size in sizes.items() if name.startswith(("events", "streams")))
        text = sum(size for name, size in sizes.items() if name.startswith("events_text"))
        return total / count, text / count
    import psycopg

    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        total, text = conn.execute(
            f"SELECT pg_total_relation_size('\"{schema}\".events') + pg_total_relation_size('\"{schema}\".streams'), "
            f"(SELECT COALESCE(sum(pg_relation_size(indexrelid)), 0) FROM pg_index i JOIN pg_class c "
            f"ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = %s AND c.relname LIKE 'events_%%_trgm')", (schema,)).fetchone()
    return float(total) / count, float(text) / count


def run_store(kind: str, events: int, instances: int, repeat: int, pg_url: str, seed: int,
              quick: bool) -> dict[str, Any]:
    rng = random.Random(seed)
    directory = tempfile.mkdtemp(prefix="bench-sessions-")
    schema = f"bench_sessions_{uuid.uuid4().hex[:8]}"
    url = (f"sqlite:///{directory.lstrip('/')}/ledger.db" if kind == "sqlite"
           else f"{pg_url}{'&' if '?' in pg_url else '?'}schema={schema}")
    ids, load_s = load(url, events, instances, rng)
    if kind == "postgres":  # statistics, as autovacuum keeps them in steady state (and as for the peer)
        import psycopg

        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'ANALYZE "{schema}".events')
    peer = OriginalSqlite(f"{directory}/original.db") if kind == "sqlite" else \
        OriginalPostgres(pg_url, f"{schema}_original")
    try:
        peer.load(peer_rows(url))
        figures = measure(url, ids, events // instances, peer, rng, repeat, quick)
        total, text = chronik_bytes_per_event(url, kind)
        peer_bytes = round(peer.bytes_per_event(), 1)
        figures["bytes per stored event"] = (round(total, 1), peer_bytes, 500, None)
        figures["bytes per stored event without the text index"] = (round(total - text, 1), peer_bytes, 500, None)
    finally:
        peer.close()
        if kind == "postgres":
            import psycopg

            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return {"store": kind, "events": events, "instances": instances, "load_s": round(load_s, 1),
            "load_events_per_s": round(events / load_s), "figures": figures}


def report(result: dict[str, Any]) -> None:
    print(f"\n## {result['store']}: {result['events']:,} events of {result['instances']:,} instances "
          f"(loaded in {result['load_s']} s, {result['load_events_per_s']:,} events/s)\n")
    print("| figure | chronik p50 | chronik p99 | original p50 | original p99 | original / chronik (p50, p99) "
          "| plan | aim |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, (ours, theirs, plan, aim) in result["figures"].items():
        if isinstance(ours, dict):
            peer = ("", "", "") if theirs is None else (
                f"{theirs['p50_ms']:.2f} ms", f"{theirs['p99_ms']:.2f} ms",
                f"{theirs['p50_ms'] / ours['p50_ms']:.2f}x, {theirs['p99_ms'] / ours['p99_ms']:.2f}x")
            print(f"| {name} | {ours['p50_ms']:.2f} ms | {ours['p99_ms']:.2f} ms | {peer[0]} | {peer[1]} | {peer[2]} "
                  f"| < {plan} ms | < {aim} ms |")
        else:
            print(f"| {name} | {ours} B | | {theirs} B | | {theirs / ours:.2f}x | ~{plan} B | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--instances", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="100,000 events of 100 instances, fewer runs")
    parser.add_argument("--pg-url", default=os.environ.get("CHRONIK_BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("CHRONIK_BENCH_SEED", "7")))
    parser.add_argument("--json", metavar="FILE", help="Also write the results as JSON.")
    args = parser.parse_args()
    if args.quick:
        args.events, args.instances, args.repeat = 100_000, 100, 100
    print(f"# bench_sessions: Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"seed {args.seed}")
    results = []
    for kind in (("sqlite", "postgres") if args.store == "both" else (args.store,)):
        result = run_store(kind, args.events, args.instances, args.repeat, args.pg_url, args.seed, args.quick)
        report(result)
        results.append(result)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

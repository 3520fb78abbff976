"""Workflows: the original's performance targets, on SQLite and PostgreSQL.

    python benchmarks/bench_workflows.py [--store sqlite|postgres|both] [--writes 2000]
                                         [--report-events 100000] [--quick] [--pg-url URL] [--json FILE]

Figures (milliseconds, p50 and p99):

- event write through the service (checked against the state, appended, durable; snapshots
  every 10 events included): original target < 50 ms, aim < 2 ms;
- state at a random event of a 1,000-event workflow with snapshots every 10 (aim < 5 ms);
- `chronik report` gathering and PDF rendering over `--report-events` events (aim < 10 s).

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
from pathlib import Path
from typing import Any

import chronik
from chronik.domains.workflows import service
from chronik.domains.workflows.events import stream_of
from chronik.domains.workflows.report import gather
from chronik.domains.workflows.report_pdf import render
from chronik.domains.workflows.writes import save_snapshots
from chronik.model import NewEvent
from chronik.stores import open_store

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFINITION = {"name": "bench", "steps": [{"id": f"s{n}"} for n in range(5)]}


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 3),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
            "n": len(ordered)}


def bench_writes(ledger: chronik.Ledger, count: int) -> dict[str, float]:
    service.start(ledger, DEFINITION, "w-write")
    samples = []
    for n in range(count):
        started = time.perf_counter()
        service.record(ledger, "w-write", "annotate", text=f"note {n}", author="bench")
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


def bench_state_at(ledger: chronik.Ledger, rng: random.Random, probes: int) -> dict[str, float]:
    service.start(ledger, DEFINITION, "w-long")
    stream = stream_of("w-long")
    for first in range(1, 1000, 100):  # 999 more events, written in batches; snapshots as the service saves them
        events = [NewEvent("annotate", {"text": f"n{first + i}"}) for i in range(min(100, 1000 - first))]
        before = ledger.append(stream, events).version - len(events)
        save_snapshots(ledger, stream, before, before + len(events), events)
    samples = []
    for _ in range(probes):
        at = rng.randrange(1, 1001)
        started = time.perf_counter()
        state = service.state(ledger, "w-long", at_event=at)
        samples.append(time.perf_counter() - started)
        assert state["version"] == at
    return percentiles(samples)


def bench_report(ledger: chronik.Ledger, events: int, folder: Path) -> dict[str, Any]:
    per_workflow = 100
    batch: dict[str, tuple[list[NewEvent], int]] = {}
    for n in range(events // per_workflow):
        wid = f"r-{n:06d}"
        items = [NewEvent("start_workflow", {"definition": DEFINITION})]
        items += [NewEvent("complete_step", {"step_id": f"s{i}"}) for i in range(3)]
        items += [NewEvent("fail_step", {"step_id": "s3", "error": "timeout"})]
        items += [NewEvent("annotate", {"text": f"t{i}"}) for i in range(per_workflow - len(items))]
        batch[stream_of(wid)] = (items, 0)
        if len(batch) == 20:
            ledger.append_many(batch)
            batch = {}
    if batch:
        ledger.append_many(batch)
    started = time.perf_counter()
    data = gather(ledger)
    gathered = time.perf_counter() - started
    render(data, str(folder / "report.pdf"))
    total = time.perf_counter() - started
    return {"events": data.events, "gather_s": round(gathered, 3), "total_s": round(total, 3),
            "verified": data.verification.ok}


def run_store(name: str, url: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    result: dict[str, Any] = {}
    with chronik.Ledger(open_store(url)) as ledger:
        result["write"] = bench_writes(ledger, args.writes)
        result["state_at_event_1000"] = bench_state_at(ledger, rng, args.probes)
    with chronik.Ledger(open_store(url.replace("bench.db", "report.db") if name == "sqlite"
                                   else url.replace("schema=wf_", "schema=wfr_"))) as ledger:
        result["report"] = bench_report(ledger, args.report_events, folder)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--probes", type=int, default=500)
    parser.add_argument("--report-events", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="200 writes, 100 probes, 10,000 report events")
    parser.add_argument("--pg-url", default=os.environ.get("CHRONIK_BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("CHRONIK_BENCH_SEED", "7")))
    parser.add_argument("--json", help="Also write the figures to this file.")
    args = parser.parse_args()
    if args.quick:
        args.writes, args.probes, args.report_events = 200, 100, 10_000
    figures: dict[str, Any] = {"machine": platform.platform(), "python": platform.python_version(), "seed": args.seed}
    with tempfile.TemporaryDirectory() as folder:
        if args.store in ("sqlite", "both"):
            figures["sqlite"] = run_store("sqlite", f"sqlite:///{folder}/bench.db", args, Path(folder))
        if args.store in ("postgres", "both"):
            schema = uuid.uuid4().hex[:10]
            sep = "&" if "?" in args.pg_url else "?"
            try:
                figures["postgres"] = run_store("postgres", f"{args.pg_url}{sep}schema=wf_{schema}", args,
                                                Path(folder))
            finally:
                import psycopg

                with psycopg.connect(args.pg_url, autocommit=True) as connection:
                    for prefix in ("wf_", "wfr_"):
                        connection.execute(f'DROP SCHEMA IF EXISTS "{prefix}{schema}" CASCADE')
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    sys.exit(main())

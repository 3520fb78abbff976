"""chronik over HTTP against the Python API, in the same run (`make bench-http`).

1. Appends per second and p50/p99 latency of single-event durable appends (SQLite,
   synchronous=FULL) through `chronik serve` with 1 and with 16 concurrent clients (threads, one
   httpx connection each, each on its own stream), and the same appends through
   `Ledger.append` from 1 and 16 threads of this process on another ledger file in the same
   folder. The ratio HTTP / Python is the HTTP overhead.
2. SSE fan-out: 100 clients on /v1/subscribe while one writer appends; delivery latency (append
   sent -> event parsed by a client) p50/p99 over every (client, event) pair.

    python benchmarks/bench_http.py [--appends 400] [--fanout-events 100] [--clients 100]

The server runs as a separate process, as `chronik serve` does; the clients run here, on the same
machine, so the figures include the clients' own CPU use.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

import chronik
from chronik import NewEvent

PAYLOAD = {"note": "x" * 440, "n": 0}  # ~500 bytes of canonical JSON per event


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(ledger_url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "chronik.cli", "--ledger", ledger_url, "serve",
                                "--port", str(port), "--heartbeat-s", "1"], start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("chronik serve did not start")


def run_threads(writers: int, appends_each: int, append_one) -> tuple[float, list[float]]:
    """(appends per second, latencies in seconds) of `writers` threads calling append_one(w, i)."""
    latencies: list[list[float]] = [[] for _ in range(writers)]
    barrier = threading.Barrier(writers + 1)

    def work(writer: int) -> None:
        barrier.wait()
        for i in range(appends_each):
            started = time.perf_counter()
            append_one(writer, i)
            latencies[writer].append(time.perf_counter() - started)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    flat = [value for per_writer in latencies for value in per_writer]
    return len(flat) / elapsed, flat


def bench_python(url: str, writers: int, appends_each: int) -> tuple[float, list[float]]:
    with chronik.open_ledger(url) as ledger:
        def append_one(writer: int, i: int) -> None:
            ledger.append(f"py{writers}x{writer}:bench", [NewEvent("measured", {**PAYLOAD, "n": i})])

        return run_threads(writers, appends_each, append_one)


def bench_http(base: str, writers: int, appends_each: int) -> tuple[float, list[float]]:
    clients = [httpx.Client(base_url=base, timeout=30) for _ in range(writers)]

    def append_one(writer: int, i: int) -> None:
        response = clients[writer].post(f"/v1/streams/http{writers}x{writer}:bench/events",
                                        json={"events": [{"type": "measured", "data": {**PAYLOAD, "n": i}}]})
        assert response.status_code == 201, response.text

    try:
        return run_threads(writers, appends_each, append_one)
    finally:
        for client in clients:
            client.close()


async def bench_fanout(base: str, clients: int, events: int, interval_s: float) -> list[float]:
    """Delivery latencies (s) of `events` appends to `clients` SSE readers."""
    sent: dict[int, float] = {}
    latencies: list[float] = []
    connected = 0
    all_connected = asyncio.Event()
    head = httpx.get(base + "/v1/head").json()["position"]

    async def reader(http: httpx.AsyncClient) -> None:
        nonlocal connected
        received = 0
        async with http.stream("GET", "/v1/subscribe", params={"after": head, "types": "fanned"}) as response:
            connected += 1
            if connected == clients:
                all_connected.set()
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    arrived = time.perf_counter()
                    event = json.loads(line[6:])
                    latencies.append(arrived - sent[event["data"]["n"]])
                    received += 1
                    if received == events:
                        return

    async def writer(http: httpx.AsyncClient) -> None:
        await all_connected.wait()
        await asyncio.sleep(0.5)  # every reader is past its catch-up
        for n in range(events):
            sent[n] = time.perf_counter()
            response = await http.post("/v1/streams/fan:out/events",
                                       json={"events": [{"type": "fanned", "data": {"n": n}}]})
            assert response.status_code == 201
            await asyncio.sleep(interval_s)

    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(60), limits=limits) as http:
        await asyncio.gather(writer(http), *(reader(http) for _ in range(clients)))
    return latencies


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--appends", type=int, default=400, help="appends per client/thread (1-writer run)")
    parser.add_argument("--fanout-events", type=int, default=100)
    parser.add_argument("--clients", type=int, default=100, help="SSE clients in the fan-out run")
    parser.add_argument("--interval-ms", type=float, default=20.0, help="pause between fan-out appends")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"chronik {chronik.__version__}")
    with tempfile.TemporaryDirectory(prefix="chronik-bench-http-") as folder:
        server, base = start_server(f"sqlite:///{Path(folder) / 'http.db'}")
        try:
            rows = []
            for writers in (1, 16):
                each = args.appends if writers == 1 else max(args.appends // 4, 10)
                py_rate, py_lat = bench_python(f"sqlite:///{Path(folder) / f'python{writers}.db'}", writers, each)
                http_rate, http_lat = bench_http(base, writers, each)
                rows.append((writers, each, py_rate, py_lat, http_rate, http_lat))
            print("\nsingle-event durable appends, SQLite (synchronous=FULL)")
            print(f"{'writers':>7} {'appends':>8} {'python/s':>9} {'py p50':>10} {'py p99':>10} "
                  f"{'http/s':>9} {'http p50':>10} {'http p99':>10} {'http/python':>11}")
            for writers, each, py_rate, py_lat, http_rate, http_lat in rows:
                print(f"{writers:>7} {writers * each:>8} {py_rate:>9.0f} {ms(percentile(py_lat, .5)):>10} "
                      f"{ms(percentile(py_lat, .99)):>10} {http_rate:>9.0f} {ms(percentile(http_lat, .5)):>10} "
                      f"{ms(percentile(http_lat, .99)):>10} {http_rate / py_rate:>10.2f}x")
            latencies = asyncio.run(bench_fanout(base, args.clients, args.fanout_events, args.interval_ms / 1000))
            print(f"\nSSE fan-out: {args.clients} clients x {args.fanout_events} events "
                  f"({len(latencies)} deliveries), one append every {args.interval_ms:g} ms")
            print(f"delivery latency p50 {ms(percentile(latencies, .5))}, p99 {ms(percentile(latencies, .99))}, "
                  f"max {ms(max(latencies))}")
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    main()

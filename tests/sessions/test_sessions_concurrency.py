"""Agent sessions under concurrency, with real processes (fork) started together at a barrier:

- many processes emitting to one instance get sequence numbers 1..N, gap-free, none shared;
- ten instances emitting at once stay isolated: each instance's sequence is its own 1..N, and
  no query or replay of one returns another's events (the plan's integration test);
- two stale sweeps at once record exactly one instance_stale per silent instance, round after
  round (each round a new silence).

The seed is printed (CHRONIK_TEST_SEED replays a run).
"""

from __future__ import annotations

import multiprocessing
import queue
import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from session_testing import store_url

import chronik
from chronik.domains.sessions import service
from chronik.domains.sessions.settings import Settings

pytestmark = pytest.mark.slow
CTX = multiprocessing.get_context("fork")
TIMEOUT_S = 120
WRITERS, EMITS_PER_WRITER = 8, 60
INSTANCES, EMITS_PER_INSTANCE = 10, 40
SILENT_INSTANCES, SWEEP_ROUNDS = 12, 3
QUICK = Settings(heartbeat_interval_s=0, stale_timeout_s=5)


def _run(target, argument_lists) -> list:
    barrier = CTX.Barrier(len(argument_lists))
    results = CTX.Queue()
    processes = [CTX.Process(target=target, args=(*args, barrier, results)) for args in argument_lists]
    for process in processes:
        process.start()
    collected = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(collected) < len(processes) and time.monotonic() < deadline:
        try:
            collected.append(results.get(timeout=1))
        except queue.Empty:
            if all(p.exitcode is not None for p in processes):
                break
    for process in processes:
        process.join(10)
        if process.is_alive():
            process.kill()
    errors = [item for item in collected if isinstance(item, str)]
    assert not errors, errors
    assert len(collected) == len(processes), "a process did not report"
    return collected


def _emitter(url, instance_id, seed, count, barrier, results):
    try:
        rng = random.Random(seed)
        with chronik.open_ledger(url) as ledger:
            barrier.wait(30)
            sequence = []
            for index in range(count):
                result = service.emit(ledger, instance_id, "tool_use", {"tool_name": f"w{seed}-{index}"})
                sequence.append(result.sequence_num)
                if rng.random() < 0.1:
                    time.sleep(rng.random() / 1000)
        results.put((seed, sequence))
    except BaseException as exc:  # reported to the parent, which fails the test with it
        results.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_concurrent_emits_to_one_instance_are_gap_free(kind, tmp_path, seed):
    url = store_url(kind, tmp_path)
    with chronik.open_ledger(url) as ledger:
        instance = service.register(ledger, "odin").instance_id
    reports = _run(_emitter, [(url, instance, seed + n, EMITS_PER_WRITER) for n in range(WRITERS)])
    numbers = sorted(number for _, sequence in reports for number in sequence)
    assert numbers == list(range(2, WRITERS * EMITS_PER_WRITER + 2))
    for _, sequence in reports:
        assert sequence == sorted(sequence), "one writer's emits went backwards"
    with chronik.open_ledger(url) as ledger:
        assert [e.version for e in ledger.read_stream(f"instance:{instance}")] == \
            list(range(1, WRITERS * EMITS_PER_WRITER + 2))
        assert ledger.verify().ok


def _instance_worker(url, project, seed, barrier, results):
    try:
        with chronik.open_ledger(url) as ledger:
            instance = service.register(ledger, project).instance_id
            barrier.wait(30)
            for index in range(EMITS_PER_INSTANCE):
                service.emit(ledger, instance, "commit_created", {"commit_sha": f"{project}-{index}",
                                                                  "message": f"marker-{project}"})
        results.put((project, instance))
    except BaseException as exc:
        results.put(f"{type(exc).__name__}: {exc}")


def test_concurrent_instances_are_isolated(tmp_path, seed):
    url = store_url("sqlite", tmp_path)
    chronik.open_ledger(url).close()
    projects = [f"proj{n}" for n in range(INSTANCES)]
    reports = dict(_run(_instance_worker, [(url, project, seed + n) for n, project in enumerate(projects)]))
    with chronik.open_ledger(url) as ledger:
        for project, instance in reports.items():
            everything = service.query(ledger, instance, limit=1000)
            assert [e["sequence_num"] for e in everything.events] == list(range(1, EMITS_PER_INSTANCE + 2))
            assert {e["event_data"].get("message") for e in everything.events[1:]} == {f"marker-{project}"}
            for other in projects:
                if other != project:
                    assert service.query(ledger, instance, keyword=f"marker-{other}").total_count == 0
            state = service.replay(ledger, instance).final_state
            assert state["commits"]["count"] == EMITS_PER_INSTANCE and state["project"] == project
            assert all(c["commit_sha"].startswith(project + "-") for c in state["commits"]["recent"])
        assert ledger.verify().ok


def _sweeper(url, moment, barrier, results):
    try:
        with chronik.open_ledger(url) as ledger:
            barrier.wait(30)
            swept = service.sweep_stale(ledger, QUICK, now=datetime.fromisoformat(moment))
        results.put(sorted(s.instance_id for s in swept if s.recorded))
    except BaseException as exc:
        results.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_two_sweeps_at_once_record_one_stale_per_silence(kind, tmp_path, seed):
    url = store_url(kind, tmp_path)
    with chronik.open_ledger(url) as ledger:
        instances = [service.register(ledger, f"p{n}").instance_id for n in range(SILENT_INSTANCES)]
    for round_number in range(1, SWEEP_ROUNDS + 1):
        moment = (datetime.now(UTC) + timedelta(seconds=QUICK.stale_timeout_s + 1)).isoformat()
        reports = _run(_sweeper, [(url, moment), (url, moment)])
        recorded = [instance for report in reports for instance in report]
        assert sorted(recorded) == sorted(instances), f"round {round_number}: {recorded}"
        with chronik.open_ledger(url) as ledger:
            for instance in instances:
                types = [e.type for e in ledger.read_stream(f"instance:{instance}")]
                assert types.count("instance_stale") == round_number
                assert types[-1] == "instance_stale"
                # alive again: the next round is a new silence
                assert service.heartbeat(ledger, instance, settings=QUICK).recorded

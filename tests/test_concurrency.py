"""Many real processes on one ledger (DESIGN 3.3, 3.5, 3.6), on every store that
processes can share (SQLite, JSON Lines, PostgreSQL).

1. 8 writer processes x 500 appends to their own streams while 2 reader processes tail the
   ledger (one with `follow`, one polling `read_all`), each resuming from a position checkpoint:
   positions are exactly 1..4000, nothing is duplicated, versions are contiguous, verify passes,
   and each reader saw every position exactly once, in order.
2. 8 processes x 100 appends racing on ONE stream with exact expected versions: exactly one
   winner per version, the losers get ConcurrencyError, and no other exception (a raw sqlite3
   "database is locked", an OSError, ...) ever reaches a caller.

The seed (printed, and in every assertion message) drives reader page sizes, resume points and
writer jitter; set CHRONIK_TEST_SEED to replay a run.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import random
import time
import traceback
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("CHRONIK_TEST_SEED") or random.SystemRandom().randrange(2**32))
CTX = multiprocessing.get_context("fork")

WRITERS = 8
APPENDS_PER_WRITER = 500
READERS = 2
RACERS = 8
WINS_PER_RACER = 100
RACE_STREAM = "race:one"
TIMEOUT_S = 240


def _sqlite(directory: Path) -> str:
    return "sqlite:///" + str(directory / "ledger.db").lstrip("/")


def _jsonl(directory: Path) -> str:
    return "jsonl:///" + str(directory / "ledger.jsonl").lstrip("/")


def _postgres(_directory: Path) -> str:
    from support.postgres_server import shared_server

    return shared_server().schema_url("conc")


STORES = {"sqlite": _sqlite, "jsonl": _jsonl, "postgres": _postgres}


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}\n{traceback.format_exc()}"


# ---------------------------------------------------------------- process bodies


def _writer(url: str, index: int, seed: int, barrier, results) -> None:
    try:
        import chronik
        from chronik import NewEvent

        rng = random.Random(seed * 1000 + index)
        barrier.wait(TIMEOUT_S)
        positions = []
        with chronik.open_ledger(url) as ledger:
            stream = f"writer{index}:s"
            for n in range(APPENDS_PER_WRITER):
                result = ledger.append(stream, [NewEvent("wrote", {"w": index, "n": n})], expect=n)
                if result.version != n + 1 or result.first_position != result.last_position:
                    raise AssertionError(f"append {n} of {stream} returned {result}")
                positions.append(result.first_position)
                if rng.random() < 0.01:
                    time.sleep(rng.uniform(0, 0.003))
        results.put(("writer", index, positions, None))
    except BaseException as exc:  # reported to the parent, which fails the test
        results.put(("writer", index, None, _describe(exc)))


def _reader(url: str, index: int, seed: int, total: int, barrier, results) -> None:
    """Tails the ledger until it has seen `total` events. Reader 0 uses follow(); reader 1
    polls read_all(after=checkpoint, limit=random). Both drop their iterator now and then and
    resume from their checkpoint, as a process restarting would."""
    try:
        import chronik

        rng = random.Random(seed * 1000 + 100 + index)
        barrier.wait(TIMEOUT_S)
        seen: list[tuple[int, str, int]] = []
        checkpoint = 0
        deadline = time.monotonic() + TIMEOUT_S
        with chronik.open_ledger(url) as ledger:
            while checkpoint < total:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reader {index} stuck at checkpoint {checkpoint}")
                if index == 0:
                    resume_after = rng.randint(1, 400)
                    stop_at = min(total, checkpoint + resume_after)
                    for event in ledger.follow(after=checkpoint, poll_interval_ms=2,
                                               stop=lambda: checkpoint >= stop_at):  # noqa: B023
                        if event.position != checkpoint + 1:
                            raise AssertionError(f"follow gave position {event.position} after "
                                                 f"checkpoint {checkpoint}")
                        seen.append((event.position, event.stream, event.version))
                        checkpoint = event.position
                        if checkpoint >= stop_at:
                            break
                else:
                    page = list(ledger.read_all(after=checkpoint, limit=rng.randint(1, 150)))
                    if not page:
                        time.sleep(0.002)
                    for event in page:
                        if event.position != checkpoint + 1:
                            raise AssertionError(f"read_all gave position {event.position} after "
                                                 f"checkpoint {checkpoint}")
                        seen.append((event.position, event.stream, event.version))
                        checkpoint = event.position
        results.put(("reader", index, seen, None))
    except BaseException as exc:
        results.put(("reader", index, None, _describe(exc)))


def _racer(url: str, index: int, seed: int, barrier, results) -> None:
    """Appends WINS_PER_RACER events to one stream, each with expect=<the version it read>."""
    import chronik
    from chronik import ConcurrencyError, NewEvent

    rng = random.Random(seed * 1000 + 200 + index)
    wins: list[tuple[int, int, int]] = []
    losses = 0
    wrong_conflicts: list[str] = []
    errors: list[str] = []
    try:
        barrier.wait(TIMEOUT_S)
        # Every racer opens the (not yet created) ledger at the same moment.
        with chronik.open_ledger(url) as ledger:
            while len(wins) < WINS_PER_RACER and len(errors) < 5:
                try:
                    last = next(ledger.read_stream(RACE_STREAM, backwards=True, limit=1), None)
                    version = last.version if last else 0
                    if rng.random() < 0.2:
                        time.sleep(rng.uniform(0, 0.001))  # widen the window between read and append
                    result = ledger.append(RACE_STREAM, [NewEvent("raced", {
                        "w": index, "k": len(wins), "expected": version})], expect=version)
                except ConcurrencyError as conflict:
                    losses += 1
                    if conflict.actual is None or conflict.actual <= version:
                        wrong_conflicts.append(f"expected {version}, conflict says {conflict.actual}")
                    continue
                except Exception as exc:  # noqa: BLE001 - any other exception is a failure
                    errors.append(_describe(exc))
                    continue
                wins.append((version, result.version, result.first_position))
    except BaseException as exc:
        errors.append(_describe(exc))
    results.put(("racer", index, (wins, losses, wrong_conflicts), errors))


def _collect(results, processes, expected: int) -> list[tuple]:
    """Drain results before joining (a full pipe would block the children)."""
    collected = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(collected) < expected:
        try:
            collected.append(results.get(timeout=1))
        except queue_module.Empty:
            if time.monotonic() > deadline:
                break
            dead = [p for p in processes if p.exitcode not in (None, 0)]
            if dead and len(collected) < expected and all(p.exitcode is not None for p in processes):
                break
    for process in processes:
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join()
    return collected


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("kind", list(STORES))
def test_writers_on_separate_streams_with_tailing_readers(kind, tmp_path):
    import chronik

    print(f"test_concurrency seed={SEED} (set CHRONIK_TEST_SEED={SEED} to replay)")
    url = STORES[kind](tmp_path)
    chronik.open_ledger(url).close()  # created before the race; the racing test creates its own
    total = WRITERS * APPENDS_PER_WRITER
    barrier = CTX.Barrier(WRITERS + READERS)
    results = CTX.Queue()
    processes = [CTX.Process(target=_writer, args=(url, i, SEED, barrier, results)) for i in range(WRITERS)]
    processes += [CTX.Process(target=_reader, args=(url, i, SEED, total, barrier, results))
                  for i in range(READERS)]
    started = time.monotonic()
    for process in processes:
        process.start()
    collected = _collect(results, processes, WRITERS + READERS)
    elapsed = time.monotonic() - started
    print(f"{kind}: {total} appends by {WRITERS} processes with {READERS} readers in {elapsed:.1f} s")

    context = f"(seed {SEED}, {kind})"
    errors = [f"{role} {index}: {error}" for role, index, _, error in collected if error]
    assert not errors, f"{context}\n" + "\n".join(errors)
    assert len(collected) == WRITERS + READERS, f"{context} some processes reported nothing"

    with chronik.open_ledger(url) as ledger:
        events = list(ledger.read_all())
        assert [e.position for e in events] == list(range(1, total + 1)), context
        assert len({e.id for e in events}) == total, f"{context} duplicate ids"
        by_position = {e.position: (e.position, e.stream, e.version) for e in events}
        for role, index, positions, _ in collected:
            if role != "writer":
                continue
            stream = list(ledger.read_stream(f"writer{index}:s"))
            assert [e.version for e in stream] == list(range(1, APPENDS_PER_WRITER + 1)), context
            assert [e.data["n"] for e in stream] == list(range(APPENDS_PER_WRITER)), context
            assert [e.position for e in stream] == positions, f"{context} acknowledged positions differ"
        report = ledger.verify()
        assert report.ok and report.checked == total, f"{context} {report.problems[:5]}"
        assert ledger.head().position == total

    for role, index, seen, _ in collected:
        if role != "reader":
            continue
        assert [s[0] for s in seen] == list(range(1, total + 1)), \
            f"{context} reader {index} did not see every position exactly once, in order"
        assert seen == [by_position[p] for p in range(1, total + 1)], f"{context} reader {index}"


@pytest.mark.parametrize("kind", list(STORES))
def test_racing_on_one_stream_with_exact_expectations(kind, tmp_path):
    import chronik

    print(f"test_concurrency seed={SEED} (set CHRONIK_TEST_SEED={SEED} to replay)")
    url = STORES[kind](tmp_path)
    total = RACERS * WINS_PER_RACER
    barrier = CTX.Barrier(RACERS)
    results = CTX.Queue()
    processes = [CTX.Process(target=_racer, args=(url, i, SEED, barrier, results)) for i in range(RACERS)]
    started = time.monotonic()
    for process in processes:
        process.start()
    collected = _collect(results, processes, RACERS)
    elapsed = time.monotonic() - started

    context = f"(seed {SEED}, {kind})"
    errors = [f"racer {index}: {error}" for _, index, _, errs in collected for error in errs]
    assert not errors, f"{context} exceptions other than ConcurrencyError reached callers:\n" + \
        "\n".join(errors[:10])
    assert len(collected) == RACERS, f"{context} some racers reported nothing"
    wrong = [w for _, _, (_, _, wrongs), _ in collected for w in wrongs]
    assert not wrong, f"{context} conflicts that were not conflicts: {wrong[:5]}"

    won: dict[int, int] = {}
    losses = 0
    for _, index, (wins, lost, _), _ in collected:
        assert len(wins) == WINS_PER_RACER, context
        losses += lost
        for expected, version, _position in wins:
            assert version == expected + 1, f"{context} expect={expected} appended version {version}"
            assert version not in won, f"{context} version {version} won by racers {won[version]} and {index}"
            won[version] = index
    print(f"{kind}: {total} wins, {losses} ConcurrencyErrors, {elapsed:.1f} s")
    assert sorted(won) == list(range(1, total + 1)), f"{context} not exactly one winner per version"
    assert losses > 0, f"{context} no racer ever lost: the race did not happen"

    with chronik.open_ledger(url) as ledger:
        stream = list(ledger.read_stream(RACE_STREAM))
        assert [e.version for e in stream] == list(range(1, total + 1)), context
        assert [e.position for e in stream] == list(range(1, total + 1)), context
        for event in stream:
            assert event.data["expected"] == event.version - 1, context
            assert event.data["w"] == won[event.version], f"{context} version {event.version}"
        assert ledger.verify().ok, context

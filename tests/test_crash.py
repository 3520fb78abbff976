"""Crash safety (DESIGN 3.1, 3.2, 3.7): kill -9 a child process in the middle of appending.

The child appends deterministic batches (their ids say which child and which batch) and, after
each append returns, writes the batch number to a pipe. The parent kills it with SIGKILL at a
random moment: sometimes while it opens the ledger, usually while it appends (perhaps while its
first append repairs the previous crash). After each kill the parent reopens the ledger and checks:

- every acknowledged batch is there, whole;
- beyond them at most the one batch in flight, and then all of it (appends are atomic);
- nothing is duplicated, positions are exactly 1..N;
- a torn write shows as a torn tail in check_storage, and repair keeps every event served;
- verify passes;
- the next append works.

KILLS rounds per store; the seed is printed (and in every assertion message); set
CHRONIK_TEST_SEED to replay a run.
"""

from __future__ import annotations

import os
import random
import select
import signal
import time
import traceback
from pathlib import Path

import pytest

import chronik
from chronik import Expect, NewEvent

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("CHRONIK_TEST_SEED") or random.SystemRandom().randrange(2**32))
KILLS = int(os.environ.get("CHRONIK_CRASH_KILLS", "200"))


def _sqlite(directory: Path) -> str:
    return "sqlite:///" + str(directory / "ledger.db").lstrip("/")


def _jsonl(directory: Path) -> str:
    return "jsonl:///" + str(directory / "ledger.jsonl").lstrip("/")


STORES = {"sqlite": _sqlite, "jsonl": _jsonl}


def batch_plan(child: int, k: int) -> dict[str, tuple[list[NewEvent], Expect]]:
    """Batch k of child `child`: deterministic, so the parent knows every id it may find.
    Every third batch spans two streams; sizes vary from 1 to 3 events; payloads up to ~6 KiB
    so that a write can be torn."""
    size = 1 + (child + k) % 3
    payload = "x" * ((child * 7 + k * 13) % 6000)

    def events(stream_no: int, count: int) -> list[NewEvent]:
        return [NewEvent("crashed", {"child": child, "k": k, "j": j, "pad": payload},
                         id=f"c{child}-k{k}-s{stream_no}-j{j}") for j in range(count)]

    plan = {f"crash:{k % 5}": (events(0, size), Expect.ANY)}
    if k % 3 == 0:
        plan[f"other:{child % 4}"] = (events(1, 1 + k % 2), Expect.ANY)
    return plan


def batch_ids(child: int, k: int) -> set[str]:
    return {event.id for events, _ in batch_plan(child, k).values() for event in events}


def _child(url: str, child: int, write_fd: int) -> None:
    """The forked child: append batches until killed. Never returns."""
    code = 0
    try:
        ledger = chronik.open_ledger(url)
        os.write(write_fd, b"open\n")
        k = 0
        while True:
            ledger.append_many(batch_plan(child, k))
            os.write(write_fd, f"ack {k}\n".encode())
            k += 1
    except BaseException:
        code = 1
        try:
            os.write(write_fd, ("error " + traceback.format_exc().replace("\n", " | ") + "\n").encode())
        except OSError:
            pass
    finally:
        os._exit(code)


def _read_lines(fd: int, buffer: bytearray, until_lines: int | None, timeout_s: float) -> list[str]:
    """Read from the pipe until `until_lines` complete lines are buffered (None: until EOF)."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = buffer.count(b"\n")
        if until_lines is not None and lines >= until_lines:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buffer.extend(chunk)
    return buffer.decode(errors="replace").split("\n")[:-1]


def _state(url: str) -> tuple[chronik.Ledger, list]:
    ledger = chronik.open_ledger(url)
    return ledger, list(ledger.read_all())


@pytest.mark.parametrize("kind", list(STORES))
def test_kill9_while_appending(kind, tmp_path):
    url = STORES[kind](tmp_path)
    rng = random.Random(f"{SEED}-{kind}")
    print(f"test_crash seed={SEED} kills={KILLS} (set CHRONIK_TEST_SEED={SEED} to replay)")
    known_ids: set[str] = set()
    total = 0
    in_flight_found = killed_before_open = 0
    started = time.monotonic()

    for child in range(KILLS):
        context = f"(seed {SEED}, {kind}, kill {child + 1}/{KILLS})"
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            os.close(read_fd)
            _child(url, child, write_fd)
        os.close(write_fd)
        buffer = bytearray()
        mode = rng.random()
        if mode < 0.1:
            # Kill it early: while it opens the ledger (and repairs the last crash, if any).
            time.sleep(rng.uniform(0, 0.004))
        else:
            acks_wanted = rng.choice([0, 0, 1, 1, 2, 3, 5, 8, 13])
            _read_lines(read_fd, buffer, 1 + acks_wanted, timeout_s=30)
            time.sleep(rng.uniform(0, 0.003))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        lines = _read_lines(read_fd, buffer, None, timeout_s=30)
        os.close(read_fd)
        errors = [line for line in lines if line.startswith("error")]
        assert not errors, f"{context} the child failed before the kill: {errors}"
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, \
            f"{context} the child was not killed: status {status}"
        if "open" not in lines:
            killed_before_open += 1
        acked = [int(line.split()[1]) for line in lines if line.startswith("ack ")]
        assert acked == list(range(len(acked))), f"{context} acks out of order: {acked}"

        ledger, events = _state(url)
        try:
            ids = [event.id for event in events]
            assert len(ids) == len(set(ids)), f"{context} duplicated events"
            assert [e.position for e in events] == list(range(1, len(events) + 1)), \
                f"{context} positions are not 1..N"
            assert set(ids[:total]) == known_ids and len(events) >= total, \
                f"{context} events recorded before this child changed or vanished"
            new_ids = set(ids[total:])
            acked_ids = set().union(*(batch_ids(child, k) for k in acked))
            missing = acked_ids - new_ids
            assert not missing, f"{context} acknowledged events lost: {sorted(missing)[:5]}"
            extra = new_ids - acked_ids
            if extra:
                in_flight = batch_ids(child, len(acked))
                assert extra == in_flight, \
                    f"{context} unexpected events beyond the acknowledged ones (not exactly the batch " \
                    f"in flight): {sorted(extra - in_flight)[:5]} / missing {sorted(in_flight - extra)[:5]}"
                in_flight_found += 1
            for event in events[total:]:
                assert event.data["child"] == child, context
            # A torn write is reported as a torn tail (never as corruption, nor as lost commits:
            # a SQLite commit frame written without its page is one) and repaired explicitly;
            # the repair keeps every event that reads served.
            findings = ledger.store.check_storage()
            assert all(f.code == "torn_tail" for f in findings), f"{context} {findings}"
            ledger.store.repair()
            assert ledger.store.check_storage() == [], context
            assert [e.id for e in ledger.read_all()] == ids, f"{context} the repair lost events"
            # Versions per stream stay contiguous and verify passes.
            report = ledger.verify()
            assert report.ok, f"{context} verify failed: {report.problems[:3]}"
            assert report.checked == len(events), context
            # The next append works, right after the crash.
            result = ledger.append("parent:checks", [NewEvent("checked", {"after_child": child})])
            assert result.first_position == len(events) + 1, context
        finally:
            ledger.close()
        known_ids = set(ids) | set(result.ids)
        total = len(events) + 1

    elapsed = time.monotonic() - started
    print(f"{kind}: {KILLS} kills in {elapsed:.1f} s; {total} events; {in_flight_found} times the batch in "
          f"flight was found complete after the kill; {killed_before_open} kills before the child opened")
    with chronik.open_ledger(url) as ledger:
        report = ledger.verify()
        assert report.ok and report.checked == total
        assert ledger.head().position == total

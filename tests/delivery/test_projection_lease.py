"""One runner per projection at a time (issue 10, item 16): a second runner, in this process or
another, waits for the projection's lease and then is refused with a message naming the
holder; two `chronik projections run` processes on one ledger, with events appended meanwhile
and the holder killed, apply every event exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

import chronik
from chronik import NewEvent
from chronik.derive import Projection, ProjectionRunner, ReadModel
from chronik.errors import LeaseHeld, StorageError, ValidationError
from chronik.stores.base import AuxChange
from chronik.stores.postgres_lease import lease_key

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from delivery_testing import store_url  # noqa: E402
from stamped_projection import appliers  # noqa: E402

SHARED_KINDS = ["sqlite", "jsonl", "postgres"]  # the stores several processes can open


def append_numbered(ledger: chronik.Ledger, start: int, count: int) -> None:
    for n in range(start, start + count):
        ledger.append(f"order:{n % 7}", [NewEvent("placed", {"n": n})])


def checkpoint_of(ledger: chronik.Ledger, name: str) -> int:
    raw = ledger.store.aux_get("projection", name)
    return 0 if raw is None else json.loads(raw)["position"]


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def gated(tag: str, gate: threading.Event | None = None, started: threading.Event | None = None) -> Projection:
    """Projection `gated` that stamps each event with `tag`, after waiting for `gate`."""

    def apply(model, event) -> None:
        if started is not None:
            started.set()
        if gate is not None:
            assert gate.wait(30)
        model.put(f"by:{event.position:08d}:{tag}", 1)

    return Projection("gated", apply, batch_events=5)


def test_a_second_runner_waits_then_is_refused_and_a_patient_one_takes_over(open_ledger) -> None:
    ledger = open_ledger()
    append_numbered(ledger, 0, 20)
    gate, started = threading.Event(), threading.Event()
    first = ProjectionRunner(ledger, gated("first", gate, started))
    holder = threading.Thread(target=first.run_until_head)
    holder.start()
    try:
        assert started.wait(10), "the first runner never applied an event"
        impatient = ProjectionRunner(open_ledger(), gated("impatient"), lease_wait_s=0.2)
        for call in (impatient.run_until_head, lambda: impatient.run_until(20, timeout_s=1),
                     impatient.rebuild, impatient.reset, impatient.replay_parked):
            with pytest.raises(LeaseHeld) as caught:
                call()
            message = str(caught.value)
            assert message.startswith(f"projection gated is being run by another runner in this process "
                                      f"(pid {os.getpid()} on "), message
            assert message.endswith("; stop it or wait for it (waited 0.2 s)"), message
            assert caught.value.to_dict()["pid"] == os.getpid()
        patient = ProjectionRunner(open_ledger(), gated("patient"), lease_wait_s=30)
        waited: list[chronik.derive.ProjectionStatus] = []
        waiter = threading.Thread(target=lambda: waited.append(patient.run_until_head()))
        waiter.start()
        time.sleep(0.2)
        assert waiter.is_alive(), "the patient runner must wait for the lease"
    finally:
        gate.set()
        holder.join()
    waiter.join()
    assert waited[0].position == 20
    append_numbered(ledger, 20, 10)
    assert patient.run_until_head().position == 30
    by_position = {}
    for key in ReadModel(ledger.store, "gated").to_dict():
        _, position, tag = key.split(":")
        by_position.setdefault(int(position), []).append(tag)
    assert by_position == {p: ["first"] if p <= 20 else ["patient"] for p in range(1, 31)}


def test_lease_wait_must_be_a_number_of_seconds(ledger) -> None:
    with pytest.raises(ValidationError) as caught:
        ProjectionRunner(ledger, gated("x"), lease_wait_s=-1)
    assert caught.value.field == "lease_wait_s"


@pytest.mark.parametrize("kind", SHARED_KINDS)
def test_a_read_only_handle_cannot_run_a_projection(tmp_path, kind) -> None:
    url = store_url(kind, tmp_path)
    with chronik.open_ledger(url) as ledger:
        append_numbered(ledger, 0, 3)
    with chronik.open_ledger(url, read_only=True) as reader:
        with pytest.raises(StorageError, match="read-only"):
            reader.store.lease("projection.gated", wait_s=0)
        with pytest.raises(StorageError, match="read-only"):
            ProjectionRunner(reader, gated("reader")).run_until_head()


def test_a_postgres_lease_lost_with_its_session_writes_nothing_more(tmp_path) -> None:
    """The lock and the writes share one session: once it is gone, no write under the lease can
    commit, and the lease is free for the next holder."""
    from support.postgres_server import shared_server

    url = store_url("postgres", tmp_path)
    with chronik.open_ledger(url) as ledger, psycopg.connect(shared_server().url, autocommit=True) as admin:
        lease = ledger.store.lease("job", wait_s=0)
        lease.write([AuxChange("model:x", "a", b"1")])
        key = lease_key(ledger.store.schema, "job")  # type: ignore[attr-defined]
        # pg_locks shows a bigint advisory key as two 32-bit halves.
        rows = admin.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
                             "classid::bigint = %s AND objid::bigint = %s",
                             ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF)).fetchall()
        assert len(rows) == 1, "exactly one session holds the lease's advisory lock"
        admin.execute("SELECT pg_terminate_backend(%s)", (rows[0][0],))
        with pytest.raises(StorageError, match="the lease job was lost with its connection"):
            lease.write([AuxChange("model:x", "a", b"2")])
        assert lease.released
        assert ledger.store.aux_get("model:x", "a") == b"1"
        with ledger.store.lease("job", wait_s=5):
            pass


def default_sigint() -> None:
    """In the child before exec: a test run started in the background has SIGINT ignored, and
    Python only turns SIGINT into KeyboardInterrupt when it is not ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def projection_command(url: str, *options: str) -> list[str]:
    return [sys.executable, "-m", "chronik.cli", "--ledger", url, "projections", "run", "stamped",
            "--projection", "stamped_projection:Stamped", *options]


@pytest.mark.parametrize("kind", SHARED_KINDS)
def test_two_cli_runners_of_one_projection_apply_every_event_exactly_once(tmp_path, kind) -> None:
    seed = int(os.environ.get("CHRONIK_LEASE_SEED", random.randrange(2**32)))
    print(f"lease test seed: {seed} (rerun with CHRONIK_LEASE_SEED={seed})")
    rng = random.Random(seed)
    url = store_url(kind, tmp_path)
    env = {**os.environ, "STAMPED_APPLY_DELAY_S": "0.002"}
    follow = projection_command(url, "--follow", "--wait", "60")
    with chronik.open_ledger(url) as ledger:
        append_numbered(ledger, 0, 200)
        first = subprocess.Popen(follow, cwd=HERE, env=env, stdout=subprocess.DEVNULL, preexec_fn=default_sigint)
        second = None
        try:
            wait_until(lambda: checkpoint_of(ledger, "stamped") > 0, 60, "the first runner to apply")
            second = subprocess.Popen(follow, cwd=HERE, env=env, stdout=subprocess.DEVNULL,
                                      preexec_fn=default_sigint)
            # A third, impatient runner is refused after its wait, naming the first.
            impatient = subprocess.run(projection_command(url, "--wait", "0.3"), cwd=HERE, env=env,
                                       capture_output=True, text=True, timeout=60)
            assert impatient.returncode == 1, impatient
            assert f"projection stamped is being run by another process (pid {first.pid} on " \
                in impatient.stderr, impatient.stderr
            assert "stop it or wait for it" in impatient.stderr and "Traceback" not in impatient.stderr
            # Events keep coming while the first applies them and the second waits.
            appended = 200
            for _ in range(rng.randrange(8, 16)):
                count = rng.randrange(1, 20)
                append_numbered(ledger, appended, count)
                appended += count
                time.sleep(rng.uniform(0, 0.03))
            os.kill(first.pid, signal.SIGKILL)  # the holder dies, maybe mid-batch
            first.wait()
            append_numbered(ledger, appended, 50)
            wait_until(lambda: checkpoint_of(ledger, "stamped") == ledger.head().position, 60,
                       "the second runner to take over and reach the head")
            second.send_signal(signal.SIGINT)
            assert second.wait(timeout=30) == 0, "Ctrl-C stops `projections run --follow` with exit 0"
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait()
        head = ledger.head().position
        model = ReadModel(ledger.store, "stamped").to_dict()
    by_position = appliers(model)
    assert sorted(by_position) == list(range(1, head + 1)), "an event was never applied"
    twice = {position: pids for position, pids in by_position.items() if len(pids) > 1}
    assert not twice, f"applied by two runners: {dict(list(twice.items())[:5])}"
    assert all(model[f"applied:{p:08d}"] == 1 for p in range(1, head + 1)), "an event was applied twice"
    assert {pid for pids in by_position.values() for pid in pids} == {first.pid, second.pid}, \
        "the second runner should have taken over from the first"

"""The runner: retries with the RetryPolicy's backoff (fake sleep, seeded jitter), the breaker
per step kind (fake clock), gates waiting for approve from another process, and kill -9 at
random moments (10 kills, seed printed) resumed without running a completed step again."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import workflow_steps

from chronik.derive.delivery import RetryPolicy
from chronik.domains.workflows import service
from chronik.domains.workflows.runner import Runner, RunSettings

SEED = int(os.environ.get("CHRONIK_TEST_SEED") or random.SystemRandom().randrange(2**32))
FLAKY = {"name": "flaky", "steps": [{"id": "fetch", "run": "python:workflow_steps:flaky", "kind": "network"},
                                    {"id": "store", "run": "python:workflow_steps:flaky", "kind": "network"}]}


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def test_retries_follow_the_backoff_schedule_up_to_max_retries(ledger, monkeypatch):
    print(f"seed {SEED}")
    monkeypatch.setattr(workflow_steps, "FAILURES_LEFT", {"fetch": 2})
    fake = FakeTime()
    policy = RetryPolicy(attempts=4, base_delay_s=1.0, max_delay_s=8.0)
    settings = RunSettings(max_retries=3, retry=policy, breaker_threshold=100)
    state = Runner(ledger, settings, sleep=fake.sleep, rng=random.Random(SEED), clock=fake.clock).start(FLAKY, "r")
    expected = random.Random(SEED)
    assert fake.sleeps == [policy.delay_s(1, expected), policy.delay_s(2, expected)]
    assert state["status"] == "completed" and state["retries"] == {"fetch": 2}
    retries = [item["data"] for item in service.history(ledger, "r") if item["action"] == "retry_step"]
    assert [(r["retry_attempt"], r["backoff_delay"]) for r in retries] == [
        (1, round(fake.sleeps[0], 6)), (2, round(fake.sleeps[1], 6))]
    assert all(0 <= delay <= ceiling for delay, ceiling in zip(fake.sleeps, (1.0, 2.0), strict=True))

    monkeypatch.setattr(workflow_steps, "FAILURES_LEFT", {"fetch": 10})
    said: list[str] = []
    stopped = Runner(ledger, settings, say=said.append, sleep=fake.sleep, rng=random.Random(SEED),
                     clock=fake.clock).start(FLAKY, "r2")
    assert stopped["status"] == "failed" and stopped["retries"] == {"fetch": 3}
    assert said[-1] == "r2: step fetch failed after 3 retries; the workflow stays failed"
    assert "ConnectionError: fetch unreachable" in stopped["errors"][-1]["error"]


def test_the_breaker_of_a_step_kind_opens_and_the_runner_waits_out_its_cooldown(ledger, monkeypatch):
    monkeypatch.setattr(workflow_steps, "FAILURES_LEFT", {"fetch": 2})
    fake = FakeTime()
    settings = RunSettings(max_retries=5, retry=RetryPolicy(attempts=6, base_delay_s=0.0, max_delay_s=0.0),
                           breaker_threshold=2, breaker_cooldown_s=10.0)
    runner = Runner(ledger, settings, sleep=fake.sleep, rng=random.Random(1), clock=fake.clock)
    state = runner.start(FLAKY, "b")
    breaker = runner.breakers["network"]
    assert state["status"] == "completed" and breaker.times_opened == 1
    assert breaker.state.value == "closed"  # half-open trial succeeded
    assert 10.0 in fake.sleeps  # the cool-down was waited out before the trial call


def chronik_process(ledger: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "chronik.cli", "--ledger", ledger, "workflow", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_gate_waits_for_approve_from_another_process(tmp_path):
    ledger = str(tmp_path / "ledger.db")
    definition = tmp_path / "gated.json"
    definition.write_text('{"name": "gated", "steps": [{"id": "build"}, {"id": "ok", "gate": true}, {"id": "ship"}]}')
    runner = chronik_process(ledger, "run", str(definition), "--id", "g", "--poll", "0.05")
    try:
        deadline = time.monotonic() + 20
        import chronik

        with chronik.open_ledger(ledger) as opened:
            while time.monotonic() < deadline:
                try:
                    if service.state(opened, "g")["gates"].get("ok", {}).get("status") == "pending":
                        break
                except Exception:  # not started yet
                    pass
                time.sleep(0.05)
            assert runner.poll() is None  # waiting at the gate
            service.record(opened, "g", "approve_gate", gate_id="ok", approver="ann", role="lead")
        assert runner.wait(timeout=20) == 0
        assert "g is completed" in runner.stdout.read()
    finally:
        if runner.poll() is None:
            runner.kill()


def test_kill_9_at_random_moments_resumes_without_running_a_completed_step_again(tmp_path):
    print(f"seed {SEED}")
    chooser = random.Random(SEED)
    runs = tmp_path / "runs"
    runs.mkdir()
    steps = [{"id": f"s{n:02d}", "run": f"echo x >> {runs}/s{n:02d}; sleep 0.{chooser.randrange(3, 9)}"}
             for n in range(14)]
    definition = tmp_path / "long.json"
    import json

    definition.write_text(json.dumps({"name": "long", "steps": steps}))
    ledger = str(tmp_path / "ledger.db")
    import chronik

    def runs_of(step: str) -> int:
        path = runs / step
        return len(path.read_text().splitlines()) if path.exists() else 0

    process = chronik_process(ledger, "run", str(definition), "--id", "k")
    frozen: dict[str, int] = {}  # run counts of the steps recorded completed at some kill
    kills = 0
    while kills < 10:
        time.sleep(chooser.uniform(0.5, 1.0))
        if process.poll() is not None:
            break
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        with chronik.open_ledger(ledger) as opened:
            done = service.state(opened, "k")["steps_completed"]
        for step in done:  # completed: its run count is fixed from now on
            assert runs_of(step) == frozen.setdefault(step, runs_of(step)) >= 1, f"seed {SEED}: {step} ran again"
        process = chronik_process(ledger, "run", "--resume", "k")
        # a resumed runner names the step it runs again (or finds nothing left to do)
        first_lines = []
        while len(first_lines) < 1:
            line = process.stdout.readline()
            if not line:
                break
            first_lines.append(line)
        if first_lines and "is completed" not in first_lines[0]:
            assert first_lines[0].startswith("resuming k at step s"), first_lines
    assert process.wait(timeout=60) == 0
    with chronik.open_ledger(ledger) as opened:
        assert service.state(opened, "k")["status"] == "completed"
    assert kills >= 5, f"seed {SEED}: only {kills} kills before the workflow finished"
    for step in steps:
        assert runs_of(step["id"]) >= 1
    assert {step: runs_of(step) for step in frozen} == frozen, f"seed {SEED}: a completed step ran again"

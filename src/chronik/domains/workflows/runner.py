"""The runner: executes a workflow definition's steps and records what happens, with the ledger
as its only memory, so a runner killed at any moment (kill -9) resumes from the ledger.

Each round reads the workflow's state and does the one thing it calls for:

- a step to run: run it (`run` is a shell command, or `python:module:function` called with the
  workflow id and step id), then record complete_step (its result) or fail_step (the error);
- a failed step: retry_step after the backoff of chronik's RetryPolicy (exponential, full
  jitter), up to `max_retries`; past it, the workflow stays failed and the runner stops;
- a pending gate, or a paused workflow: wait (poll) for `chronik workflow approve|reject|resume`
  from another process or the HTTP API;
- completed, rejected or cancelled: stop.

A circuit breaker per step kind (chronik's CircuitBreaker) stops calling a failing kind for a
cool-down. A completed step is never run again (the state says it is done); a step interrupted
before its completion was recorded is run again, and the runner says so.
"""

from __future__ import annotations

import importlib
import random
import subprocess
import time
from collections.abc import Callable
from typing import Any

import msgspec

from chronik.derive.delivery import CircuitBreaker, RetryPolicy
from chronik.domains.workflows import service
from chronik.domains.workflows.events import DEFAULT_MAX_RETRIES, TERMINAL, Definition
from chronik.errors import ValidationError
from chronik.ledger import Ledger

MAX_OUTPUT_CHARS = 2_000
Say = Callable[[str], None]


class RunSettings(msgspec.Struct, frozen=True, kw_only=True):
    max_retries: int = DEFAULT_MAX_RETRIES
    retry: RetryPolicy = RetryPolicy(attempts=DEFAULT_MAX_RETRIES + 1, base_delay_s=0.5, max_delay_s=30.0)
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 30.0
    poll_s: float = 0.5  # how often a waiting runner looks for a decision
    step_timeout_s: float | None = None


DEFAULT_SETTINGS = RunSettings()


class Runner:
    def __init__(self, ledger: Ledger, settings: RunSettings = DEFAULT_SETTINGS, say: Say = lambda _text: None,
                 sleep: Callable[[float], Any] = time.sleep, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ledger, self.settings, self.say, self.sleep = ledger, settings, say, sleep
        self.rng = rng or random.Random()
        self.clock = clock
        self.breakers: dict[str, CircuitBreaker] = {}

    def start(self, definition: str | Definition | dict[str, Any], workflow_id: str | None = None) -> dict[str, Any]:
        recorded = service.start(self.ledger, definition, workflow_id)
        self.say(f"started {recorded.workflow_id}")
        return self.drive(recorded.workflow_id, resumed=False)

    def resume(self, workflow_id: str) -> dict[str, Any]:
        return self.drive(workflow_id, resumed=True)

    def drive(self, workflow_id: str, resumed: bool) -> dict[str, Any]:
        """Run the workflow until it ends or stops on a failure past its retries; its state."""
        first = resumed
        while True:
            state = service.state(self.ledger, workflow_id)
            status, step_id = state["status"], state["current_step"]
            if status in TERMINAL:
                self.say(f"{workflow_id} is {status}")
                return state
            if state["definition"] is None:
                raise ValidationError("workflow_id", f"{workflow_id!r} has no definition, so there is nothing to run",
                                      "start it with a definition (-d FILE)")
            step = next(s for s in state["definition"]["steps"] if s["id"] == step_id)
            if status == "paused" or step.get("gate"):
                self.sleep(self.settings.poll_s)  # a person decides: approve, reject, resume
                continue
            if status == "failed":
                if not self._retry(workflow_id, state):
                    return state
                continue
            if first:
                self.say(f"resuming {workflow_id} at step {step_id}: it runs again from its start "
                         f"(no completion of it was recorded)")
            first = False
            self._run_step(workflow_id, step)

    def _retry(self, workflow_id: str, state: dict[str, Any]) -> bool:
        step_id = state["failed_step"]
        done = state["retries"].get(step_id, 0)
        if done >= self.settings.max_retries:
            self.say(f"{workflow_id}: step {step_id} failed after {done} retries; the workflow stays failed")
            return False
        delay = self.settings.retry.delay_s(done + 1, self.rng)
        self.say(f"{workflow_id}: retrying step {step_id} in {delay:.2f}s (attempt {done + 1} of "
                 f"{self.settings.max_retries})")
        self.sleep(delay)
        service.retry(self.ledger, workflow_id, step_id, self.settings.max_retries, round(delay, 6))
        return True

    def breaker(self, kind: str) -> CircuitBreaker:
        if kind not in self.breakers:
            self.breakers[kind] = CircuitBreaker(self.settings.breaker_threshold, self.settings.breaker_cooldown_s,
                                                 clock=self.clock)
        return self.breakers[kind]

    def _run_step(self, workflow_id: str, step: dict[str, Any]) -> None:
        breaker = self.breaker(step.get("kind") or step["id"])
        while (wait_s := breaker.wait_s()) > 0:
            self.say(f"{workflow_id}: breaker of {step.get('kind') or step['id']} is open; waiting {wait_s:.1f}s")
            self.sleep(wait_s)
        self.say(f"{workflow_id}: running step {step['id']}")
        try:
            result = execute(step.get("run"), workflow_id, step["id"], self.settings.step_timeout_s)
        except StepFailed as failure:
            breaker.record_failure()
            service.record(self.ledger, workflow_id, "fail_step", step_id=step["id"], error=str(failure))
            self.say(f"{workflow_id}: step {step['id']} failed: {failure}")
            return
        breaker.record_success()
        service.record(self.ledger, workflow_id, "complete_step", step_id=step["id"], result=result)


class StepFailed(Exception):
    """A step's command or function failed (the message is what is recorded)."""


def execute(run: str | None, workflow_id: str, step_id: str, timeout_s: float | None) -> Any:
    """Run one step: None does nothing, `python:module:function` is called, anything else is a
    shell command (WORKFLOW_ID and STEP_ID in its environment)."""
    if run is None:
        return None
    if run.startswith("python:"):
        module, _, function = run[len("python:"):].partition(":")
        try:
            target = getattr(importlib.import_module(module), function)
        except (ImportError, AttributeError) as exc:
            raise StepFailed(f"cannot load {run}: {exc}") from None
        try:
            result = target(workflow_id, step_id)
        except Exception as exc:  # the step's own failure, whatever it is, is what gets recorded
            raise StepFailed(f"{type(exc).__name__}: {exc}"[:MAX_OUTPUT_CHARS]) from None
        return msgspec.to_builtins(result)
    import os

    try:
        done = subprocess.run(run, shell=True, capture_output=True, text=True, timeout=timeout_s,
                              env={**os.environ, "WORKFLOW_ID": workflow_id, "STEP_ID": step_id})
    except subprocess.TimeoutExpired:
        raise StepFailed(f"timed out after {timeout_s}s") from None
    if done.returncode != 0:
        raise StepFailed(f"exit code {done.returncode}: {(done.stderr or done.stdout).strip()[-MAX_OUTPUT_CHARS:]}")
    return {"exit_code": 0, "output": done.stdout.strip()[-MAX_OUTPUT_CHARS:]} if done.stdout.strip() else None

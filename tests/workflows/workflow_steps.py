"""Step functions the runner tests call as python:workflow_steps:NAME."""

from __future__ import annotations

FAILURES_LEFT: dict[str, int] = {}


def flaky(workflow_id: str, step_id: str) -> dict:
    """Fails while FAILURES_LEFT[step_id] > 0, then returns a result."""
    left = FAILURES_LEFT.get(step_id, 0)
    if left > 0:
        FAILURES_LEFT[step_id] = left - 1
        raise ConnectionError(f"{step_id} unreachable ({left} failures left)")
    return {"done": step_id}

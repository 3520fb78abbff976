"""What the agent-session tests share (imported as `session_testing`; tests/sessions is on
sys.path): a clock the test drives and the URL of a fresh store of each kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2026, 1, 28, 9, 0, 0, tzinfo=UTC)
STORE_KINDS = ("memory", "sqlite", "jsonl", "postgres")


class Clock:
    """The ledger's clock: each call returns `now` and moves it on by `step`."""

    def __init__(self, start: datetime = START, step: timedelta = timedelta(seconds=1)) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> datetime:
        current = self.now
        self.now += self.step
        return current


def store_url(kind: str, directory: Path) -> str:
    from support.store_urls import store_url as fresh_url  # here: child processes import this module too

    return fresh_url(kind, directory, "sessions")

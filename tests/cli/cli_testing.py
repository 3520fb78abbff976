"""Small functions the CLI tests share (imported as `cli_testing`; tests/cli is on sys.path)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import chronik


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def event_count(path: Path) -> int:
    if not path.exists():
        return 0
    with chronik.open_ledger(str(path)) as ledger:
        return ledger.head().position


def tamper_data(path: Path, position: int, data_json: str) -> None:
    """Change one event's data behind chronik's back, as an attacker with sqlite3 would."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE events SET data = ? WHERE position = ?", (data_json, position))
    conn.close()

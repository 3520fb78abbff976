"""`chronik log --follow`: the same filters on every batch, resuming by position, and a clean Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

from cli_testing import json_lines

import chronik
from chronik import NewEvent

FOLLOW_TIMEOUT_S = 15


def append(path, stream, type_, clock=None):
    with chronik.open_ledger(str(path), clock=clock) as ledger:
        ledger.append(stream, [NewEvent(type_, {"stream": stream})])


def test_follow_keeps_the_filters_for_every_batch_and_stops_at_limit(run, ledger_path):
    append(ledger_path, "order:1", "created")
    append(ledger_path, "order:1", "noise")
    outcome = {}

    def follow():
        outcome["result"] = run("log", "--follow", "--json", "--type", "created", "--category", "order",
                                "--limit", "4")

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    time.sleep(0.3)  # the events below then arrive in several polls (not needed for correctness)
    append(ledger_path, "order:2", "noise")
    append(ledger_path, "order:2", "created")
    append(ledger_path, "stock:1", "created")  # right type, wrong category
    # A clock that jumped back years: follow resumes by position, so this is still delivered.
    append(ledger_path, "order:3", "created", clock=lambda: datetime(2001, 1, 1, tzinfo=UTC))
    time.sleep(0.3)
    append(ledger_path, "order:4", "noise")
    append(ledger_path, "order:4", "created")
    follower.join(FOLLOW_TIMEOUT_S)
    assert not follower.is_alive(), "log --follow --limit 4 did not stop"
    result = outcome["result"]
    assert result.exit_code == 0, result.stderr
    events = json_lines(result.stdout)
    assert [(e["position"], e["stream"], e["type"]) for e in events] == [
        (1, "order:1", "created"), (4, "order:2", "created"), (6, "order:3", "created"),
        (8, "order:4", "created")]


def test_follow_after_a_position_skips_what_came_before(run, ledger_path):
    for n in range(3):
        append(ledger_path, f"order:{n}", "created")
    result = run("log", "--follow", "--json", "--after", "2", "--limit", "1")
    assert [e["position"] for e in json_lines(result.stdout)] == [3]


def test_ctrl_c_stops_following_with_exit_0(ledger_path):
    append(ledger_path, "order:1", "created")
    process = subprocess.Popen(
        [sys.executable, "-m", "chronik.cli", "--ledger", str(ledger_path), "log", "--follow", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first_line = process.stdout.readline()
        assert json_lines(first_line)[0]["position"] == 1
        append(ledger_path, "order:1", "paid")
        assert json_lines(process.stdout.readline())[0]["type"] == "paid"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=FOLLOW_TIMEOUT_S) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()

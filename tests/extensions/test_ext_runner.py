"""Real commands through `chronik ext install`: one fails, one succeeds, one is killed mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chronik.domains.extensions.runner import error_tail

CHRONIK = [sys.executable, "-m", "chronik.cli"]


def chronik(tmp_path: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHRONIK_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}
    return subprocess.run([*CHRONIK, *args], capture_output=True, text=True, env=env, timeout=60, check=check)


def status(tmp_path: Path, name: str, *extra: str) -> dict:
    return json.loads(chronik(tmp_path, "ext", "status", name, "--json", *extra, check=True).stdout)


@pytest.mark.parametrize("sindri", [False, True], ids=["chronik", "sindri"])
def test_failing_and_succeeding_commands(tmp_path, sindri):
    extra = ["--sindri", str(tmp_path / "status_ledger.jsonl")] if sindri else []
    script = "echo building; printf 'line 1\\nエラー: ダウンロードに失敗しました 🙂\\n' >&2; exit 7"
    failed = chronik(tmp_path, "ext", "install", "kubectl", "--version", "1.35.0", *extra, "--", "sh", "-c", script)
    assert failed.returncode == 1
    current = status(tmp_path, "kubectl", *extra)["status"]
    assert current["state"] == "failed" and current["version"] == "1.35.0"
    assert current["error"] == "line 1\nエラー: ダウンロードに失敗しました 🙂"
    log = Path(current["log_file"])
    assert log.exists() and "building" in log.read_text() and "ダウンロード" in log.read_text()
    if not sindri:
        assert current["exit_code"] == 7
    ok = chronik(tmp_path, "ext", "install", "jq", *extra, "--", sys.executable, "-c", "print('ok')")
    assert ok.returncode == 0, ok.stderr
    assert status(tmp_path, "jq", *extra)["status"]["state"] == "installed"
    events = status(tmp_path, "jq", *extra)["events"]
    assert [e["type"] for e in events] == ["install_started", "install_completed"]


@pytest.mark.parametrize("sindri", [False, True], ids=["chronik", "sindri"])
def test_killed_mid_run_shows_interrupted(tmp_path, sindri):
    extra = ["--sindri", str(tmp_path / "status_ledger.jsonl")] if sindri else []
    env = {**os.environ, "CHRONIK_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}
    run = subprocess.Popen([*CHRONIK, "ext", "install", "slow", *extra, "--", "sleep", "30"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listed = chronik(tmp_path, "ext", "status", "--json", *extra).stdout
        if '"installing"' in listed:
            break
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGKILL)  # no chance to record anything
    run.wait()
    current = status(tmp_path, "slow", *extra)["status"]
    assert current["state"] == "interrupted" and current["interrupted_from"] == "installing"


def test_sigterm_records_failure(tmp_path):
    env = {**os.environ, "CHRONIK_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}
    run = subprocess.Popen([*CHRONIK, "ext", "install", "t", "--", "sleep", "30"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.5)
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=20) == 1
    current = status(tmp_path, "t")["status"]
    assert current["state"] == "failed" and current["error"].startswith("interrupted (SIGTERM)")


def test_error_tail_cuts_on_characters():
    text = ("é" * 3000).encode()
    tail = error_tail(text, max_chars=1001)
    assert len(tail) == 1001 and tail.startswith("…") and set(tail[1:]) == {"é"}
    assert error_tail(b"a\nb\nc\nd\ne\nf\ng", max_lines=2) == "f\ng"
    assert error_tail(b"\xe3\x82") == "\ufffd"  # a torn character in stderr is replaced, never a crash

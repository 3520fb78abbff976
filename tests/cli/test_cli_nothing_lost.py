"""Issue 10 ("Nothing lost, nothing hidden") through the `chronik` command, on real files:

- item 1: `verify` and reading commands never modify a torn JSON Lines ledger; `chronik repair`
  moves the torn bytes to a quarantine file it names, and says "nothing to repair" when clean;
- item 2: `verify --thorough` runs SQLite's integrity_check, which finds what quick_check cannot;
- items 3 and 4: every reading command opens read-only: on a missing ledger it exits 1 naming
  the path and creates nothing (so do commands that write only into an existing ledger, such
  as repair or retention set); in a read-only folder (checked as an unprivileged user, since
  root ignores file modes) it reads;
- item 9: `export - --json | chronik import -` works (the summary goes to stderr);
- item 13: a missing input file is a usage error (exit 2) everywhere; the demo leaves nothing
  in the working folder that `make clean` does not remove.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cli_testing import json_lines
from click.testing import CliRunner

import chronik
from chronik.cli.main import cli
from stores.sqlite_files import fingerprint, reachable_folder, run_unprivileged

CHRONIK = [sys.executable, "-m", "chronik.cli"]
REPO = Path(__file__).resolve().parents[2]
REDUCER_MODULE = "nothing_lost_reducer"


def chronik_cli(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env=env)


def write_events(path: Path, count: int = 6) -> None:
    """`count` events, one append each, on three order streams (a real file, by the store)."""
    with chronik.open_ledger(str(path)) as ledger:
        for n in range(count):
            ledger.append(f"order:{n % 3}", [chronik.NewEvent("noted", {"n": n, "pad": "x" * 40})])


# ---------------------------------------------------------------- item 1: verify never repairs


def test_verify_reports_a_torn_tail_without_touching_it_and_repair_quarantines_it(tmp_path):
    path = tmp_path / "ledger.jsonl"
    write_events(path)
    whole = path.read_bytes()
    os.truncate(path, len(whole) - 30)  # the last commit (one line) is cut short
    torn = path.read_bytes()
    boundary = torn.rstrip(b"\n").rfind(b"\n") + 1  # where the torn line starts

    checked = chronik_cli("--ledger", str(path), "verify", "--json")
    report = json.loads(checked.stdout)
    assert checked.exit_code == 3 and report["ok"] is False
    assert {c["name"]: c["status"] for c in report["checks"]}["storage"] == "failed"
    assert chronik_cli("--ledger", str(path), "head").exit_code == 0
    assert chronik_cli("--ledger", str(path), "log").exit_code == 0
    assert path.read_bytes() == torn  # nothing was cut by verify or the reads
    assert sorted(p.name for p in tmp_path.iterdir() if ".quarantine-" in p.name) == []

    repaired = chronik_cli("--ledger", str(path), "repair")
    assert repaired.exit_code == 0, repaired.output
    [quarantine_line] = [line for line in repaired.stdout.splitlines() if line.startswith("quarantine: ")]
    quarantine = Path(quarantine_line.removeprefix("quarantine: "))
    assert quarantine.parent == tmp_path and quarantine.name.startswith("ledger.jsonl.quarantine-")
    assert "repaired (torn_tail):" in repaired.stdout and f"bytes {boundary}..{len(torn)}" in repaired.stdout
    assert quarantine.read_bytes() == torn[boundary:]  # the cut bytes, kept
    assert path.read_bytes() == torn[:boundary]
    assert repaired.stderr == ""  # said once, on stdout (not again through the log)

    assert chronik_cli("--ledger", str(path), "verify").exit_code == 0
    again = chronik_cli("--ledger", str(path), "repair")
    assert again.exit_code == 0 and again.stdout.startswith("nothing to repair in jsonl:")
    assert json_lines(chronik_cli("--ledger", str(path), "repair", "--json").stdout) == [
        {"url": f"jsonl://{path}", "repaired": []}]


def test_repair_reports_each_finding_as_json(tmp_path):
    path = tmp_path / "ledger.jsonl"
    write_events(path)
    os.truncate(path, path.stat().st_size - 10)
    [result] = json_lines(chronik_cli("--ledger", str(path), "repair", "--json").stdout)
    [finding] = result["repaired"]
    assert finding["code"] == "torn_tail" and Path(finding["detail"]["quarantine"]).exists()


def test_repair_creates_no_ledger_and_a_clean_sqlite_ledger_needs_nothing(tmp_path):
    missing = chronik_cli("--ledger", str(tmp_path / "sub" / "typo.db"), "repair")
    assert missing.exit_code == 1 and "no ledger at" in missing.stderr
    assert list(tmp_path.iterdir()) == []
    write_events(tmp_path / "ledger.db")
    clean = chronik_cli("--ledger", str(tmp_path / "ledger.db"), "repair")
    assert clean.exit_code == 0 and clean.stdout.startswith("nothing to repair in sqlite:")


# ---------------------------------------------------------------- item 2: verify --thorough


def test_verify_thorough_runs_integrity_check(tmp_path):
    """An index that disagrees with its table: quick_check does not compare them (it passes),
    integrity_check does. Only --thorough finds it, in SQLite's words, with exit 3."""
    path = tmp_path / "ledger.db"
    write_events(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA writable_schema=ON")  # the index events_id now claims to index another column
    conn.execute("UPDATE sqlite_master SET sql = 'CREATE UNIQUE INDEX events_id ON events (hash)' "
                 "WHERE name = 'events_id'")
    conn.commit()
    conn.close()
    quick = chronik_cli("--ledger", str(path), "verify", "--json")
    assert quick.exit_code == 0, quick.stdout
    thorough = chronik_cli("--ledger", str(path), "verify", "--thorough", "--json")
    report = json.loads(thorough.stdout)
    assert thorough.exit_code == 3 and report["ok"] is False
    assert any("missing from index events_id" in p["detail"] for p in report["problems"])


# ---------------------------------------------------------------- items 3 and 4: reads only read


READING_COMMANDS = [
    ("streams",), ("head",), ("read", "order:1"), ("log",), ("log", "--follow", "--limit", "1"), ("stats",),
    ("export", "out.jsonl"), ("export", "-"), ("replay", "order:1", "--reducer", f"{REDUCER_MODULE}:count"),
    ("diff", "order:1", "1", "--reducer", f"{REDUCER_MODULE}:count"),
    ("snapshot", "order:1", "--reducer", f"{REDUCER_MODULE}:count", "--list"),
    ("tail",), ("projections", "list"), ("projections", "status", "p"), ("parked", "list"),
    ("retention", "show"), ("retention", "apply", "--dry-run"), ("archive", "list"), ("archive", "verify"),
    ("verify",), ("copy", "{ledger}", "copy.db"),
]
# Commands that write into a ledger but mean nothing on a new one: they do not create one either.
NEEDS_A_LEDGER = [
    ("repair",), ("tail", "--name", "t"), ("snapshot", "order:1", "--reducer", f"{REDUCER_MODULE}:count"),
    ("retention", "set", "order", "--max-age", "90d"), ("retention", "apply"),
    ("parked", "discard", "p", "--all"),
]


@pytest.fixture
def reducer_module(tmp_path, monkeypatch):
    """A reducer module in the working folder, as a user's project would have one."""
    work = tmp_path / "work"
    work.mkdir()
    (work / f"{REDUCER_MODULE}.py").write_text("def count(state, event):\n    return (state or 0) + 1\n")
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(work))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # importing it writes no __pycache__
    return work


@pytest.mark.parametrize("suffix", [".db", ".jsonl"])
def test_reading_commands_on_a_missing_ledger_exit_1_and_create_nothing(tmp_path, reducer_module, suffix):
    ledger = tmp_path / "typo" / "deeper" / f"ledgr{suffix}"
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    for command in READING_COMMANDS + NEEDS_A_LEDGER:
        args = [part.format(ledger=ledger) for part in command]
        result = chronik_cli("--ledger", str(ledger), *args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr == f"Error: no ledger at {ledger}; append creates one\n", args
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # no file, no folder


def _read_as_unprivileged(ledger: str, home: str) -> list[list]:
    """Run reading commands as a user whom file modes bind; [args, exit code, stdout, stderr]."""
    runs = []
    for args in (["stats"], ["log"], ["head", "--json"], ["streams"], ["read", "order:1"], ["export", "-"],
                 ["verify", "--json"], ["verify", "--thorough"], ["retention", "show"],
                 ["retention", "apply", "--dry-run"], ["archive", "verify"], ["tail"]):
        result = CliRunner().invoke(cli, ["--ledger", ledger, *args], env={"HOME": home})
        runs.append([args, result.exit_code, result.stdout, result.stderr])
    return runs


@pytest.mark.parametrize("suffix", [".db", ".jsonl"])
def test_reading_commands_work_in_a_read_only_folder(tmp_path, suffix):
    # The same commands once here first: the child may not be able to read chronik's own files,
    # so every module the commands load lazily must be loaded before it forks.
    write_events(tmp_path / f"warm-up{suffix}")
    assert all(code == 0 for _, code, _, _ in _read_as_unprivileged(str(tmp_path / f"warm-up{suffix}"),
                                                                     str(tmp_path)))
    with reachable_folder() as folder:
        ledger = folder / f"ledger{suffix}"
        write_events(ledger)
        for path in folder.iterdir():
            path.chmod(0o444)
        folder.chmod(0o555)
        before = fingerprint(folder)
        runs = run_unprivileged(_read_as_unprivileged, str(ledger), str(folder))
        for args, code, stdout, stderr in runs:
            assert code == 0, (args, stdout, stderr)
        head = json.loads(next(out for args, _, out, _ in runs if args == ["head", "--json"]))
        assert head["position"] == 6
        assert fingerprint(folder) == before  # nothing written, nothing created


# ---------------------------------------------------------------- item 9: export - | import -


def test_export_to_stdout_with_json_pipes_into_import(tmp_path):
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    write_events(source, count=25)
    env = {**os.environ, "HOME": str(tmp_path)}
    exporter = subprocess.Popen([*CHRONIK, "--ledger", str(source), "export", "-", "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    importer = subprocess.run([*CHRONIK, "--ledger", str(target), "import", "-", "--json"],
                              stdin=exporter.stdout, capture_output=True, text=True, timeout=60, env=env)
    assert exporter.stdout is not None and exporter.stderr is not None
    exporter.stdout.close()
    summary = exporter.stderr.read().decode()
    assert exporter.wait(timeout=60) == 0
    assert importer.returncode == 0, importer.stderr
    assert json_lines(summary) == [{"file": "-", "format": "jsonl", "events": 25}]
    assert json.loads(importer.stdout)["imported"] == 25
    with chronik.open_ledger(str(source)) as a, chronik.open_ledger(str(target)) as b:
        assert a.head() == b.head()


def test_export_to_a_file_with_json_keeps_the_summary_on_stdout(tmp_path):
    write_events(tmp_path / "ledger.db")
    result = chronik_cli("--ledger", str(tmp_path / "ledger.db"), "export", str(tmp_path / "out.jsonl"), "--json")
    assert json_lines(result.stdout) == [{"file": str(tmp_path / "out.jsonl"), "format": "jsonl", "events": 6}]


# ---------------------------------------------------------------- item 13: missing inputs, demo


def test_a_missing_input_file_is_a_usage_error_everywhere(tmp_path):
    ledger = tmp_path / "ledger.db"
    write_events(ledger)
    missing = str(tmp_path / "missing.json")
    for args in (["verify", "--anchor", missing], ["import", missing], ["ext", "import", "--sindri", missing],
                 ["archive", "verify", "--archive-dir", missing],
                 ["archive", "restore", "segment-1", str(tmp_path / "out.jsonl"), "--archive-dir", missing]):
        result = chronik_cli("--ledger", str(ledger), *args)
        assert result.exit_code == 2, (args, result.output)
        assert "missing.json" in result.stderr and "Traceback" not in result.stderr, args
        as_json = chronik_cli("--ledger", str(ledger), *args, "--json")
        assert as_json.exit_code == 2 and json.loads(as_json.stderr)["exit_code"] == 2, args
    sindri = chronik_cli("--ledger", str(ledger), "ext", "import", "--sindri", missing)
    assert sindri.stderr.startswith("Error: --sindri: ")  # the option, not the library's field


def test_the_demo_leaves_only_what_make_clean_removes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert chronik_cli("demo").exit_code == 0
    written = sorted(p.name for p in tmp_path.iterdir() if p.name != "home")
    assert "ext-logs" not in written and "chronik-demo.db" in written
    clean = subprocess.run(["make", "-s", "-n", "-C", str(REPO), "clean"], capture_output=True, text=True,
                           check=True).stdout.split()
    assert set(written) <= set(clean), (written, clean)

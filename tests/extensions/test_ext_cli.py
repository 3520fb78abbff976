"""`chronik ext` commands on a Sindri file and a chronik ledger, through click's runner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from chronik.cli.main import cli

# A copy of ../shared/testdata/sindri (real Sindri data and its oracles), kept with the tests so
# they never depend on where the shared folder is.
DATA = Path(__file__).parents[1] / "data" / "sindri"


def run(*args: str, url: str | None = None) -> object:
    env = {"CHRONIK_URL": url} if url else {}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_status_json_sorted_and_removed_hidden():
    result = run("ext", "status", "--json", "--sindri", str(DATA / "ledger-full.jsonl"))
    rows = lines(result.output)
    names = [r["name"] for r in rows]
    assert names == sorted(names) and "ollama" not in names and len(names) == 28
    every = lines(run("ext", "status", "--json", "--all", "--sindri", str(DATA / "ledger-full.jsonl")).output)
    assert len(every) == 30
    one = json.loads(run("ext", "status", "ollama", "--json", "--sindri", str(DATA / "ledger-full.jsonl")).output)
    assert one["status"]["state"] == "removed"


def test_status_name_limit_and_since():
    path = str(DATA / "ledger-full.jsonl")
    shown = json.loads(run("ext", "status", "python", "--json", "--limit", "20", "--sindri", path).output)
    oracle = json.loads((DATA / "oracle-history-python.json").read_text())["events"]
    assert [e["event_id"] for e in shown["events"]] == [e["event_id"] for e in oracle]
    since = json.loads(run("ext", "status", "python", "--json", "--since", "2026-11-01", "--sindri", path).output)
    assert all(e["timestamp"] >= "2026-11-01" for e in since["events"]) and since["events"]


def test_log_filters_and_bad_lines(tmp_path):
    path = tmp_path / "ledger.jsonl"
    shutil.copyfile(DATA / "ledger-full.jsonl", path)
    with open(path, "ab") as out:
        out.write(b'{"event_id": broken\n')
    result = run("ext", "log", "-t", "install", "-l", "error", "-n", "3", "--json", "--sindri", str(path))
    rows = lines(result.stdout)
    assert len(rows) == 3 and all(r["type"] == "install_failed" for r in rows)
    assert "line 1078" in result.stderr
    doctor = run("ext", "doctor", "--sindri", str(path))
    assert doctor.exit_code == 1 and "line 1078" in doctor.output
    fixed = run("ext", "doctor", "--quarantine", "--sindri", str(path))
    assert fixed.exit_code == 0
    assert path.read_bytes() == (DATA / "ledger-full.jsonl").read_bytes()
    assert b"broken" in Path(str(path) + ".quarantine").read_bytes()


def test_compact_stats_export(tmp_path):
    path = tmp_path / "ledger.jsonl"
    shutil.copyfile(DATA / "ledger-full.jsonl", path)
    stats = json.loads(run("ext", "stats", "--json", "--sindri", str(path)).output)
    assert stats["total_events"] == 1077 and stats["file_size_bytes"] == 344900
    exported = run("ext", "export", "--format", "json", "--sindri", str(path)).stdout
    assert len(json.loads(exported)) == 1077
    result = json.loads(run("ext", "compact", "--now", "2026-11-22T01:30:35.371464803Z", "--json",
                            "--sindri", str(path)).output)
    assert result["removed"] == 40 and path.read_bytes() == (DATA / "ledger-compacted.jsonl").read_bytes()


def test_import_then_export_to_sindri(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    imported = json.loads(run("ext", "import", "--sindri", str(DATA / "ledger-full.jsonl"), "--json", url=url).output)
    assert imported["imported"] == 1077
    out = tmp_path / "back.jsonl"
    run("ext", "export", "--format", "sindri", "-o", str(out), url=url)
    assert out.read_bytes() == (DATA / "ledger-full.jsonl").read_bytes()
    table = run("ext", "status", url=url).output
    assert table.splitlines()[0].split()[:3] == ["NAME", "STATE", "VERSION"] and "golang" in table


def test_verify_and_outdated_from_catalog(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    for name in ("good", "bad", "slow"):
        assert run("ext", "install", name, "--version", "1.0", "--", "true", url=url).exit_code == 0
    catalog = tmp_path / "catalog.toml"
    catalog.write_text('[extensions.good]\nvalidate = ["true"]\nlatest_version = "2.0"\n'
                       '[extensions.bad]\nvalidate = ["sh -c \'echo nope >&2; exit 2\'"]\n'
                       '[extensions.slow]\nvalidate = ["sleep 5"]\n')
    result = run("ext", "verify", "--catalog", str(catalog), "--timeout", "0.5", "--json", url=url)
    assert result.exit_code == 1
    by_name = {r["name"]: r for r in lines(result.output)}
    assert by_name["good"]["ok"] and "nope" in by_name["bad"]["error"] and "timed out" in by_name["slow"]["error"]
    found = lines(run("ext", "outdated", "--catalog", str(catalog), "--json", url=url).output)
    assert found == [{"name": "good", "current_version": "1.0", "latest_version": "2.0"}]
    states = {r["name"]: r["state"] for r in lines(run("ext", "status", "--json", url=url).output)}
    assert states == {"good": "outdated", "bad": "failed", "slow": "failed"}

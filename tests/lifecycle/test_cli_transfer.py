"""`chronik copy`, `export`, `import`, `db upgrade`: thin wrappers, exit codes, --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from lifecycle_testing import fill

import chronik
from chronik.cli.main import cli


@pytest.fixture(autouse=True)
def no_ambient_ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHRONIK_URL", raising=False)


def run(*args: str, input: bytes | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def source_db(tmp_path: Path) -> Path:
    path = tmp_path / "source.db"
    with chronik.open_ledger(str(path)) as ledger:
        fill(ledger)
    return path


def test_export_import_round_trip_through_files_and_pipes(source_db, tmp_path):
    exported = tmp_path / "out.jsonl"
    result = run("--ledger", str(source_db), "export", str(exported), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["events"] == 21
    piped = run("--ledger", str(source_db), "export", "-")
    assert piped.stdout_bytes == exported.read_bytes()
    result = run("--ledger", str(tmp_path / "copy.jsonl"), "import", "-", "--json", input=exported.read_bytes())
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["imported"] == 21
    again = run("--ledger", str(tmp_path / "copy.jsonl"), "export", "-")
    assert again.stdout == piped.stdout


def test_export_formats_and_filters(source_db):
    csv_text = run("--ledger", str(source_db), "export", "-", "--format", "csv", "--category", "extension").stdout_bytes.decode()
    assert csv_text.startswith("position,stream,version,type,id,time,data,meta,prev,hash,sig\r\n")
    assert all(",extension:" in line for line in csv_text.splitlines()[1:])
    array = json.loads(run("--ledger", str(source_db), "export", "-", "--format", "json", "--after", "19").stdout)
    assert [event["position"] for event in array] == [20, 21]
    bad = run("--ledger", str(source_db), "export", "-", "--type", "9x")
    assert bad.exit_code == 2 and "--type" in bad.stderr


def test_import_of_a_broken_chain_exits_3_and_rechain_reports(source_db, tmp_path):
    lines = run("--ledger", str(source_db), "export", "-").stdout.encode().splitlines(keepends=True)
    del lines[3]
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b"".join(lines))
    target = str(tmp_path / "target.db")
    result = run("--ledger", target, "import", str(broken))
    assert result.exit_code == 3 and "position 5" in result.stderr and "--rechain" in result.stderr
    result = run("--ledger", target, "import", str(broken), "--rechain")
    assert result.exit_code == 0 and "re-chained" in result.stderr
    assert "input position 5 -> position 4" in result.stdout
    assert run("--ledger", target, "verify").exit_code == 0
    assert run("--ledger", target, "import", str(tmp_path / "missing.jsonl")).exit_code == 2


def test_copy_refuses_a_non_empty_destination_with_exit_1_naming_append_to(source_db, tmp_path):
    destination = str(tmp_path / "dest.jsonl")
    first = run("copy", str(source_db), destination, "--json")
    assert first.exit_code == 0 and json.loads(first.stdout)["copied"] == 21
    again = run("copy", str(source_db), destination)
    assert again.exit_code == 1 and "--append-to" in again.stderr
    resumed = run("copy", str(source_db), destination, "--append-to", "--json")
    assert resumed.exit_code == 0 and json.loads(resumed.stdout)["already_present"] == 21


def test_db_upgrade_on_every_kind(source_db, tmp_path, lifecycle_pg_server):
    sqlite = json.loads(run("--ledger", str(source_db), "db", "upgrade", "--json").stdout)
    assert sqlite["store"] == "sqlite" and "nothing to upgrade" in sqlite["message"]
    jsonl = json.loads(run("--ledger", str(tmp_path / "x.jsonl"), "db", "upgrade", "--json").stdout)
    assert jsonl["schema_version"] is None
    url = lifecycle_pg_server.schema_url("lc")
    for _ in range(2):  # safe to run twice
        result = run("--ledger", url, "db", "upgrade", "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["schema_version"] >= 1

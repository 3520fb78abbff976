"""`chronik anchor` and `chronik verify --anchor/--from/--to/--json`: what was checked, where it
broke, exit 3."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from chronik.cli.main import cli
from chronik.integrity.keys import add_key
from chronik.ledger import open_ledger
from chronik.model import NewEvent


@pytest.fixture
def setup(tmp_path):
    keys = tmp_path / "keys.json"
    add_key(keys, activate=True, kid="k1")
    db = tmp_path / "ledger.db"
    env = {"CHRONIK_KEYS_FILE": str(keys), "CHRONIK_URL": str(db)}

    def run(*args: str):
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    for n in range(10):
        assert run("append", f"order:{n % 3}", "noted", "--data", json.dumps({"n": n})).exit_code == 0
    return run, db, tmp_path


def test_verify_reports_each_check_and_says_truncation_is_undetectable(setup):
    run, _, _ = setup
    result = run("verify", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert {c["name"]: c["status"] for c in report["checks"]} == {
        "storage": "ok", "chain": "ok", "positions": "ok", "versions": "ok", "signatures": "ok", "anchor": "not_checked"}
    assert report["signatures"]["by_kid"] == {"k1": 10}
    assert any("cannot be detected" in note for note in report["notes"])
    people = run("verify").stdout
    assert "verify: OK, 10 events checked" in people and "truncation" in people


def test_an_anchor_detects_truncation_and_verify_exits_3(setup):
    run, db, tmp_path = setup
    anchor = tmp_path / "anchor.json"
    made = run("anchor", "--out", str(anchor), "--json")
    assert made.exit_code == 0 and json.loads(made.stdout)["position"] == 10
    assert run("verify", "--anchor", str(anchor)).exit_code == 0
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM events WHERE position > 7")
    assert run("verify").exit_code == 0  # a shorter chain is still a valid chain
    result = run("verify", "--anchor", str(anchor), "--json")
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert (report["first_bad_position"], report["first_bad_kind"]) == (8, "truncated")
    assert {c["name"]: c["status"] for c in report["checks"]}["anchor"] == "failed"
    people = run("verify", "--anchor", str(anchor))
    assert "first bad position 8 (truncated)" in people.stdout


def test_a_forged_anchor_is_refused(setup):
    run, _, tmp_path = setup
    anchor = tmp_path / "anchor.json"
    run("anchor", "--out", str(anchor))
    document = json.loads(anchor.read_text())
    document["position"] = 9
    anchor.write_text(json.dumps(document))
    result = run("verify", "--anchor", str(anchor))
    assert result.exit_code == 3 and "MAC does not match" in result.stderr


def test_anchor_without_out_prints_it(setup):
    run, _, _ = setup
    printed = json.loads(run("anchor", "--json").stdout)
    assert printed["format"] == "chronik.anchor.v1" and printed["kid"] == "k1" and len(printed["mac"]) == 64


def test_from_to_checks_a_range(setup):
    run, db, _ = setup
    with sqlite3.connect(db) as conn:
        conn.execute("""UPDATE events SET data = '{"n":99}' WHERE position = 9""")
    inside = json.loads(run("verify", "--from", "3", "--to", "8", "--json").stdout)
    assert inside["ok"] and inside["checked"] == 6 and inside["from_position"] == 3
    assert any("positions 3..8 only" in note for note in inside["notes"])
    result = run("verify", "--from", "5", "--json")
    assert result.exit_code == 3 and json.loads(result.stdout)["first_bad_position"] == 9
    assert run("verify", "--from", "6", "--to", "2").exit_code == 2


def test_a_jsonl_file_its_store_refuses_is_verified_line_by_line(tmp_path):
    path = tmp_path / "ledger.jsonl"
    with open_ledger(str(path)) as ledger:
        for n in range(6):
            ledger.append("order:1", [NewEvent("noted", {"n": n})])
    lines = path.read_bytes().splitlines(keepends=True)
    del lines[2]  # position 3
    path.write_bytes(b"".join(lines))
    result = CliRunner().invoke(cli, ["--ledger", str(path), "verify", "--json"], catch_exceptions=False)
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert (report["first_bad_position"], report["first_bad_kind"]) == (3, "position_gap")
    assert any("line by line" in note for note in report["notes"])


def test_a_corrupt_last_jsonl_line_is_reported_not_repaired_away(tmp_path):
    path = tmp_path / "ledger.jsonl"
    with open_ledger(str(path)) as ledger:
        for n in range(4):
            ledger.append("order:1", [NewEvent("noted", {"n": n})])
    before = path.read_bytes()
    corrupt = before[:-20] + b"\x0c" + before[-19:]  # a flipped byte in the head's line
    path.write_bytes(corrupt)
    result = CliRunner().invoke(cli, ["--ledger", str(path), "verify", "--json"], catch_exceptions=False)
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert (report["first_bad_position"], report["first_bad_kind"]) == (4, "unreadable")
    assert path.read_bytes() == corrupt  # verify is read-only


def test_verify_after_retention_on_a_jsonl_ledger_accepts_the_archived_gaps(tmp_path):
    # verify once read JSON Lines files line by line without the store, which knew nothing of
    # archive manifests, so every archived gap was reported as tampering.
    path = tmp_path / "ledger.jsonl"
    with open_ledger(str(path)) as ledger:
        for n in range(6):
            ledger.append(f"order:{n % 2}", [NewEvent("created", {"n": n})])
            ledger.append("other:1", [NewEvent("noted")])
    run = CliRunner().invoke
    assert run(cli, ["--ledger", str(path), "retention", "set", "order", "--max-count", "1"]).exit_code == 0
    assert run(cli, ["--ledger", str(path), "retention", "apply"]).exit_code == 0
    live = run(cli, ["--ledger", str(path), "verify", "--json"], catch_exceptions=False)
    assert live.exit_code == 0, live.stdout
    assert any("archived" in note for note in json.loads(live.stdout)["notes"])
    whole = run(cli, ["--ledger", str(path), "verify", "--include-archive", "--json"], catch_exceptions=False)
    assert whole.exit_code == 0 and json.loads(whole.stdout)["checked"] == 12

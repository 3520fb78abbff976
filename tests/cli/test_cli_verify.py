"""`chronik verify`: a passing chain, and a tampered SQLite file located at its first bad position."""

from __future__ import annotations

import json

from cli_testing import json_lines, tamper_data

import chronik


def test_verify_passes_and_shows_the_anchor_note(run, order_ledger):
    result = run("verify")
    assert result.exit_code == 0
    assert "verify: OK, 5 events checked" in result.stdout
    assert "note: no anchor was given" in result.stdout
    [report] = json_lines(run("verify", "--json").stdout)
    assert report["ok"] is True and report["checked"] == 5 and report["first_bad_position"] is None
    assert report["head"]["position"] == 5
    assert any("truncation" in note for note in report["notes"])


def test_verify_of_an_empty_ledger_passes(run, ledger_path):
    chronik.open_ledger(str(ledger_path)).close()  # exists, holds no event
    result = run("verify", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["checked"] == 0


def test_verify_of_a_missing_ledger_exits_1_and_creates_nothing(run, ledger_path):
    # Regression (issue 10 item 3): verify created the file and said OK, 0 events checked.
    result = run("verify")
    assert result.exit_code == 1 and f"no ledger at {ledger_path}" in result.stderr
    assert not ledger_path.exists() and list(ledger_path.parent.iterdir()) == []


def test_tampered_data_exits_3_at_the_first_bad_position(run, order_ledger):
    tamper_data(order_ledger, 3, '{"sku":"Z"}')
    result = run("verify")
    assert result.exit_code == 3
    assert "verify: FAILED, 5 events checked, first bad position 3" in result.stdout
    assert "hash_mismatch" in result.stdout
    assert "note: no anchor was given" in result.stdout


def test_tampered_data_json_report(run, order_ledger):
    tamper_data(order_ledger, 4, '{"sku":"Z"}')
    result = run("verify", "--json")
    assert result.exit_code == 3
    [report] = json_lines(result.stdout)
    assert report["ok"] is False and report["first_bad_position"] == 4
    assert [(p["position"], p["kind"]) for p in report["problems"]] == [(4, "hash_mismatch")]

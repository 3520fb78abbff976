"""`chronik verify`: a passing chain, and a tampered SQLite file located at its first bad position."""

from __future__ import annotations

import json

from cli_testing import json_lines, tamper_data


def test_verify_passes_and_shows_the_anchor_note(run, order_ledger):
    result = run("verify")
    assert result.exit_code == 0
    assert "verify: OK, 5 events checked" in result.stdout
    assert "note: no anchor was given" in result.stdout
    [report] = json_lines(run("verify", "--json").stdout)
    assert report["ok"] is True and report["checked"] == 5 and report["first_bad_position"] is None
    assert report["head"]["position"] == 5
    assert any("truncation" in note for note in report["notes"])


def test_verify_of_an_empty_ledger_passes(run):
    result = run("verify", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["checked"] == 0


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

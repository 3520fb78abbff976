"""`chronik streams`, `head`, `stats`, on SQLite, memory and (when present) JSON Lines ledgers."""

from __future__ import annotations

from cli_testing import json_lines

import chronik


def test_streams_table_and_json(run, order_ledger):
    table = run("streams")
    assert table.exit_code == 0
    assert table.stdout.split()[:2] == ["STREAM", "VERSION"]
    assert "extension:python" in table.stdout and "install_failed" in table.stdout
    infos = json_lines(run("streams", "--json").stdout)
    assert {i["stream"]: i["version"] for i in infos} == {"order:1": 3, "order:2": 1, "extension:python": 1}
    assert list(infos[0]) == ["stream", "version", "last_position", "last_type", "last_time"]


def test_streams_by_category(run, order_ledger):
    infos = json_lines(run("streams", "--category", "order", "--json").stdout)
    assert sorted(i["stream"] for i in infos) == ["order:1", "order:2"]
    assert run("streams", "--category", "nothing").stderr.strip() == "no streams in category nothing"
    bad = run("streams", "--category", "no:colons")
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: --category")


def test_head_of_an_empty_and_a_full_ledger(run, order_ledger, tmp_path):
    chronik.open_ledger(str(tmp_path / "empty.db")).close()  # reading commands create nothing
    empty = json_lines(run("head", "--json", ledger=tmp_path / "empty.db").stdout)
    assert empty == [{"position": 0, "hash": "0" * 64}]
    [head] = json_lines(run("head", "--json").stdout)
    assert head["position"] == 5 and len(head["hash"]) == 64
    people = run("head").stdout
    assert "position" in people and head["hash"] in people


def test_stats(run, order_ledger):
    [stats] = json_lines(run("stats", "--json").stdout)
    assert stats["events"] == 5 and stats["streams"] == 3 and stats["head_position"] == 5
    assert stats["types"] == {"created": 2, "install_failed": 1, "item_added": 2}
    people = run("stats").stdout
    assert "events per type" in people and "item_added" in people


def test_memory_ledger_starts_empty_for_each_command(run):
    result = run("append", "order:1", "created", "--json", ledger="memory:")
    assert json_lines(result.stdout)[0]["first_position"] == 1
    assert json_lines(run("head", "--json", ledger="memory:").stdout)[0]["position"] == 0


def test_jsonl_ledger(run, tmp_path):
    path = tmp_path / "ledger.jsonl"
    assert run("append", "order:1", "created", ledger=path).exit_code == 0
    assert [e["type"] for e in json_lines(run("log", "--json", ledger=path).stdout)] == ["created"]
    assert run("verify", ledger=path).exit_code == 0

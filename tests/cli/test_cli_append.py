"""`chronik append`: happy paths, expectations, idempotency, and bad input that writes nothing."""

from __future__ import annotations

import json

import pytest
from cli_testing import event_count, json_lines


def test_append_prints_the_result_for_people(run, ledger_path):
    result = run("append", "order:1", "created", "--data", '{"n": 1}')
    assert result.exit_code == 0, result.stderr
    assert "appended" in result.stdout and "order:1" in result.stdout
    assert event_count(ledger_path) == 1


def test_append_json_is_one_line_with_the_append_result(run):
    result = run("append", "order:1", "created", "--data", '{"n": 1}', "--meta", '{"by": "me"}',
                 "--id", "evt-1", "--expect", "no-stream", "--json")
    assert result.exit_code == 0, result.stderr
    [line] = json_lines(result.stdout)
    assert line == {"stream": "order:1", "first_position": 1, "last_position": 1, "version": 1,
                    "ids": ["evt-1"]}
    [event] = json_lines(run("read", "order:1", "--json").stdout)
    assert event["data"] == {"n": 1} and event["meta"] == {"by": "me"}


def test_data_from_a_file_and_from_stdin(run, tmp_path):
    data_file = tmp_path / "data.json"
    data_file.write_text('{"from": "file"}')
    assert run("append", "s:1", "noted", "--data", f"@{data_file}").exit_code == 0
    assert run("append", "s:1", "noted", "--data", "-", input='{"from": "stdin"}').exit_code == 0
    events = json_lines(run("read", "s:1", "--json").stdout)
    assert [e["data"] for e in events] == [{"from": "file"}, {"from": "stdin"}]


def test_expectations_and_conflict_exit_4(run, ledger_path):
    assert run("append", "order:1", "created", "--expect", "no-stream").exit_code == 0
    assert run("append", "order:1", "paid", "--expect", "1").exit_code == 0
    assert run("append", "order:1", "shipped", "--expect", "exists").exit_code == 0
    stale = run("append", "order:1", "cancelled", "--expect", "1")
    assert stale.exit_code == 4
    assert stale.stderr.strip() == ("Error: order:1: expected version 1, but the stream is at version 3 "
                                    "(re-read it and decide again, then retry expecting version 3)")
    assert stale.stdout == ""
    assert run("append", "order:9", "x", "--expect", "exists").exit_code == 4
    assert event_count(ledger_path) == 3


def test_conflict_with_json_reports_the_error_as_json(run):
    run("append", "order:1", "created")
    result = run("append", "order:1", "created", "--expect", "no-stream", "--json")
    assert result.exit_code == 4
    error = json.loads(result.stderr)
    assert error["error"] == "ConcurrencyError" and error["exit_code"] == 4
    assert error["stream"] == "order:1" and error["actual"] == 1


def test_retry_with_the_same_id_returns_the_original_result(run, ledger_path):
    args = ("append", "order:1", "paid", "--id", "pay-1", "--data", '{"cents": 100}', "--json")
    first = json_lines(run(*args).stdout)
    run("append", "order:1", "shipped")
    retry = run(*args)
    assert retry.exit_code == 0
    assert json_lines(retry.stdout) == first
    assert event_count(ledger_path) == 2


def test_same_id_with_different_content_is_refused_naming_id(run, ledger_path):
    run("append", "order:1", "paid", "--id", "pay-1", "--data", '{"cents": 100}')
    result = run("append", "order:1", "paid", "--id", "pay-1", "--data", '{"cents": 999}')
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --id: ")
    assert event_count(ledger_path) == 1


BAD_INPUT = [
    (["order:1", "created", "--data", "{'single': 1}"], "--data", "not valid JSON"),
    (["order:1", "created", "--data", '{"a": 1, "a": 2}'], "--data", "duplicate key"),
    (["order:1", "created", "--data", '{"a": NaN}'], "--data", "NaN"),
    (["order:1", "created", "--data", "[1, 2]"], "--data", "must be a JSON object"),
    (["order:1", "created", "--meta", '"text"'], "--meta", "must be a JSON object"),
    (["order:1", "created", "--data", "@/no/such/file.json"], "--data", "cannot read"),
    (["order:1", "created", "--data", "[" * 70 + "]" * 70], "--data", "max_depth"),
    (["order:1", "created", "--expect", "maybe"], "--expect", "not an expectation"),
    (["order1", "created"], "STREAM", "not a stream name"),
    (["order:1", "Created!"], "TYPE", "not an event type name"),
    (["order:1", "created", "--id", "has space"], "--id", "characters outside"),
]


@pytest.mark.parametrize(("args", "field", "problem"), BAD_INPUT)
def test_bad_input_names_the_field_exits_2_and_writes_nothing(run, ledger_path, args, field, problem):
    run("append", "order:1", "created")
    result = run("append", *args)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(f"Error: {field}"), result.stderr
    assert problem in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert event_count(ledger_path) == 1


def test_invalid_utf8_from_a_file_is_refused(run, ledger_path, tmp_path):
    data_file = tmp_path / "bad.json"
    data_file.write_bytes(b'{"name": "caf\xe9"}')
    result = run("append", "order:1", "created", "--data", f"@{data_file}")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --data: is not valid UTF-8")
    assert event_count(ledger_path) == 0


def test_oversized_data_hits_the_event_limit_naming_data(run, ledger_path, tmp_path):
    data_file = tmp_path / "big.json"
    data_file.write_text(json.dumps({"blob": "x" * (1024 * 1024)}))
    result = run("append", "order:1", "created", "--data", f"@{data_file}", "--json")
    assert result.exit_code == 2
    error = json.loads(result.stderr)
    assert error["error"] == "LimitExceeded" and error["field"] == "--data"
    assert event_count(ledger_path) == 0

"""Each exit code from a real scenario: 0 ok, 1 error, 2 usage, 3 verification, 4 conflict.

Failures print one line to stderr (or one JSON object with --json), never a traceback.
"""

from __future__ import annotations

import json

from cli_testing import tamper_data


def test_0_ok(run):
    assert run("append", "order:1", "created").exit_code == 0


def test_3_when_the_file_is_not_a_ledger_or_is_damaged(run, tmp_path):
    # SQLite cannot tell a file that never was a ledger from a ledger whose header was
    # overwritten; the second is corruption (issue 10 item 2), so both exit 3 and say both.
    not_a_ledger = tmp_path / "notes.db"
    not_a_ledger.write_bytes(b"these are my notes, not a database" * 100)
    result = run("head", ledger=not_a_ledger)
    assert result.exit_code == 3 and "not a chronik ledger" in result.stderr
    assert result.stderr.startswith("Error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    as_json = run("head", "--json", ledger=not_a_ledger)
    assert as_json.exit_code == 3
    error = json.loads(as_json.stderr)
    assert error["error"] == "IntegrityError" and error["exit_code"] == 3
    assert not_a_ledger.read_bytes().startswith(b"these are my notes")


def test_2_usage_errors(run):
    unknown_option = run("log", "--colour")
    assert unknown_option.exit_code == 2 and "No such option" in unknown_option.stderr
    missing_argument = run("append", "order:1")
    assert missing_argument.exit_code == 2 and "Missing argument 'TYPE'" in missing_argument.stderr
    assert run("no-such-command").exit_code == 2


def test_2_usage_error_as_json_when_json_was_asked_for(run):
    result = run("read", "order:1", "--from", "zero", "--json")
    assert result.exit_code == 2
    error = json.loads(result.stderr)
    assert error["error"] == "UsageError" and "--from" in error["message"]


def test_2_bad_ledger_url_names_the_option(run):
    result = run("head", ledger="ftp://example.org/ledger")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --ledger: ")


def test_2_bad_input_as_json(run, ledger_path):
    result = run("append", "order:1", "created", "--data", "{", "--json")
    assert result.exit_code == 2 and result.stdout == ""
    error = json.loads(result.stderr)
    assert error["error"] == "ValidationError" and error["field"] == "--data" and error["fix"]


def test_3_verification_failed(run, ledger_path):
    run("append", "order:1", "created", "--data", '{"n": 1}')
    run("append", "order:1", "paid", "--data", '{"cents": 100}')
    tamper_data(ledger_path, 2, '{"cents": 1}')
    assert run("verify").exit_code == 3


def test_4_concurrency_conflict(run):
    run("append", "order:1", "created")
    assert run("append", "order:1", "created", "--expect", "no-stream").exit_code == 4


def test_ledger_from_the_environment(run, ledger_path, monkeypatch):
    from click.testing import CliRunner

    from chronik.cli.main import cli

    monkeypatch.setenv("CHRONIK_URL", f"sqlite:///{ledger_path}")
    result = CliRunner().invoke(cli, ["append", "order:1", "created", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(run("head", "--json").stdout)["position"] == 1


def test_version():
    from click.testing import CliRunner

    import chronik
    from chronik.cli.main import cli

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"chronik {chronik.__version__}"

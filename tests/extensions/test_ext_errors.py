"""The library names fields, the CLI names options: every `chronik ext` error points at the
option the user typed, in text and in JSON, and the service's own errors name fields."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from chronik.cli.main import cli
from chronik.domains.extensions import service
from chronik.errors import ValidationError


def run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_ext_errors_name_the_options(tmp_path):
    sindri = str(tmp_path / "status_ledger.jsonl")
    bad_toml = tmp_path / "catalog.toml"
    bad_toml.write_text("x =")
    cases = [(("ext", "log", "--since", "yesterday", "--sindri", sindri), "--since"),
             (("ext", "status", "x", "--since", "later", "--sindri", sindri), "--since"),
             (("ext", "log", "--until", "2026-13-01", "--sindri", sindri), "--until"),
             (("ext", "compact"), "--sindri"),
             (("ext", "compact", "--now", "soon", "--sindri", sindri), "--now"),
             (("ext", "verify", "--catalog", str(bad_toml), "--sindri", sindri), "--catalog")]
    for args, option in cases:
        text = run(*args)
        assert text.exit_code == 2 and text.stderr.startswith(f"Error: {option}: "), (args, text.stderr)
        as_json = json.loads(run(*args, "--json").stderr)
        assert as_json["field"] == option and as_json["exit_code"] == 2


def test_the_service_names_fields():
    with pytest.raises(ValidationError) as raised:
        service.log_filter(since="yesterday")
    assert raised.value.field == "since"
    with pytest.raises(ValidationError) as raised:
        service.log_filter(kinds=["nothing"])
    assert raised.value.field == "kinds"
    with pytest.raises(ValidationError) as raised:
        service.compact(None)
    assert raised.value.field == "sindri_path"

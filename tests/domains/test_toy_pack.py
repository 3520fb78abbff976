"""A pack written from the template (tests/domains/toy_pack) works through the real `chronik`
group once it has a registry entry: help, commands, --json, errors naming options."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from chronik.cli.main import cli
from chronik.domains import registry

TOY = registry.Pack(name="todo", summary="To-do lists (a toy pack).", package="toy_pack", cli="toy_pack.cli:todo")


@pytest.fixture
def toy_registered() -> Iterator[None]:
    registry.register(TOY)
    yield
    registry.unregister("todo")


def chronik(*args: str, ledger: str) -> object:
    return CliRunner().invoke(cli, ["--ledger", ledger, *args], catch_exceptions=False)


def test_toy_pack_runs_through_the_chronik_group(toy_registered, tmp_path):
    ledger = str(tmp_path / "ledger.db")
    listed = CliRunner().invoke(cli, ["--help"])
    assert "todo" in listed.output and "To-do lists (a toy pack)." in listed.output
    assert chronik("todo", "add", "home", "buy milk", ledger=ledger).exit_code == 0
    assert chronik("todo", "add", "home", "fix door", ledger=ledger).exit_code == 0
    done = chronik("todo", "done", "home", "buy milk", "--json", ledger=ledger)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"open": ["fix door"], "done": ["buy milk"]}
    table = chronik("todo", "list", "home", ledger=ledger).stdout.splitlines()
    assert table == ["TASK      STATE", "fix door  open", "buy milk  done"]


def test_toy_pack_errors_name_the_argument_and_exit_codes(toy_registered, tmp_path):
    ledger = str(tmp_path / "ledger.db")
    chronik("todo", "add", "home", "buy milk", ledger=ledger)
    bad = chronik("todo", "done", "home", "walk dog", ledger=ledger)
    assert bad.exit_code == 2
    assert bad.stderr.startswith("Error: TITLE: 'walk dog' is not an open task")  # field title -> TITLE
    missing = chronik("todo", "list", "work", "--json", ledger=ledger)
    assert missing.exit_code == 1 and json.loads(missing.stderr)["error"] == "NotFound"


def test_unregistered_packs_are_gone(tmp_path):
    assert "todo" not in CliRunner().invoke(cli, ["--help"]).output
    result = CliRunner().invoke(cli, ["todo", "list", "home"])
    assert result.exit_code == 2 and "No such command 'todo'" in result.stderr


def test_registry_refuses_bad_entries():
    from chronik.errors import ValidationError

    with pytest.raises(ValidationError, match="name"):
        registry.register(registry.Pack(name="Bad Name", summary="x", package="p", cli="p:x"))
    with pytest.raises(ValidationError, match="cli"):
        registry.register(registry.Pack(name="fine", summary="x", package="p", cli="no-colon"))
    with pytest.raises(ValidationError, match="already registered"):
        registry.register(registry.Pack(name="ext", summary="x", package="p", cli="p:x"))

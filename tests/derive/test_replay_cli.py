"""`chronik replay`, `chronik diff` and `chronik snapshot` with a reducer from the user's code."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

import chronik
from chronik.cli.main import cli

REDUCERS = '''
import chronik

class Cart(chronik.Reducer):
    name = "cart"
    snapshot_every = 2

    def initial(self):
        return {"items": [], "n": 0}

    def on_item_added(self, state, event):
        return {**state, "items": [*state["items"], event.data["sku"]], "n": state["n"] + 1}

def count(state, event):
    return (state or 0) + 1

def make():
    return chronik.Reducer.from_function(count, initial=0, name="made")

not_a_reducer = 42
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A project directory holding a reducer module (uniquely named: imports are cached) and a
    ledger with cart:1 (three items); the tests run from it."""
    monkeypatch.delenv("CHRONIK_URL", raising=False)
    module = f"reducers_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(REDUCERS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    ledger_path = tmp_path / "ledger.db"
    with chronik.open_ledger(str(ledger_path)) as ledger:
        for sku in "ABC":
            ledger.append("cart:1", [chronik.NewEvent("item_added", {"sku": sku})])

    def run(*args: str):
        return CliRunner().invoke(cli, ["--ledger", str(ledger_path), *args], catch_exceptions=False)

    run.module = module  # type: ignore[attr-defined]
    return run


def test_replay_prints_the_state(project):
    result = project("replay", "cart:1", "--reducer", f"{project.module}:Cart")
    assert result.exit_code == 0, result.output
    assert '"items": [' in result.stdout and "version" in result.stdout
    result = project("replay", "cart:1", "--reducer", f"{project.module}:Cart", "--json")
    line = json.loads(result.stdout)
    assert line["state"] == {"items": ["A", "B", "C"], "n": 3}
    assert (line["version"], line["reducer"]) == (3, "cart@1")
    # replay only reads (issue 10, item 3): it saved no snapshot; it uses one `snapshot` saved.
    assert line["from_snapshot"] is None and line["snapshot_saved"] is None
    assert project("snapshot", "cart:1", "--reducer", f"{project.module}:Cart").exit_code == 0
    assert json.loads(project("replay", "cart:1", "--reducer", f"{project.module}:Cart", "--json")
                      .stdout)["from_snapshot"] == 3


@pytest.mark.parametrize(("option", "expected"), [
    (["--to-version", "1"], 1), (["--to-position", "2"], 2), (["--at", "2999-01-01"], 3),
    (["--at", "2000-01-01T00:00:00+02:00"], 0), (["--no-snapshots"], 3),
])
def test_replay_to_a_point(project, option, expected):
    result = project("replay", "cart:1", "--reducer", f"{project.module}:count", "--json", *option)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["state"] == (expected or None)


def test_a_factory_is_called(project):
    result = project("replay", "cart:1", "--reducer", f"{project.module}:make", "--json")
    assert json.loads(result.stdout)["reducer"] == "made@1"


@pytest.mark.parametrize(("spec", "message"), [
    ("no_such_module_xyz:Cart", "no module named"),
    ("{module}:Missing", "has no attribute"),
    ("{module}:not_a_reducer", "not a Reducer"),
    ("just-a-name", "is not MODULE:NAME"),
])
def test_a_bad_reducer_names_the_option(project, spec, message):
    result = project("replay", "cart:1", "--reducer", spec.format(module=project.module))
    assert result.exit_code == 2
    assert "--reducer" in result.stderr and message in result.stderr
    result = project("replay", "cart:1", "--reducer", spec.format(module=project.module), "--json")
    assert json.loads(result.stderr)["field"] == "--reducer"


def test_points_are_one_of_three_and_errors_name_the_option(project):
    result = project("replay", "cart:1", "--reducer", f"{project.module}:Cart", "--to-version", "1",
                     "--at", "2h")
    assert result.exit_code == 2 and "--at: cannot be combined with --to-version" in result.stderr
    result = project("replay", "cart:1", "--reducer", f"{project.module}:Cart", "--at", "soon")
    assert result.exit_code == 2 and "--at:" in result.stderr
    result = project("replay", "nocolon", "--reducer", f"{project.module}:Cart")
    assert result.exit_code == 2 and "STREAM:" in result.stderr


def test_diff_shows_changes_and_their_events(project):
    result = project("diff", "cart:1", "1", "--reducer", f"{project.module}:Cart")
    assert result.exit_code == 0, result.output
    assert "+ $.items[1] = \"B\"" in result.stdout and "v2 item_added @2" in result.stdout
    assert "~ $.n: 1 -> 3" in result.stdout
    data = json.loads(project("diff", "cart:1", "position:1", "version:2", "--reducer",
                              f"{project.module}:Cart", "--json").stdout)
    assert [c["path"] for c in data["changes"]] == ["$.items[1]", "$.n"]
    assert data["changes"][0]["events"][0]["version"] == 2
    bad = project("diff", "cart:1", "position:x", "--reducer", f"{project.module}:Cart")
    assert bad.exit_code == 2 and "A.position" in bad.stderr


def test_snapshot_takes_and_lists(project):
    result = project("snapshot", "cart:1", "--reducer", f"{project.module}:Cart", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["version"] == 3
    assert project("snapshot", "cart:1", "--reducer", f"{project.module}:Cart", "--to-version", "2").exit_code == 0
    listed = [json.loads(line) for line in
              project("snapshot", "cart:1", "--reducer", f"{project.module}:Cart", "--list", "--json")
              .stdout.splitlines()]
    assert [(s["status"], s["snapshot"]["version"]) for s in listed] == [("ok", 3), ("ok", 2)]
    people = project("snapshot", "cart:1", "--reducer", f"{project.module}:Cart", "--list")
    assert "ok" in people.stdout
    empty = project("snapshot", "cart:9", "--reducer", f"{project.module}:Cart")
    assert empty.exit_code == 1 and "no events" in empty.stderr

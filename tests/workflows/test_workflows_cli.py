"""`chronik workflow` through the real `chronik` group: every command, time travel by event and
by time, JSON output, and errors naming the option."""

from __future__ import annotations

import json

import pytest
from workflow_testing import run

import chronik

DEFINITION = """name = "release"
[[steps]]
id = "build"
[[steps]]
id = "review"
gate = true
[[steps]]
id = "deploy"
"""


def test_a_workflow_through_the_cli(tmp_path):
    ledger = str(tmp_path / "ledger.db")
    definition = tmp_path / "release.toml"
    definition.write_text(DEFINITION)
    started = run(ledger, "start", "wf-1", "-d", str(definition))
    assert started.exit_code == 0, started.output
    assert "wf-1: start_workflow recorded as event 1 (status initialized)" in started.stdout
    assert "not signed" in started.stderr
    for args in (("step", "wf-1", "build", "--result", '{"artifact": "x"}'),
                 ("approve", "wf-1", "review", "--approver", "ann", "--role", "lead"),
                 ("fail", "wf-1", "deploy", "--error", "timeout"), ("retry", "wf-1", "deploy"),
                 ("annotate", "wf-1", "slow network"), ("insight", "wf-1", "pin the mirror"),
                 ("pause", "wf-1"), ("resume", "wf-1"), ("snapshot", "wf-1"), ("step", "wf-1", "deploy")):
        result = run(ledger, *args)
        assert result.exit_code == 0, (args, result.output)
    shown = json.loads(run(ledger, "show", "wf-1", "--json").stdout)
    assert shown["status"] == "completed" and shown["retries"] == {"deploy": 1} and shown["version"] == 11
    at_three = run(ledger, "show", "wf-1", "--at-event", "3")
    assert at_three.stdout.splitlines()[:3] == ["workflow wf-1 (release) at event 3: running",
                                                "steps completed: build, review; current: deploy",
                                                "gate review: approved by ann (lead)"]
    timeline = [json.loads(line) for line in run(ledger, "history", "wf-1", "--json").stdout.splitlines()]
    assert [item["action"] for item in timeline][:4] == ["start_workflow", "complete_step", "approve_gate", "fail_step"]
    at_time = json.loads(run(ledger, "show", "wf-1", "--at", timeline[3]["occurred_at"], "--json").stdout)
    assert (at_time["version"], at_time["status"]) == (4, "failed")
    changed = run(ledger, "diff", "wf-1", "3", "4")
    assert '$.status: changed "running" -> "failed"  [#4 fail_step]' in changed.stdout
    listed = run(ledger, "list", "--status", "completed").stdout.splitlines()
    assert listed[1].split() == ["wf-1", "release", "completed", "11"]


def test_cli_errors_name_the_option_and_the_state(tmp_path):
    ledger = str(tmp_path / "ledger.db")
    run(ledger, "start", "adhoc", "--name", "ad hoc")
    run(ledger, "cancel", "adhoc", "--reason", "x", "--by", "ann")
    refused = run(ledger, "step", "adhoc", "one")
    assert refused.exit_code == 2
    assert refused.stderr.startswith("Error: action: complete_step refused: workflow 'adhoc' is cancelled")
    run(ledger, "start", "other", "--name", "o")
    twice = run(ledger, "step", "other", "a")
    assert twice.exit_code == 0
    again = run(ledger, "step", "other", "a")
    assert again.exit_code == 2 and "STEP_ID" in again.stderr and "already completed" in again.stderr
    bad_time = run(ledger, "show", "other", "--at", "yesterday-ish")
    assert bad_time.exit_code == 2 and "--at" in bad_time.stderr
    missing = run(ledger, "show", "ghost")
    assert missing.exit_code == 1 and "ghost" in missing.stderr


def test_cancel_cascade_through_the_cli(tmp_path):
    ledger = str(tmp_path / "ledger.db")
    run(ledger, "start", "p", "--name", "parent")
    run(ledger, "start", "c", "--parent", "p", "--name", "child")
    run(ledger, "start", "g", "--parent", "c", "--name", "grandchild")
    result = run(ledger, "cancel", "p", "--reason", "stop", "--by", "ann")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "3 workflow(s) cancelled"
    assert [line.split()[0] for line in result.stdout.splitlines()[1:4]] == ["g", "c", "p"]


def test_a_yaml_definition_means_what_the_toml_one_does(tmp_path):
    from chronik.domains.workflows.definitions import load_definition

    toml = tmp_path / "release.toml"
    toml.write_text(DEFINITION)
    yaml = tmp_path / "release.yaml"
    yaml.write_text("name: release\nsteps:\n  - id: build\n  - id: review\n    gate: true\n  - id: deploy\n")
    assert load_definition(str(yaml)) == load_definition(str(toml))
    broken = tmp_path / "broken.yml"
    broken.write_text("steps: [unclosed\n")
    with pytest.raises(chronik.ValidationError, match="broken.yml does not parse"):
        load_definition(str(broken))
    unsafe = tmp_path / "unsafe.yaml"  # safe_load: a definition builds no Python objects
    unsafe.write_text("name: !!python/object/apply:os.system ['true']\nsteps: []\n")
    with pytest.raises(chronik.ValidationError, match="does not parse"):
        load_definition(str(unsafe))

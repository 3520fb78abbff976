"""`chronik session` through the real `chronik` group (click's runner): one service call per
command, errors naming the command's options, and the pack's retention."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

import chronik
from chronik.cli.main import cli
from chronik.domains.sessions import retention, service
from chronik.stores import open_store


def run(url: str, *args: str, code: int = 0):
    result = CliRunner().invoke(cli, ["--ledger", url, "session", *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


@pytest.fixture
def url(tmp_path):
    return "sqlite:///" + str(tmp_path / "ledger.db").lstrip("/")


def test_a_session_from_the_command_line(url):
    registered = json.loads(run(url, "register", "odin", "--model", "opus", "--json").output)
    instance = registered["instance_id"]
    run(url, "emit", instance, "epic_started", "epic_id=epic-003", "feature_name=authentication-oauth",
        "estimated_hours=60")
    run(url, "emit", instance, "test_passed", "--data", '{"epic_id": "epic-003", "passed_count": 5, '
        '"failed_count": 3}')
    run(url, "emit", instance, "epic_completed", "epic_id=epic-003", "duration_hours=58.5")
    run(url, "emit", instance, "prd_updated", "epic_id=epic-003")
    assert run(url, "resume", instance).output.splitlines()[0] == \
        "Epic complete! 5/8 tests passed. PRD updated. Ready for next epic."
    found = json.loads(run(url, "query", instance, "-t", "epic_started", "-k", "OAUTH", "--json").output)
    assert found["total_count"] == 1 and found["events"][0]["sequence_num"] == 2
    replayed = json.loads(run(url, "replay", instance, "--to", "3").output)
    assert replayed["events_replayed"] == 3 and replayed["final_state"]["last_event_type"] == "test_passed"
    listing = run(url, "instances").output
    assert instance in listing and "odin" in listing and "active" in listing
    stats = json.loads(run(url, "stats", instance, "--json").output)
    assert stats["epics"]["completed"] == 1 and stats["durations"]["epic_completed.duration_hours"]["p50"] == 58.5
    beat = json.loads(run(url, "heartbeat", instance, "--json").output)
    assert beat["recorded"] and beat["event_type"] == "instance_heartbeat"
    assert json.loads(run(url, "heartbeat", instance, "--json").output)["recorded"] is False
    assert "instance_closed" in run(url, "close", instance).output
    types = run(url, "types").output
    assert "epic_started" in types and "command_logged (off)" in types


def test_errors_name_the_commands_options(url):
    instance = json.loads(run(url, "register", "odin", "--json").output)["instance_id"]
    missing = run(url, "emit", instance, "epic_started", "--data", '{"epic_id": "e"}', code=2)
    assert "--data.feature_name: is required for epic_started" in missing.output
    bad_date = run(url, "query", instance, "--start-date", "soon", code=2)
    assert "--start-date: 'soon' is not a date" in bad_date.output
    assert "INSTANCE_ID" in run(url, "emit", "no such", "error", "message=x", code=2).output
    with chronik.open_ledger(url) as ledger:
        assert ledger.head().position == 1


def test_a_catalog_file_from_the_command_line(url, tmp_path):
    catalog = tmp_path / "types.toml"
    catalog.write_text('[types.lint_run]\ncategory = "testing"\ndescription = "A linter ran."\n'
                       'required = { errors = "integer" }\n')
    instance = json.loads(run(url, "register", "odin", "--json").output)["instance_id"]
    run(url, "emit", instance, "lint_run", "errors=0", "--catalog", str(catalog))
    refused = run(url, "emit", instance, "lint_run", "errors=0", code=2)
    assert "not a known event type" in refused.output


def test_the_packs_retention_archives_old_events_but_what_resume_needs(tmp_path):
    url = "sqlite:///" + str(tmp_path / "old.db").lstrip("/")
    start = datetime.now(UTC) - timedelta(days=200)
    moments = iter(start + timedelta(days=day) for day in range(200))
    with chronik.Ledger(open_store(url), clock=lambda: next(moments)) as ledger:
        instance = service.register(ledger, "odin").instance_id  # day 0
        service.emit(ledger, instance, "epic_started", {"epic_id": "e1", "feature_name": "a"})  # day 1
        service.emit(ledger, instance, "epic_completed", {"epic_id": "e1"})  # day 2
        service.emit(ledger, instance, "checkpoint_created", {"checkpoint_id": "cp-1"})  # day 3
        for _day in range(4, 100):  # tool use, then heartbeats for the rest of the time
            service.emit(ledger, instance, "tool_use", {"tool_name": "x"})
        for day in range(100, 195):
            service.heartbeat(ledger, instance, now=start + timedelta(days=day))
        service.emit(ledger, instance, "epic_started", {"epic_id": "e2", "feature_name": "b"})  # day 195
        before = service.resume(ledger, instance)
        replay_before = service.replay(ledger, instance, 50).final_state
        total = ledger.head().position
    dry = json.loads(run(url, "retention", "--json").output)
    assert dry["dry_run"] and dry["archived"] == 0
    # Not the registration or the first epic events: the last epic_completed and checkpoint
    # (days 2, 3) must stay, and only a prefix of a stream is ever archived.
    assert dry["due"] == 2  # day 0 (registration) and day 1 (epic_started e1, not the last epic_started)
    report = json.loads(run(url, "retention", "--apply", "--json").output)
    assert report["archived"] == 2
    with chronik.open_ledger(url) as ledger:
        assert next(ledger.read_stream(f"instance:{instance}")).version == 3
        assert service.resume(ledger, instance) == before
        assert service.replay(ledger, instance, 50).final_state == replay_before
        assert service.replay(ledger, instance, 1).final_state["project"] == "odin"  # from the archive
        assert ledger.head().position == total
        assert ledger.verify().ok
        listing = service.instances(ledger)[0]
        assert listing["project"] == "odin" and listing["last_heartbeat"] is not None
    policy = retention.SessionRetention(max_age_s=0, heartbeat_max_age_s=0)
    with chronik.open_ledger(url) as ledger:
        due = retention.due_events(ledger, policy)["instance"]
        kept_types = {"epic_completed", "checkpoint_created"}
        assert not kept_types & {event.type for event in due}

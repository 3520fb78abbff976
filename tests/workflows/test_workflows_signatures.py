"""Signatures: the ledger's keyring signs workflow events; the original's events are imported
with their HMAC-SHA256 signatures checked over json.dumps(event_without_signature,
sort_keys=True, default=str): right ones verify, wrong ones are refused naming the event,
unsigned ones are reported. Naive legacy times are read as UTC and time travel uses them."""

from __future__ import annotations

import hashlib
import hmac
import json

from click.testing import CliRunner
from workflow_testing import RELEASE, SteppingClock

import chronik
from chronik.cli.main import cli
from chronik.domains.workflows import service
from chronik.integrity.keys import Keyring, new_key
from chronik.stores import open_store

KEY = b"code-chef-secret"


def signed(event: dict, key: bytes = KEY) -> dict:
    body = json.dumps(event, sort_keys=True, default=str)
    return {**event, "signature": hmac.new(key, body.encode(), hashlib.sha256).hexdigest()}


def original(workflow_id: str, n: int, action: str, timestamp: str, **top) -> dict:
    return {"event_id": f"{workflow_id}-e{n}", "workflow_id": workflow_id, "action": action, "timestamp": timestamp,
            "event_version": 2, **top}


def legacy_history() -> list[dict]:
    return [
        signed(original("wf-a", 1, "start_workflow", "2025-06-01T10:00:00",
                        data={"name": "etl", "steps": ["extract", "load"], "owner": "ops"})),
        signed(original("wf-a", 2, "complete_step", "2025-06-01T10:05:00", step_id="extract", data={"result": 5})),
        signed(original("wf-a", 3, "complete_step", "2025-06-01T10:09:30", step_id="load", data={})),
        original("wf-b", 1, "start_workflow", "2025-06-02T08:00:00", data={"name": "v1 workflow"}),
        original("wf-b", 2, "annotate", "2025-06-02T08:01:00", data={"text": "old unsigned event"}),
    ]


def test_workflow_events_are_signed_by_the_keyring():
    key = new_key("k1")
    with chronik.Ledger(open_store("memory:"), clock=SteppingClock(), keyring=Keyring([key], "k1")) as ledger:
        assert service.warn_unsigned(ledger) is None
        service.start(ledger, RELEASE, "wf-1")
        service.record(ledger, "wf-1", "complete_step", step_id="build")
        assert all(item["signed"] for item in service.history(ledger, "wf-1"))
        assert ledger.verify().ok


def test_original_events_with_right_signatures_verify_and_import(ledger):
    report = service.import_legacy(ledger, legacy_history(), key=KEY)
    assert report.refused == [] and report.imported == {"wf-a": 3, "wf-b": 2}
    assert report.verified == ["wf-a-e1", "wf-a-e2", "wf-a-e3"] and report.unsigned == ["wf-b-e1", "wf-b-e2"]
    state = service.state(ledger, "wf-a")
    assert state["status"] == "completed" and state["started_at"] == "2025-06-01T10:00:00+00:00"
    first = next(ledger.read_stream("workflow:wf-a"))
    assert first.meta["legacy"] == {"event_id": "wf-a-e1", "timestamp": "2025-06-01T10:00:00", "event_version": 2,
                                    "signature": "verified", "data": {"owner": "ops"}}
    # time travel by the legacy time, not by when the import ran
    assert service.state(ledger, "wf-a", at="2025-06-01T12:07:00+02:00")["steps_completed"] == ["extract"]
    assert service.state(ledger, "wf-a", at="2025-06-01T10:09:30Z")["status"] == "completed"
    again = service.import_legacy(ledger, legacy_history(), key=KEY)
    assert again.imported == {} and again.already_imported == 5


def test_a_wrong_signature_is_refused_naming_the_event_and_its_workflow_is_not_imported(ledger):
    events = legacy_history()
    events[1] = {**events[1], "data": {"result": 6}}  # changed after signing
    report = service.import_legacy(ledger, events, key=KEY)
    assert [(item.event_id, item.workflow_id) for item in report.refused] == [("wf-a-e2", "wf-a")]
    assert "signature does not match" in report.refused[0].reason
    assert report.imported == {"wf-b": 2} and report.workflows_refused == ["wf-a"]
    assert list(ledger.read_stream("workflow:wf-a")) == []
    wrong_key = service.import_legacy(ledger, legacy_history()[:3], key=b"another key")
    assert [item.event_id for item in wrong_key.refused] == ["wf-a-e1", "wf-a-e2", "wf-a-e3"]
    no_key = service.import_legacy(ledger, legacy_history()[:1])
    assert "no legacy key" in no_key.refused[0].reason


def test_an_illegal_legacy_history_is_refused_naming_the_event(ledger):
    events = legacy_history()[:3] + [signed(original("wf-a", 4, "resume_workflow", "2025-06-01T11:00:00", data={}))]
    report = service.import_legacy(ledger, events, key=KEY)
    assert report.refused[0].event_id == "wf-a-e4" and "not paused" in report.refused[0].reason


def test_import_command_reads_the_key_from_a_file_or_the_environment(tmp_path, monkeypatch):
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(json.dumps(event) for event in legacy_history()))
    key_file = tmp_path / "legacy.key"
    key_file.write_text(KEY.decode() + "\n")
    ledger = str(tmp_path / "ledger.db")
    done = CliRunner().invoke(cli, ["--ledger", ledger, "workflow", "import", str(source), "--legacy-key-file",
                                    str(key_file)])
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("imported 5 events of 2 workflows (0 already imported); signatures verified: 3")
    bad = tmp_path / "bad.json"
    events = legacy_history()
    events[0] = {**events[0], "signature": "00" * 32}
    bad.write_text(json.dumps(events))
    monkeypatch.setenv("CHRONIK_WORKFLOW_LEGACY_KEY", KEY.decode())
    refused = CliRunner().invoke(cli, ["--ledger", str(tmp_path / "other.db"), "workflow", "import", str(bad)])
    assert refused.exit_code == 3
    assert "refused: event wf-a-e1 of workflow wf-a: signature does not match" in refused.stderr

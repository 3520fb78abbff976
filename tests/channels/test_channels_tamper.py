"""Append-only: the log has no update or delete, and edits made through the store's files are
caught, by `chronik verify` (the hash chain) and by `verify-ids` (content ids), naming where."""

from __future__ import annotations

import sqlite3

import pytest
from channel_events import created_channel, event
from click.testing import CliRunner

from chronik.cli.main import cli
from chronik.domains.channels import service
from chronik.domains.channels.eventlog import EventLog
from chronik.errors import ChronikError, DuplicateIdError
from chronik.ledger import open_ledger
from chronik.model import NewEvent


def record(url: str) -> list:
    with open_ledger(url) as ledger:
        EventLog(ledger).append_many([created_channel()] + [event("deposit-detected", n) for n in range(1, 6)])
        return list(EventLog(ledger).read_from(0))


def test_an_edited_sqlite_payload_is_caught_naming_the_offset(tmp_path):
    url = f"sqlite:///{tmp_path / 'l.db'}"
    events = record(url)
    target = events[3]
    with sqlite3.connect(tmp_path / "l.db") as db:
        edited = {**target.payload, "now_held": "999999999"}
        import json

        db.execute("UPDATE events SET data = ? WHERE position = ?",
                   (json.dumps(edited, separators=(",", ":"), sort_keys=True), target.position))
    with open_ledger(url) as ledger:
        report = service.verify_ids(ledger)
        assert not report.ok and report.checked == 6
        assert [(p.offset, p.position) for p in report.problems] == [(3, target.position)]
        assert report.problems[0].computed_id != target.id
        chain = ledger.verify()
        assert not chain.ok and chain.first_bad_position == target.position
    result = CliRunner().invoke(cli, ["--ledger", url, "channel", "verify-ids"])
    assert result.exit_code == 3 and f"offset 3 (position {target.position}" in result.output


def test_an_edited_jsonl_line_fails_verify(tmp_path):
    path = tmp_path / "l.jsonl"
    url = f"jsonl:///{path}"
    events = record(url)
    text = path.read_text(encoding="utf-8")
    assert text.count('"now_held":"14"') == 1
    path.write_text(text.replace('"now_held":"14"', '"now_held":"41"'), encoding="utf-8")
    try:
        with open_ledger(url) as ledger:
            assert not ledger.verify().ok
            problems = service.verify_ids(ledger).problems
            assert [p.offset for p in problems] == [4] and events[4].position == problems[0].position
    except ChronikError as refused:  # a store may refuse to open an edited file at all: also caught
        assert "position" in str(refused) or "hash" in str(refused)


def test_a_different_payload_under_a_known_id_is_refused(ledger):
    log = EventLog(ledger)
    log.append(event("message-sent", 1))
    known = next(log.read_from(0))
    with pytest.raises(DuplicateIdError):
        ledger.append(known.stream, [NewEvent(known.event_name, {**known.payload, "payload_size_bytes": 1},
                                              id=known.id)])
    assert len(log) == 1 and service.verify_ids(ledger).ok


def test_an_event_moved_to_another_stream_is_caught(ledger):
    item = event("message-sent", 1)
    from chronik.domains.channels import contentid

    event_id = contentid.event_id(item["event_name"], item["payload"])
    ledger.append("peer:somebody-else", [NewEvent(item["event_name"], item["payload"], id=event_id)])
    report = service.verify_ids(ledger)
    assert not report.ok and "belongs to peer:bob-node" in report.problems[0].problem

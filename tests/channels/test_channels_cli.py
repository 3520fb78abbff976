"""`chronik channel ...` through the real `chronik` group, and the `chronik demo` part."""

from __future__ import annotations

import json
from pathlib import Path

from channel_events import CHANNEL, OBJECTIVE, created_channel, created_objective, event, golden_vectors
from click.testing import CliRunner

from chronik.cli.main import cli
from chronik.domains.channels import scenario


def run(url, *args, input=None):
    return CliRunner().invoke(cli, ["--ledger", url, "channel", *args], input=input)


def jsonl(events):
    return "\n".join(json.dumps(item) for item in events) + "\n"


def test_append_from_stdin_prints_ids_and_offsets(sqlite_url):
    result = run(sqlite_url, "append", "-", input=jsonl([created_channel(), event("state-signed", 1)]))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == ["0", "1"]
    assert lines[0].split()[2] == "channel-created" and lines[1].split()[1].startswith("0x")
    again = run(sqlite_url, "append", "--json", "-", input=jsonl([event("state-signed", 1), event("state-signed", 2)]))
    rows = [json.loads(line) for line in again.output.splitlines()]
    assert [(r["offset"], r["event_name"]) for r in rows] == [(1, "state-signed"), (2, "state-signed")]
    assert set(rows[0]) >= {"id", "offset", "event_name", "stream"}


def test_append_one_event_from_a_file_and_a_golden_vector(sqlite_url, tmp_path):

    path = tmp_path / "one.json"
    vector = next(v for v in golden_vectors() if v["event_name"] == "message-dropped")
    path.write_text(json.dumps(vector, indent=2), encoding="utf-8")
    result = run(sqlite_url, "append", str(path))
    assert result.exit_code == 0 and result.output.split()[:2] == ["0", vector["expected_id"]]


def test_bad_input_names_the_field_and_exits_2(sqlite_url):
    bad = event("state-signed", 1)
    bad["payload"]["signature"] = "0x12"
    result = run(sqlite_url, "append", "-", input=jsonl([bad]))
    assert result.exit_code == 2 and "events[0].payload.signature" in result.output
    refused = run(sqlite_url, "append", "-", input=jsonl([event("objective-approved")]))
    assert refused.exit_code == 2 and "does not exist" in refused.output
    assert run(sqlite_url, "append", "-", input="{not json\n").exit_code == 2


def test_show_objectives_reconstruct_and_read(sqlite_url):
    run(sqlite_url, "append", "-", input=jsonl([created_channel(), event("state-signed", 4), created_objective(),
                                                event("objective-approved", 1), event("state-signed", 5)]))
    shown = run(sqlite_url, "show", CHANNEL)
    assert shown.exit_code == 0 and "Open" in shown.output and "latest_signed_turn    0:5" in shown.output
    past = run(sqlite_url, "show", CHANNEL, "--at-offset", "1", "--json")
    assert json.loads(past.output)["state"]["latest_signed_turn"] == {"0": 4}
    assert run(sqlite_url, "show", "0x" + "1" * 64).exit_code == 1  # not found
    listed = run(sqlite_url, "objectives", "--status", "Approved")
    assert OBJECTIVE in listed.output and "DirectFund" in listed.output
    assert "no objectives" in run(sqlite_url, "objectives", "--status", "Completed").output
    both = run(sqlite_url, "reconstruct", OBJECTIVE, "--json")
    assert json.loads(both.output)["state"]["status"] == "Approved"
    read = run(sqlite_url, "read", "--from", "3", "--to", "5")
    assert [line.split()[0] for line in read.output.splitlines()] == ["3", "4"]


def test_verify_ids_and_schemas(sqlite_url):
    run(sqlite_url, "append", "-", input=jsonl([created_channel()]))
    checked = run(sqlite_url, "verify-ids")
    assert checked.exit_code == 0 and "1 ids checked: all match" in checked.output
    listed = run(sqlite_url, "schemas")
    assert listed.exit_code == 0 and len(listed.output.splitlines()) == 21
    one = json.loads(run(sqlite_url, "schemas", "deposit-detected").output)
    assert one["schema"]["title"] == "deposit-detected@v1" and one["category"] == "channel"


def test_the_demo_part_runs_a_direct_fund_objective(ledger, capsys):
    from chronik.cli import demo
    from chronik.domains.channels.cli import show_demo

    assert "show_channels(ledger)" in Path(demo.__file__).read_text(encoding="utf-8")  # `chronik demo` runs it
    show_demo(ledger)
    part = capsys.readouterr().out
    assert "objective-completed" in part and "objective " in part and ": Completed (5 events" in part
    assert f"channel {scenario.CHANNEL_ID[:18]}...: Open (9 events, 0 not applied)" in part
    assert all(len(line) <= 80 for line in part.splitlines())
    show_demo(ledger)  # again: the same content ids, nothing new
    assert ledger.head().position == len(scenario.direct_fund_events())


def test_reading_commands_work_on_a_read_only_ledger(tmp_path):
    from chronik.domains.channels.eventlog import EventLog
    from chronik.domains.channels.offsets import INDEX_KIND
    from chronik.ledger import open_ledger
    from chronik.stores.base import AuxChange

    url = f"sqlite:///{tmp_path / 'l.db'}"
    with open_ledger(url) as ledger:
        EventLog(ledger).append_many([event("message-sent", n) for n in range(1_500)])
        ledger.store.aux_write([AuxChange(INDEX_KIND, key, None) for key, _ in ledger.store.aux_range(INDEX_KIND)])
    result = run(url, "read", "--from", "1499")  # opened read-only: the index cannot be written
    assert result.exit_code == 0, result.output
    assert result.output.split()[0] == "1499"
    with open_ledger(url) as ledger:
        assert ledger.store.aux_range(INDEX_KIND) == []

"""Retention on every store: policies, archive + live as one chain, replay of archived history,
live-only verify across archived positions, reruns, and the CLI."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from retention_testing import URLS, archived_positions, everything, fill, live_positions, reopen

from chronik.cli.main import cli
from chronik.derive.reducer import Reducer
from chronik.errors import ValidationError
from chronik.ledger import open_ledger
from chronik.lifecycle import archive, retention
from chronik.model import NewEvent

LATER = datetime.now(UTC) + timedelta(days=1)


@pytest.mark.parametrize("kind", ["memory", "sqlite", "jsonl", "postgres"])
def test_retention_keeps_one_chain(kind, tmp_path, seed):
    rng = random.Random(seed)
    url = URLS[kind](tmp_path)
    ledger = open_ledger(url)
    fill(ledger, rng, 300)
    before = list(ledger.read_all())
    retention.set_policy(ledger, "order", max_count=2)
    retention.set_policy(ledger, "log", max_age_s=3600, keep_latest=False)
    dry = retention.apply_retention(ledger, dry_run=True, directory=str(tmp_path / "arch"), now=LATER)
    assert dry.archived == 0 and len(live_positions(ledger)) == 300
    report = retention.apply_retention(ledger, directory=str(tmp_path / "arch"), now=LATER)
    assert report.archived == report.removed == sum(dry.due.values()) > 0
    # exactly once across archive and live, and the same events
    archived, live = archived_positions(ledger), live_positions(ledger)
    assert sorted(archived + live) == list(range(1, 301))
    assert everything(ledger) == before
    # the head and every "keep" event stay; each order stream keeps its 2 newest
    assert 300 in live
    assert all(e.stream.startswith(("order", "keep")) or e.position == 300 for e in ledger.read_all())
    for info in ledger.streams("order"):
        assert len(list(ledger.read_stream(info.stream))) == 2
    # live-only verify bridges the archived positions; --include-archive checks everything
    live_report = archive.verify_chain(ledger, include_archive=False)
    assert live_report.ok, live_report.problems
    assert "archived" in live_report.notes[0]
    full = archive.verify_chain(ledger, include_archive=True)
    assert full.ok and full.checked == 300, full.problems
    # appends continue positions and stream versions, including fully archived streams
    old = {s.stream: s.version for s in ledger.streams()}
    result = ledger.append("log:1", [NewEvent(type="happened", data={})])
    assert result.first_position == 301 and result.version == old["log:1"] + 1
    assert archive.verify_chain(ledger, include_archive=True).ok
    assert archive.verify_chain(ledger, include_archive=False).ok
    # replay reaches the archived past
    counter = Reducer.from_function(lambda state, event: state + 1, initial=0, name="count")
    stream = next(s.stream for s in ledger.streams("order"))
    full_count = ledger.replay(stream, counter, include_archive=True, include_snapshots=False)
    assert full_count.state == old[stream]
    # the old head (position 300) may be due now; after that, a run changes nothing
    assert retention.apply_retention(ledger, now=LATER).archived <= 1
    again = retention.apply_retention(ledger, now=LATER)
    assert again.archived == 0 and again.recovered == []
    assert archive.verify_chain(ledger, include_archive=True).ok
    ledger.close()
    if kind != "memory":
        ledger = reopen(url)
        assert archive.verify_chain(ledger, include_archive=True).ok
        assert ledger.append("log:0", [NewEvent(type="x", data={})]).first_position == 302
        ledger.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite", "jsonl", "postgres"])
def test_remove_events_rules(kind, tmp_path):
    ledger = open_ledger(URLS[kind](tmp_path))
    for i in range(6):
        ledger.append(f"a:{i % 2}", [NewEvent(type="t", data={"i": i})])
    with pytest.raises(ValidationError, match="head"):
        ledger.store.remove_events([6])
    with pytest.raises(ValidationError, match="prefix"):
        ledger.store.remove_events([3])  # a:0 version 2 while version 1 stays
    assert live_positions(ledger) == [1, 2, 3, 4, 5, 6]
    assert ledger.store.remove_events([1, 3, 2]) == 3
    assert ledger.store.remove_events([1, 2]) == 0  # already gone: a rerun is harmless
    assert live_positions(ledger) == [4, 5, 6]
    assert [e.version for e in ledger.read_stream("a:0")] == [3]
    assert [e.version for e in ledger.read_stream("a:0", start=3)] == [3]
    assert ledger.store.count(archive.NO_FILTER) == 3
    assert ledger.head().position == 6
    ledger.close()


def test_tampered_live_event_is_located_across_archive(tmp_path, seed):
    rng = random.Random(seed)
    url = URLS["jsonl"](tmp_path)
    ledger = open_ledger(url)
    fill(ledger, rng, 100)
    retention.set_policy(ledger, "order", max_count=1)
    retention.apply_retention(ledger, now=LATER)
    live = live_positions(ledger)
    ledger.close()
    path = tmp_path / "ledger.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    target = len(lines) // 2
    lines[target] = lines[target].replace(b'"i":', b'"j":')
    path.write_bytes(b"".join(lines))
    ledger = reopen(url)
    for include in (False, True):
        report = archive.verify_chain(ledger, include_archive=include)
        assert not report.ok and report.first_bad_position == live[target]
    ledger.close()


def test_cli_retention_and_archive(tmp_path, seed):
    rng = random.Random(seed)
    url = URLS["sqlite"](tmp_path)
    ledger = open_ledger(url)
    fill(ledger, rng, 80)
    ledger.close()
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(cli, ["--ledger", url, *args], catch_exceptions=False)
        return result

    assert run("retention", "set", "order", "--max-count", "1").exit_code == 0
    assert run("retention", "set", "log", "--max-age", "0s", "--no-keep-latest").exit_code == 0
    shown = [json.loads(line) for line in run("retention", "show", "--json").output.splitlines()]
    assert {p["category"] for p in shown} == {"order", "log"}
    dry = json.loads(run("retention", "apply", "--dry-run", "--json").output)
    assert dry["dry_run"] and dry["archived"] == 0
    applied = json.loads(run("retention", "apply", "--json").output)
    assert applied["archived"] > 0
    segments = [json.loads(line) for line in run("archive", "list", "--json").output.splitlines()]
    assert sum(s["count"] for s in segments) == applied["archived"]
    assert run("archive", "verify").exit_code == 0
    verify = json.loads(run("verify", "--include-archive", "--json").output)
    assert verify["ok"] and verify["checked"] == 80
    assert run("verify").exit_code == 0
    out = tmp_path / "restored.jsonl"
    assert run("archive", "restore", segments[0]["name"], str(out)).exit_code == 0
    assert len(out.read_bytes().splitlines()) == segments[0]["count"]
    # a corrupted segment is found by archive verify and verify --include-archive (exit 3)
    directory = tmp_path / "ledger.db.archive"
    path = directory / (segments[0]["name"] + ".jsonl.gz")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert run("archive", "verify").exit_code == 3
    assert run("verify", "--include-archive").exit_code == 3

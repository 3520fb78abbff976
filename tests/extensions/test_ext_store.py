"""The chronik-store path: import keeps ids and timestamps, status matches Sindri's answers and
the full replay, export writes the Sindri file back byte for byte, log filters."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import chronik
from chronik.domains.extensions import reducer, service
from chronik.domains.extensions.compat.backend import SindriBackend
from chronik.domains.extensions.compat.transfer import import_sindri
from chronik.domains.extensions.events import stream_of
from chronik.domains.extensions.native import LedgerBackend

# A copy of ../shared/testdata/sindri (real Sindri data and its oracles), kept with the tests so
# they never depend on where the shared folder is.
DATA = Path(__file__).parents[1] / "data" / "sindri"


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    path = tmp_path_factory.mktemp("ext") / "ledger.db"
    ledger = chronik.open_ledger(f"sqlite:///{path}")
    backend = LedgerBackend(ledger)
    result = import_sindri(backend, DATA / "ledger-full.jsonl")
    assert result["imported"] == 1077 and result["bad_lines"] == []
    yield backend
    ledger.close()


def test_import_is_idempotent(imported):
    again = import_sindri(imported, DATA / "ledger-full.jsonl")
    assert (again["imported"], again["skipped_known"]) == (0, 1077)


def test_ids_and_timestamps_kept(imported):
    first = json.loads((DATA / "ledger-full.jsonl").read_text(encoding="utf-8").splitlines()[0])
    event = next(imported.ledger.read_stream(stream_of(first["extension_name"])))
    assert event.id == first["event_id"]
    assert event.meta["sindri_timestamp"] == first["timestamp"]


def test_status_matches_sindri_and_replay(imported):
    expected = json.loads((DATA / "oracle-latest-status.json").read_text())["statuses"]
    got = {s["name"]: s for s in imported.statuses()}
    assert sorted(got) == sorted(expected)
    for name, oracle in expected.items():
        status = got[name]
        assert (status["state"], status["version"], status["since"], status["event_id"]) == (
            oracle["current_state"], oracle["version"], oracle["last_event_time"], oracle["last_event_id"])
        replayed = imported.ledger.replay(stream_of(name), reducer.status_reducer(),
                                          include_snapshots=False).state
        assert replayed == status  # the fast path (meta.status of the last event) == the fold


def test_export_sindri_round_trips_byte_for_byte(imported):
    out = io.BytesIO()
    assert service.export(imported, out) == 1077
    assert out.getvalue() == (DATA / "ledger-full.jsonl").read_bytes()


def test_removed_hidden_unless_all(imported):
    names = [s["name"] for s in service.visible(imported.statuses(), show_all=False)]
    assert "ollama" not in names and "supabase-cli" not in names
    assert "ollama" in [s["name"] for s in service.visible(imported.statuses(), show_all=True)]
    assert names == sorted(names)


def test_log_since_applies_before_limit(imported):
    since = "2026-07-25T06:00:00.000000000"
    until = "2026-11-02T06:00:00.000000000"
    got = service.matching(imported, service.LogFilter(since=since, until=until), limit=15)
    oracle = json.loads((DATA / "oracle-query-range-tail.json").read_text())["events"]
    assert [r.id for r in got] == [e["event_id"] for e in oracle]  # Sindri's tail: last 15 in file order
    failures = service.matching(imported, service.LogFilter(level="error"), None)
    assert {r.type for r in failures} <= {"install_failed", "upgrade_failed", "remove_failed", "validation_failed"}
    kinds = service.matching(imported, service.LogFilter(types=service.kind_types(["upgrade"]), names=("python",)), 3)
    assert len(kinds) <= 3 and all(r.type.startswith("upgrade_") and r.name == "python" for r in kinds)


def test_sindri_backend_gives_the_same_statuses(imported):
    sindri_backend = SindriBackend(DATA / "ledger-full.jsonl")
    store = {s["name"]: (s["state"], s["version"], s["event_id"]) for s in imported.statuses()}
    assert {s["name"]: (s["state"], s["version"], s["event_id"]) for s in sindri_backend.statuses()} == store

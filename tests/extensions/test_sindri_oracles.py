"""Every oracle of testdata/sindri reproduced, on the full and the compacted ledger."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chronik.domains.extensions import timekeys
from chronik.domains.extensions.compat import file as sindri_file
from chronik.domains.extensions.compat import lines, queries

# A copy of ../shared/testdata/sindri (real Sindri data and its oracles), kept with the tests so
# they never depend on where the shared folder is.
DATA = Path(__file__).parents[1] / "data" / "sindri"
FULL, COMPACTED = DATA / "ledger-full.jsonl", DATA / "ledger-compacted.jsonl"


def oracle(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def entries_of(path: Path) -> list[lines.Entry]:
    contents = sindri_file.SindriFile(path).read()
    assert contents.bad == []
    return contents.entries


def compacted_ids() -> set[str]:
    return {entry.envelope.event_id for entry in entries_of(COMPACTED)}


@pytest.mark.parametrize("path", [FULL, COMPACTED], ids=["full", "compacted"])
def test_latest_status(path):
    got = {name: {field: getattr(status, field) for field in status.__struct_fields__}
           for name, status in queries.latest_status(entries_of(path)).items()}
    assert got == oracle("oracle-latest-status.json")["statuses"]  # compaction keeps every latest


def test_stats_full():
    expected = oracle("oracle-stats.json")
    got = queries.stats(sindri_file.SindriFile(FULL).read())
    for key in ("total_events", "file_size_bytes", "oldest_timestamp", "newest_timestamp", "event_type_counts"):
        assert got[key] == expected[key]


def test_stats_compacted():
    got = queries.stats(sindri_file.SindriFile(COMPACTED).read())
    assert (got["total_events"], got["file_size_bytes"]) == (1037, 331077)
    assert got["newest_timestamp"] == oracle("oracle-stats.json")["newest_timestamp"]


@pytest.mark.parametrize("name", ["python", "agentic-qe", "kubectl"])
@pytest.mark.parametrize("path", [FULL, COMPACTED], ids=["full", "compacted"])
def test_history(name, path):
    expected = oracle(f"oracle-history-{name}.json")
    entries = entries_of(path)
    got = [lines.envelope_dict(e) for e in queries.history(entries, name, expected["limit"])]
    if path == FULL:
        assert got == expected["events"]
    else:  # the same rule on what compaction kept: the last N lines of the kept ones
        kept = compacted_ids()
        everything = [lines.envelope_dict(e) for e in queries.history(entries_of(FULL), name)]
        assert got == [e for e in everything if e["event_id"] in kept][-expected["limit"]:]


@pytest.mark.parametrize("which", ["extension-docker", "failed-types", "range-tail"])
@pytest.mark.parametrize("path", [FULL, COMPACTED], ids=["full", "compacted"])
def test_query(which, path):
    expected = oracle(f"oracle-query-{which}.json")
    flt = expected["filter"]

    def run(source):
        return [lines.envelope_dict(e) for e in queries.query(
            entries_of(source), flt["extension_name"], flt["event_types"],
            flt["since"] and timekeys.bound_key(flt["since"], "since"),
            flt["until"] and timekeys.bound_key(flt["until"], "until"), flt["limit"], flt["reverse"])]

    if path == FULL:
        assert run(FULL) == expected["events"]
        assert len(expected["events"]) == expected["count"]
    else:
        kept = compacted_ids()
        unlimited = dict(flt, limit=None)
        all_full = [lines.envelope_dict(e) for e in queries.query(
            entries_of(FULL), unlimited["extension_name"], unlimited["event_types"],
            flt["since"] and timekeys.bound_key(flt["since"], "since"),
            flt["until"] and timekeys.bound_key(flt["until"], "until"))]
        matching = [e for e in all_full if e["event_id"] in kept]
        if flt["limit"] is not None:
            matching = matching[-flt["limit"]:] if flt["reverse"] else matching[:flt["limit"]]
        assert run(COMPACTED) == matching


def test_compact_with_pinned_now(tmp_path):
    expected = oracle("oracle-compact.json")
    for now in (expected["called_at_or_after"], "2026-11-11T09:00:00.123457Z", "2026-11-27T09:00:51.733761062Z"):
        copy = tmp_path / "ledger.jsonl"
        shutil.copyfile(FULL, copy)
        result = sindri_file.SindriFile(copy).compact(expected["retention_days"], now)
        assert (result["removed"], result["lines_before"], result["lines_after"]) == (40, 1077, 1037)
        assert copy.read_bytes() == COMPACTED.read_bytes()
        again = sindri_file.SindriFile(copy).compact(expected["retention_days"], now)
        assert again["removed"] == 0 and copy.read_bytes() == COMPACTED.read_bytes()


@pytest.mark.parametrize("path", [FULL, COMPACTED], ids=["full", "compacted"])
def test_every_line_reencodes_byte_for_byte(path):
    for entry in entries_of(path):
        assert lines.encode_line(entry.envelope) == entry.raw + b"\n"


def test_export_is_a_pretty_array_in_file_order():
    entries = entries_of(FULL)
    exported = json.loads(queries.export_text(entries))
    assert [e["event_id"] for e in exported] == [e.envelope.event_id for e in entries]
    assert exported[:1] == [json.loads(FULL.read_text(encoding="utf-8").splitlines()[0])]


def test_golang_nanoseconds_and_agentic_qe_tie():
    statuses = queries.latest_status(entries_of(FULL))
    assert statuses["golang"].current_state == "failed"
    assert (statuses["agentic-qe"].current_state, statuses["agentic-qe"].version) == ("installed", "1.4.0")

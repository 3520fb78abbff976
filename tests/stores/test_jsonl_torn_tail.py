"""Issue 10, item 1: a torn or cut JSON Lines tail is reported, never silently "repaired" away.

Regression: a ledger written by `copy` or `import` held all its events in one multi-line commit;
after `truncate -s -30`, opening it (even for `verify` or `head`) cut every event from the file
and verify said OK. Now, with real files cut at several offsets:

- reading (read_all, head, streams, stats, count) and check_storage change no byte and create no
  file; reads serve the events committed before the tear;
- check_storage reports a `torn_tail` with its byte range, its line count and, for a
  `more`-framed commit, how many events that commit held;
- bulk writers commit in chunks of IMPORT_COMMIT_EVENTS, so a tear costs at most one chunk;
- repair() moves exactly the cut bytes to a quarantine file beside the ledger, and nothing
  committed before the tear is lost.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

import chronik
from chronik import NewEvent
from chronik.errors import StorageError
from chronik.lifecycle import copy_ledger, export_events, import_events
from chronik.model import NO_FILTER
from chronik.stores import open_store
from chronik.stores.jsonl import IMPORT_COMMIT_EVENTS, JsonlStore
from stores.jsonl_files import jsonl_url

EVENTS = 2_500  # three commits when bulk-written: 1,000 + 1,000 + 500


def folder_state(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file in `folder`: a digest of its bytes and its mtime."""
    return {entry.name: (hashlib.sha256(entry.read_bytes()).hexdigest(), entry.stat().st_mtime_ns)
            for entry in sorted(folder.iterdir()) if entry.is_file()}


def source_ledger() -> chronik.Ledger:
    ledger = chronik.open_ledger("memory:")
    for start in range(0, EVENTS, 100):
        ledger.append_many({f"order:{start // 100 % 7}": (
            [NewEvent("placed", {"n": n, "note": "ü" * (n % 13)}) for n in range(start, start + 100)],
            chronik.Expect.ANY)})
    return ledger


def bulk_write(how: str, path: Path) -> None:
    source = source_ledger()
    if how == "store":
        store = JsonlStore(jsonl_url(path), str(path))
        store.import_events(list(source.read_all()))
        store.close()
        return
    with chronik.open_ledger(jsonl_url(path)) as destination:
        if how == "copy":
            copy_ledger(source, destination)
        else:
            exported = io.BytesIO()
            export_events(source, exported)
            exported.seek(0)
            import_events(destination, exported)


@pytest.fixture(scope="module", params=["copy", "import", "store"])
def bulk(request, tmp_path_factory) -> tuple[bytes, list[dict]]:
    path = tmp_path_factory.mktemp(request.param) / "ledger.jsonl"
    bulk_write(request.param, path)
    with chronik.open_ledger(jsonl_url(path)) as ledger:
        events = [event.to_dict() for event in ledger.read_all()]
    return path.read_bytes(), events


def commit_ends(raw: bytes) -> list[tuple[int, int]]:
    """(byte offset where a commit ends, events up to there), starting with (0, 0)."""
    ends, offset = [(0, 0)], 0
    for count, line in enumerate(raw.splitlines(keepends=True), start=1):
        offset += len(line)
        if "more" not in json.loads(line):
            ends.append((offset, count))
    return ends


def test_bulk_writers_commit_in_chunks_of_a_thousand(bulk):
    raw, events = bulk
    assert len(events) == EVENTS and IMPORT_COMMIT_EVENTS == 1_000
    assert [count for _, count in commit_ends(raw)] == [0, 1_000, 2_000, 2_500]


def read_everything(url: str, read_only: bool) -> dict:
    store = open_store(url, read_only=read_only)
    try:
        return {"events": [event.to_dict() for event in store.read_all(0, None, NO_FILTER)],
                "head": store.head().position, "streams": len(store.streams(None)),
                "stats": store.stats()["events"], "count": store.count(NO_FILTER),
                "findings": store.check_storage() + store.check_storage(thorough=True)}
    finally:
        store.close()


def cuts(raw: bytes) -> dict[str, int]:
    ends = commit_ends(raw)
    last_start, second_start = ends[-2][0], ends[-3][0]
    line_end_inside_last = last_start + raw[last_start:].index(b"\n") + 1
    return {"issue: truncate -s -30": len(raw) - 30, "one byte": len(raw) - 1, "two bytes": len(raw) - 2,
            "half the last chunk": (last_start + len(raw)) // 2, "first byte of the last chunk": last_start + 1,
            "at a line end inside the last chunk": line_end_inside_last,
            "inside the second chunk": (second_start + last_start) // 2}


@pytest.mark.parametrize("case", [
    "issue: truncate -s -30", "one byte", "two bytes", "half the last chunk", "first byte of the last chunk",
    "at a line end inside the last chunk", "inside the second chunk"])
def test_a_cut_bulk_ledger_is_reported_untouched_and_repaired_into_quarantine(bulk, case, tmp_path):
    raw, events = bulk
    cut = cuts(raw)[case]
    ends = commit_ends(raw)
    boundary, kept = max(end for end in ends if end[0] <= cut)
    torn_commit = next(count for end, count in ends if end > cut) - kept
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(raw[:cut])
    url = jsonl_url(path)
    before = folder_state(tmp_path)

    seen = read_everything(url, read_only=True)
    assert folder_state(tmp_path) == before, "reading or checking read-only changed or created a file"
    assert seen["events"] == events[:kept]
    assert seen["head"] == seen["stats"] == seen["count"] == kept
    [finding, thorough] = seen["findings"]
    assert finding == thorough and finding.code == "torn_tail"
    detail = finding.detail
    assert (detail["start"], detail["end"], detail["bytes"]) == (boundary, cut, cut - boundary), case
    assert detail["records"] == len(raw[boundary:cut].splitlines()), case
    # The size of the torn commit is known from its first line's `more`, when that line is whole.
    whole_first_line = b"\n" in raw[boundary:cut] or case == "one byte"
    assert detail.get("commit_events") == (torn_commit if whole_first_line else None), case
    assert detail.get("missing_newline", False) == (case == "one byte"), case
    assert f"bytes {boundary}..{cut}" in finding.message

    assert read_everything(url, read_only=False)["events"] == events[:kept]  # a writer's store, reading
    assert path.read_bytes() == raw[:cut], "opening for writing and reading changed the ledger"

    store = open_store(url)
    try:
        [repair] = store.repair()
        assert store.check_storage() == [] and store.repair() == []
        served = [event.to_dict() for event in store.read_all(0, None, NO_FILTER)]
    finally:
        store.close()
    if case == "one byte":  # the whole last commit is there but its newline: kept, nothing moved
        assert path.read_bytes() == raw and served == events
        assert "quarantine" not in repair.detail
        assert not list(tmp_path.glob("*.quarantine-*"))
        return
    quarantine = Path(repair.detail["quarantine"])
    assert quarantine.parent == tmp_path and quarantine.name.startswith("ledger.jsonl.quarantine-")
    assert str(quarantine) in repair.message
    assert quarantine.read_bytes() == raw[boundary:cut], "the quarantine must hold exactly the cut bytes"
    assert path.read_bytes() == raw[:boundary] and served == events[:kept]
    if cut > ends[-2][0]:  # a tear in the last chunk costs that chunk at most
        assert len(events) - kept <= IMPORT_COMMIT_EVENTS


SINGLE_APPENDS = 20


@pytest.fixture(scope="module")
def appended(tmp_path_factory) -> tuple[bytes, list[dict]]:
    path = tmp_path_factory.mktemp("appends") / "ledger.jsonl"
    with chronik.open_ledger(jsonl_url(path)) as ledger:
        for n in range(SINGLE_APPENDS):
            ledger.append(f"order:{n % 3}", [NewEvent("placed", {"n": n, "item": "apple" * 5})])
        events = [event.to_dict() for event in ledger.read_all()]
    return path.read_bytes(), events


@pytest.mark.parametrize("cut_bytes", [1, 2, 30, 60, "all but one byte of the last line"])
def test_a_cut_last_line_of_single_appends_is_reported(appended, cut_bytes, tmp_path):
    raw, events = appended
    last_line = raw[raw.rindex(b"\n", 0, len(raw) - 1) + 1:]
    cut = len(raw) - (len(last_line) - 1 if isinstance(cut_bytes, str) else cut_bytes)
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(raw[:cut])
    before = folder_state(tmp_path)
    seen = read_everything(jsonl_url(path), read_only=True)
    assert folder_state(tmp_path) == before
    assert seen["events"] == events[:-1] and seen["head"] == SINGLE_APPENDS - 1
    finding = seen["findings"][0]
    boundary = len(raw) - len(last_line)
    assert finding.code == "torn_tail" and finding.detail["records"] == 1
    assert (finding.detail["start"], finding.detail["end"]) == (boundary, cut)
    assert "commit_events" not in finding.detail or cut_bytes == 1
    store = open_store(jsonl_url(path))
    try:
        [repair] = store.repair()
        served = [event.to_dict() for event in store.read_all(0, None, NO_FILTER)]
    finally:
        store.close()
    if cut_bytes == 1:
        assert served == events and path.read_bytes() == raw
    else:
        assert served == events[:-1] and path.read_bytes() == raw[:boundary]
        assert Path(repair.detail["quarantine"]).read_bytes() == raw[boundary:cut]


def test_repair_of_a_read_only_store_is_refused_and_changes_nothing(appended, tmp_path):
    raw, _events = appended
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(raw[:-10])
    store = open_store(jsonl_url(path), read_only=True)
    try:
        with pytest.raises(StorageError, match="opened read-only"):
            store.repair()
    finally:
        store.close()
    assert path.read_bytes() == raw[:-10] and sorted(p.name for p in tmp_path.iterdir()) == ["ledger.jsonl"]


def test_a_line_changed_after_opening_is_found_by_the_thorough_check(appended, tmp_path):
    raw, _events = appended
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(raw)
    store = open_store(jsonl_url(path), read_only=True)
    try:
        assert store.check_storage(thorough=True) == []
        with open(path, "r+b") as file:  # same length, no longer a record: an edit in place
            file.seek(raw.index(b'"stream"', 500))
            file.write(b"#")
        assert store.check_storage() == []  # the quick check looks at the tail only
        [finding] = store.check_storage(thorough=True)
        assert finding.code == "unreadable" and "line" in finding.message
    finally:
        store.close()


def test_a_ledger_cut_while_open_is_reported_as_a_cut_tail(appended, tmp_path):
    raw, _events = appended
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(raw)
    store = open_store(jsonl_url(path), read_only=True)
    try:
        assert store.head().position == SINGLE_APPENDS
        path.write_bytes(raw[:100])  # events the store already served are gone
        [finding] = store.check_storage()
        assert finding.code == "cut_tail" and "shrank" in finding.message
        assert (finding.detail["start"], finding.detail["end"]) == (100, len(raw))
    finally:
        store.close()

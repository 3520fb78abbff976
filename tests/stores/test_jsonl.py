"""The JSON Lines store beyond the shared contract: its line format and batch framing, torn tails
(never touched by reads, reported by check_storage, quarantined by the next write), refusal of
corruption in the middle, several writers on one file, and compaction.

Randomised tests print their seed; rerun one with CHRONIK_TEST_SEED=<seed>.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import random
from pathlib import Path

import pytest

import chronik
from chronik import Expect, IntegrityError, NewEvent, StorageError
from chronik.stores.base import StorageFinding
from chronik.stores.jsonl import JsonlStore
from chronik.stores.jsonl import read as jsonl_read
from chronik.stores.jsonl import scan as jsonl_scan
from chronik.stores.jsonl import store as jsonl_store

# ---------------------------------------------------------------- helpers


def url_of(path: Path, **options: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in options.items())
    return "jsonl:///" + str(path).lstrip("/") + (f"?{query}" if query else "")


def seed_for(name: str) -> int:
    seed = int(os.environ.get("CHRONIK_TEST_SEED", random.randrange(2**32)))
    print(f"{name}: seed={seed} (rerun with CHRONIK_TEST_SEED={seed})")
    return seed


def write_sample(path: Path) -> list[dict]:
    """Eight events in four commits of 1, 3, 1 and 3 lines (multi-stream batches included)."""
    with chronik.open_ledger(url_of(path)) as ledger:
        ledger.append("order:1", [NewEvent("created", {"item": "Äpfel", "n": 1})])
        ledger.append_many({
            "order:1": ([NewEvent("paid", {"amount": 3.5}), NewEvent("packed")], 1),
            "stock:apple": ([NewEvent("reserved", {"n": 1}, meta={"by": "ada"})], Expect.ANY),
        })
        ledger.append("order:2", [NewEvent("created", {"item": "Pear", "note": "line\nbreak"})])
        ledger.append_many({
            "order:2": ([NewEvent("paid", {"amount": 2}), NewEvent("shipped", {"by": "DHL"})], 1),
            "stock:apple": ([NewEvent("released", {"n": 1})], 1),
        })
        return [event.to_dict() for event in ledger.read_all()]


def commit_ends(raw: bytes) -> list[tuple[int, int]]:
    """(byte offset where a commit ends, events up to there), starting with (0, 0)."""
    ends, offset = [(0, 0)], 0
    for events, line in enumerate(raw.splitlines(keepends=True), start=1):
        offset += len(line)
        if "more" not in json.loads(line):
            ends.append((offset, events))
    return ends


def quarantined(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".quarantine-*"))


def reopen_and_check(path: Path, expected: list[dict], raw_expected: bytes
                     ) -> tuple[JsonlStore, list[StorageFinding]]:
    """Reopen a damaged `path`: reads serve exactly `expected` and change no byte; check_storage
    reports what it finds (returned); the next append repairs the file to `raw_expected` plus
    its own line (and serves all of it), and verify passes."""
    damaged = path.read_bytes()
    ledger = chronik.open_ledger(url_of(path))
    try:
        assert [event.to_dict() for event in ledger.read_all()] == expected
        assert ledger.head().position == len(expected) and ledger.stats()["events"] == len(expected)
        findings = ledger.store.check_storage()
        assert path.read_bytes() == damaged, "reading or checking changed the file"
        kept = raw_expected.count(b"\n")  # what the repair keeps: more than served, when only a
        result = ledger.append("after:repair", [NewEvent("appended")])  # newline was missing
        assert result.first_position == kept + 1
        repaired = path.read_bytes()
        assert repaired.startswith(raw_expected) and repaired.count(b"\n") == kept + 1
        assert ledger.store.check_storage() == []
        report = ledger.verify()
        assert report.ok, report.problems
        assert report.checked == kept + 1
        return ledger.store, findings
    finally:
        ledger.close()


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, bytes, list[dict]]:
    path = tmp_path / "ledger.jsonl"
    events = write_sample(path)
    return path, path.read_bytes(), events


# ---------------------------------------------------------------- the line format


def test_lines_have_fixed_key_order_raw_canonical_data_and_framing(sample):
    path, raw, events = sample
    lines = raw.decode().splitlines()
    assert len(lines) == len(events) == 8
    keys = ["position", "stream", "version", "type", "id", "time", "data", "meta", "prev", "hash"]
    for line in lines:
        parsed = json.loads(line)
        assert list(parsed)[:10] == keys
        assert "sig" not in parsed  # unsigned events carry no sig key
        # data/meta are the canonical bytes, as spliced into the hash input
        data = json.dumps(parsed["data"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert f'"data":{data},' in line
    # commits of 1, 3, 1, 3 lines: "more" counts down the lines still to follow in the commit
    framing = [json.loads(line).get("more") for line in lines]
    assert framing == [None, 2, 1, None, None, 2, 1, None]


def test_new_file_and_stats(tmp_path):
    path = tmp_path / "deep" / "dir" / "ledger.jsonl"
    with chronik.open_ledger(url_of(path, durability="relaxed")) as ledger:
        assert path.exists() and Path(str(path) + ".lock").exists()
        assert ledger.stats()["events"] == 0 and ledger.head().position == 0
        ledger.append("a:1", [NewEvent("x"), NewEvent("y")])
        stats = ledger.stats()
        assert stats["size_bytes"] == path.stat().st_size
        assert stats["events"] == 2 and stats["streams"] == 1 and stats["types"] == {"x": 1, "y": 1}
        assert ledger.store.repairs == []


def test_bad_durability_and_closed_store(tmp_path):
    with pytest.raises(StorageError, match="durability"):
        chronik.open_ledger(url_of(tmp_path / "l.jsonl", durability="sometimes"))
    ledger = chronik.open_ledger(url_of(tmp_path / "l.jsonl"))
    ledger.append("a:1", [NewEvent("x")])
    ledger.close()
    for call in (ledger.head, ledger.stats, lambda: list(ledger.read_all()),
                 lambda: ledger.append("a:1", [NewEvent("x")])):
        with pytest.raises(StorageError, match="closed"):
            call()


def test_unopenable_path_is_a_storage_error(tmp_path):
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(StorageError, match="dir.jsonl"):
        chronik.open_ledger(url_of(tmp_path / "dir.jsonl"))


def test_scanning_and_reading_across_chunk_boundaries(sample, monkeypatch):
    path, _raw, events = sample
    monkeypatch.setattr(jsonl_scan, "SCAN_CHUNK_BYTES", 37)
    monkeypatch.setattr(jsonl_read, "READ_CHUNK_BYTES", 1)
    with chronik.open_ledger(url_of(path)) as ledger:
        assert [event.to_dict() for event in ledger.read_all()] == events
        backwards = [event.to_dict() for event in ledger.read_stream("order:2", backwards=True)]
        assert backwards == [e for e in reversed(events) if e["stream"] == "order:2"]
        assert ledger.verify().ok


# ---------------------------------------------------------------- torn tails


def test_truncation_at_every_byte_of_the_last_commits(sample):
    path, raw, events = sample
    ends = commit_ends(raw)
    # The last two commits: a single event, then a three-line multi-stream batch.
    sweep_from = ends[-3][0]
    for cut in range(sweep_from, len(raw) + 1):
        # A commit is kept when everything but (at most) its final newline survived.
        kept_end, kept_events = max(end for end in ends if end[0] - 1 <= cut)
        served = kept_events if cut >= kept_end else max(e for e in ends if e[0] <= cut)[1]
        for old in quarantined(path):
            old.unlink()
        path.write_bytes(raw[:cut])
        store, findings = reopen_and_check(path, events[:served], raw[:kept_end])
        if cut == kept_end:
            assert store.repairs == findings == [], cut
        elif cut == kept_end - 1:  # only the newline is missing: reads wait, the repair keeps it
            assert [f.detail["missing_newline"] for f in findings] == [True], cut
            assert len(store.repairs) == 1 and "newline" in store.repairs[0].message, cut
            assert quarantined(path) == [], cut
        else:
            [finding] = findings
            assert finding.code == "torn_tail" and finding.detail["start"] == kept_end, cut
            assert finding.detail["end"] == cut and finding.detail["bytes"] == cut - kept_end, cut
            [repair] = store.repairs
            [quarantine] = quarantined(path)
            assert repair.detail["quarantine"] == str(quarantine) and str(quarantine) in repair.message
            assert quarantine.read_bytes() == raw[kept_end:cut], cut  # the exact bytes cut


def test_complete_last_record_without_newline_is_kept(sample, caplog):
    path, raw, events = sample
    path.write_bytes(raw[:-1])
    with caplog.at_level(logging.WARNING, logger="chronik"):
        store, findings = reopen_and_check(path, events[:5], raw)
    assert findings[0].detail["commit_events"] == 3 and findings[0].detail["missing_newline"]
    assert [repair.message for repair in store.repairs] == [
        f"{path}: added the missing newline at the end of line 8, keeping the last commit (3 event(s))"]
    assert "missing newline" in caplog.text


@pytest.mark.parametrize("tail", [b"\0", b"\0" * 4096, b"\n", b"\n\n\0\0", b"{", b'{"position":9',
                                  b"garbage\n", b"\xff\xfe\n\x00"])
def test_junk_tails_are_quarantined_by_the_next_write(sample, tail, caplog):
    path, raw, events = sample
    path.write_bytes(raw + tail)
    with caplog.at_level(logging.WARNING, logger="chronik"):
        store, findings = reopen_and_check(path, events, raw)
    assert [(f.code, f.detail["start"], f.detail["bytes"]) for f in findings] == [("torn_tail", len(raw), len(tail))]
    [quarantine] = quarantined(path)
    assert [repair.message for repair in store.repairs] == [
        f"{path}: moved bytes {len(raw)}..{len(raw) + len(tail)} ({len(tail)} bytes, "
        f"{findings[0].detail['records']} line(s), not a complete commit) after line 8 (position 8) "
        f"to {quarantine}"]
    assert quarantine.read_bytes() == tail
    assert "moved bytes" in caplog.text


def test_random_garbage_and_zero_tails(sample):
    path, raw, events = sample
    rng = random.Random(seed_for("garbage tails"))
    ends = commit_ends(raw)
    for _ in range(60):
        # Cut inside the last commit or not at all, then add zeros or random bytes.
        cut = rng.choice([len(raw), rng.randrange(ends[-2][0] + 1, len(raw) - 1)])
        kept_end, kept_events = max(end for end in ends if end[0] <= cut)
        size = rng.choice([1, 2, 17, 512, 5000])
        # No "}" in the junk: it could complete a cut record, which is then rightly kept.
        junk = bytes(size) if rng.random() < 0.3 else rng.randbytes(size).replace(b"}", b"~")
        for old in quarantined(path):
            old.unlink()
        path.write_bytes(raw[:cut] + junk)
        store, findings = reopen_and_check(path, events[:kept_events], raw[:kept_end])
        assert len(findings) == 1 and findings[0].detail["start"] == kept_end
        assert len(store.repairs) == 1 and "moved bytes" in store.repairs[0].message
        assert quarantined(path)[0].read_bytes() == raw[kept_end:cut] + junk


def test_live_writer_repairs_a_torn_tail_left_by_a_dead_writer(sample):
    path, raw, events = sample
    ends = commit_ends(raw)
    path.write_bytes(raw[:ends[-2][0]])
    with chronik.open_ledger(url_of(path)) as ledger:
        # Another writer died half way through the last batch.
        with open(path, "ab") as file:
            file.write(raw[ends[-2][0]:len(raw) - 30])
        assert ledger.head().position == 5  # a reader ignores the torn commit
        ledger.append("order:3", [NewEvent("created")])
        assert len(ledger.store.repairs) == 1 and "after line 5" in ledger.store.repairs[0].message
        assert [event.position for event in ledger.read_all()] == list(range(1, 7))
        assert ledger.verify().ok


# ---------------------------------------------------------------- corruption in the middle


def corrupt_cases(raw: bytes) -> dict[str, tuple[bytes, int]]:
    lines = raw.splitlines(keepends=True)
    broken_json = lines[2].replace(b'"stream":', b'"stream"', 1)
    return {
        "garbage line": (b"".join(lines[:3] + [b"not json at all\n"] + lines[3:]), 4),
        "unparseable edit": (b"".join(lines[:2] + [broken_json] + lines[3:]), 3),
        "zeroed line": (b"".join(lines[:4] + [bytes(len(lines[4]) - 1) + b"\n"] + lines[5:]), 5),
        "empty line": (b"".join(lines[:1] + [b"\n"] + lines[1:]), 2),
        "duplicated line": (b"".join(lines[:4] + [lines[3]] + lines[4:]), 5),
        "removed line": (b"".join(lines[:5] + lines[6:]), 6),
        "broken framing": (b"".join(lines[:1] + [lines[1].replace(b'"more":2', b'"more":5')] + lines[2:]), 3),
        "duplicated last line": (raw + lines[-1], 9),
    }


@pytest.mark.parametrize("case", list(corrupt_cases(b"x\n" * 8)))
def test_corruption_in_the_middle_refuses_to_open_and_changes_nothing(sample, case):
    path, raw, _events = sample
    corrupted, line = corrupt_cases(raw)[case]
    path.write_bytes(corrupted)
    with pytest.raises(IntegrityError) as caught:
        chronik.open_ledger(url_of(path))
    message = str(caught.value)
    assert str(path) in message and f"line {line}:" in message, message
    assert path.read_bytes() == corrupted


def test_reader_refuses_corruption_appended_by_another_process(sample):
    path, raw, _events = sample
    with chronik.open_ledger(url_of(path)) as ledger:
        with open(path, "ab") as file:
            file.write(b"garbage\n" + raw.splitlines(keepends=True)[0])
        with pytest.raises(IntegrityError, match="line 9"):
            ledger.head()


# ---------------------------------------------------------------- several writers


def test_two_stores_on_one_file_see_each_other(tmp_path):
    path = tmp_path / "ledger.jsonl"
    first, second = chronik.open_ledger(url_of(path)), chronik.open_ledger(url_of(path))
    try:
        for version in range(1, 21):
            writer = first if version % 2 else second
            writer.append("shared:1", [NewEvent("step", {"v": version}, id=f"step-{version}")],
                          expect=version - 1)
        # idempotent retry through the other instance returns the original result
        again = second.append("shared:1", [NewEvent("step", {"v": 1}, id="step-1")])
        assert again.first_position == 1
        for ledger in (first, second):
            assert [e.position for e in ledger.read_all()] == list(range(1, 21))
            assert [e.version for e in ledger.read_stream("shared:1")] == list(range(1, 21))
            assert ledger.head() == first.head() and ledger.verify().ok
        with pytest.raises(chronik.ConcurrencyError):
            first.append("shared:1", [NewEvent("late")], expect=19)
    finally:
        first.close()
        second.close()


def test_reader_sees_only_whole_commits_of_a_writer_in_progress(sample, tmp_path):
    path, raw, _events = sample
    ends = commit_ends(raw)
    partial = tmp_path / "partial.jsonl"
    partial.write_bytes(raw[:ends[-2][0]])
    with chronik.open_ledger(url_of(partial)) as reader:
        assert reader.head().position == 5
        last_commit = raw[ends[-2][0]:]
        for cut in range(1, len(last_commit)):
            with open(partial, "r+b") as file:
                file.truncate(ends[-2][0])
                file.seek(0, os.SEEK_END)
                file.write(last_commit[:cut])
            assert reader.head().position == 5, cut
        with open(partial, "ab") as file:
            file.write(last_commit[-1:])
        assert reader.head().position == 8
        assert reader.verify().ok


def _ping_pong_child(path: str, parity: int, total: int, results) -> None:
    """Append the versions of one parity to a shared stream, each expecting the exact
    version before it, so each append must see the other process's last one."""
    import time

    with chronik.open_ledger(url_of(Path(path))) as ledger:
        version = parity
        while version <= total:
            if ledger.head().position == version - 1:
                result = ledger.append("shared:1", [NewEvent("step", {"by": parity})], expect=version - 1)
                results.put((parity, result.first_position))
                version += 2
            else:
                time.sleep(0.001)


def _racing_child(path: str, worker: int, appends: int, results) -> None:
    with chronik.open_ledger(url_of(Path(path))) as ledger:
        for index in range(appends):
            stream = f"worker:{worker}" if index % 3 else "shared:race"
            result = ledger.append(stream, [NewEvent("tick", {"w": worker, "i": index})])
            results.put((worker, result.first_position))


def _run_children(target, args_list, expected_results: int) -> list:
    """Run one process per args (each opens its own ledger); collect what they report."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    children = [context.Process(target=target, args=(*args, results)) for args in args_list]
    for child in children:
        child.start()
    try:
        collected = [results.get(timeout=60) for _ in range(expected_results)]
    finally:
        for child in children:
            child.join(timeout=60)
    assert [child.exitcode for child in children] == [0] * len(children)
    return collected


def test_two_processes_append_alternately(tmp_path):
    path = tmp_path / "ledger.jsonl"
    chronik.open_ledger(url_of(path)).close()
    results = _run_children(_ping_pong_child, [(str(path), 1, 30), (str(path), 2, 30)], 30)
    assert sorted(position for _, position in results) == list(range(1, 31))
    with chronik.open_ledger(url_of(path)) as ledger:
        events = list(ledger.read_all())
        assert [e.position for e in events] == list(range(1, 31))
        assert [e.data["by"] for e in events] == [1, 2] * 15
        assert ledger.verify().ok


def test_racing_processes_lose_and_duplicate_nothing(tmp_path):
    path = tmp_path / "ledger.jsonl"
    workers, appends = 4, 40
    results = _run_children(_racing_child, [(str(path), w, appends) for w in range(workers)],
                            workers * appends)
    positions = sorted(position for _, position in results)
    assert positions == list(range(1, workers * appends + 1))
    with chronik.open_ledger(url_of(path)) as ledger:
        events = list(ledger.read_all())
        assert [e.position for e in events] == positions
        assert len({e.id for e in events}) == len(events)
        report = ledger.verify()
        assert report.ok and report.checked == workers * appends, report.problems


# ---------------------------------------------------------------- compaction


def replace_file(path: Path, content: bytes) -> None:
    """What a compaction does: write a new file beside the old one and rename it into place."""
    fresh = path.with_suffix(".compacting")
    fresh.write_bytes(content)
    os.replace(fresh, path)


def test_replaced_file_is_noticed_by_a_writer(sample):
    path, raw, events = sample
    with chronik.open_ledger(url_of(path)) as ledger:
        assert ledger.head().position == 8
        inode = path.stat().st_ino
        replace_file(path, raw)
        assert path.stat().st_ino != inode
        result = ledger.append("order:3", [NewEvent("created")])
        assert result.first_position == 9
        assert path.read_bytes().startswith(raw) and len(path.read_bytes().splitlines()) == 9
        assert [e.to_dict() for e in ledger.read_all()][:8] == events
        assert ledger.verify().ok


def test_replaced_file_is_noticed_by_a_reader(sample, monkeypatch):
    path, raw, events = sample
    monkeypatch.setattr(jsonl_store, "READ_PAGE_ROWS", 2)
    with chronik.open_ledger(url_of(path)) as reader, chronik.open_ledger(url_of(path)) as writer:
        iterator = reader.read_all()  # a read started before the swap finishes on the old file
        first = next(iterator)
        replace_file(path, raw)
        writer.append("order:4", [NewEvent("created")])
        assert [first.to_dict()] + [e.to_dict() for e in iterator] == events
        assert reader.head() == writer.head() and reader.head().position == 9
        assert [e.position for e in reader.read_all()] == list(range(1, 10))
        assert reader.verify().ok


def test_file_shrunk_in_place_is_an_integrity_error(sample):
    path, raw, _events = sample
    with chronik.open_ledger(url_of(path)) as ledger:
        assert ledger.head().position == 8
        os.truncate(path, commit_ends(raw)[-2][0])
        with pytest.raises(IntegrityError, match="shrank"):
            ledger.head()


def test_threads_share_one_store(tmp_path):
    import threading

    ledger = chronik.open_ledger(url_of(tmp_path / "ledger.jsonl", durability="relaxed"))
    seen_heads: list[int] = []
    done = threading.Event()

    def write(worker: int) -> None:
        for index in range(25):
            ledger.append(f"thread:{worker}", [NewEvent("tick", {"i": index}), NewEvent("tock")])

    def read() -> None:
        while not done.is_set():
            positions = [event.position for event in ledger.read_all()]
            if positions != list(range(1, len(positions) + 1)):
                seen_heads.append(-1)  # a gap or a repeat: fails the ordering check below
            seen_heads.append(len(positions))

    writers = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    reader = threading.Thread(target=read)
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join()
    try:
        assert seen_heads and seen_heads == sorted(seen_heads) and seen_heads[0] >= 0
        assert [e.version for e in ledger.read_stream("thread:3")] == list(range(1, 51))
        report = ledger.verify()
        assert report.ok and report.checked == 200
    finally:
        ledger.close()


def test_a_changed_last_record_is_refused_not_repaired_away(tmp_path):
    # Found by the tamper test: a byte flipped in the last (acknowledged, newline-terminated)
    # record made it unparseable, and opening the store cut it off as a torn tail.
    import chronik
    from chronik import NewEvent
    from chronik.errors import IntegrityError

    path = tmp_path / "ledger.jsonl"
    url = "jsonl:///" + str(path).lstrip("/")
    with chronik.open_ledger(url) as ledger:
        for n in range(3):
            ledger.append("order:1", [NewEvent("created", {"n": n})])
    lines = path.read_bytes().splitlines(keepends=True)
    lines[-1] = lines[-1].replace(b'"stream":', b'"stream";', 1)
    path.write_bytes(b"".join(lines))
    before = path.read_bytes()
    with pytest.raises(IntegrityError, match="line 3"):
        chronik.open_ledger(url)
    assert path.read_bytes() == before

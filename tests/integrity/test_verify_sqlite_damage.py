"""SQLite damage the truncation/corruption matrix (test_corruption_matrix.py) found verify missing
or crashing on, one regression test each, through the CLI on real damaged files:

- garbage in the middle of a -wal, or in its header: SQLite stops reading the WAL there without a
  word, so the ledger silently lost every later commit and `verify` said OK (exit 0). It now
  reports the commits SQLite leaves out (chronik.stores.sqlite_wal) as a failed storage check;
- a damaged page of the `aux` table (archive manifests): `verify --json` raised IntegrityError,
  printed no report and left stdout empty. It now reports it as a failed storage check;
- and no false alarm: a -wal that a live writer is appending to is never reported.
- a commit torn by a crash (the writer killed between the commit frame's header and its page,
  seen in CI's kill -9 test): reported as a lost commit (`wal_unread`, "committed transactions
  lost"). It was never acknowledged: it is now a torn tail, as in a JSON Lines ledger, and
  `chronik repair` moves it to a quarantine file; lost commits are refused by repair before
  anything opens the ledger for writing (a write connection deleted the -wal on close).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from chronik.ledger import open_ledger
from chronik.model import NewEvent
from chronik.stores.sqlite_wal import FRAME_HEADER_BYTES, WAL_HEADER_BYTES, scan_wal, wal_findings

CHRONIK = str(Path(sys.executable).with_name("chronik"))
PAGE = 4096


def _url(path: Path) -> str:
    return "sqlite:///" + str(path).lstrip("/")


def _append(url: str, commits: range) -> None:
    ledger = open_ledger(url, keyring=None)
    try:
        for k in commits:
            ledger.append(f"order:{k % 3}", [NewEvent(type="placed", id=str(uuid.uuid4()), data={"k": k})
                                             for _ in range(1 + k % 3)])
    finally:
        ledger.close()


def _ledger_with_wal(tmp_path: Path) -> Path:
    """ledger.db with 10 commits checkpointed and 20 more only in its -wal, copied while a
    connection kept the ledger open (what a writer killed at that moment leaves)."""
    work, folder = tmp_path / "writer", tmp_path / "ledger"
    work.mkdir()
    folder.mkdir()
    _append(_url(work / "ledger.db"), range(10))
    holder = open_ledger(_url(work / "ledger.db"), keyring=None)
    try:
        holder.head()
        _append(_url(work / "ledger.db"), range(10, 30))
        for name in ("ledger.db", "ledger.db-wal"):
            shutil.copyfile(work / name, folder / name)
    finally:
        holder.close()
    return folder / "ledger.db"


def _events(path: Path) -> int:
    ledger = open_ledger(_url(path), read_only=True, keyring=None)
    try:
        return len(list(ledger.read_all()))
    finally:
        ledger.close()


def _chronik(path: Path, *args: str) -> subprocess.CompletedProcess:
    """`chronik --ledger PATH ARGS...` as a process, with no keyring or ledger from the environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("CHRONIK_KEYS", "CHRONIK_KEYS_FILE", "CHRONIK_URL")}
    return subprocess.run([CHRONIK, "--ledger", str(path), *args], capture_output=True, text=True, env=env,
                          timeout=60)


def _verify(path: Path) -> tuple[int, dict, str]:
    result = _chronik(path, "verify", "--json")
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout), result.stderr


def _overwrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as file:
        file.seek(offset)
        file.write(data)


def test_a_sound_wal_is_read_to_its_last_commit(tmp_path):
    path = _ledger_with_wal(tmp_path)
    with open(str(path) + "-wal", "rb") as file:
        scan = scan_wal(file, PAGE)
    assert scan.header_ok and scan.frames > 20 and scan.read_frames == scan.frames
    assert scan.unread_commits == 0 and wal_findings(str(path)) == []
    assert _events(path) == 60
    assert _verify(path)[0] == 0


def test_garbage_in_the_middle_of_the_wal_is_a_failed_storage_check(tmp_path):
    path = _ledger_with_wal(tmp_path)
    wal = Path(str(path) + "-wal")
    frames = (wal.stat().st_size - WAL_HEADER_BYTES) // (FRAME_HEADER_BYTES + PAGE)
    middle = WAL_HEADER_BYTES + frames // 2 * (FRAME_HEADER_BYTES + PAGE) + FRAME_HEADER_BYTES + 100
    _overwrite(wal, middle, os.urandom(64))  # inside a page: only the frame checksum can tell
    before = wal.read_bytes()
    # What makes this damage dangerous: SQLite reads the ledger as it was many commits ago.
    assert 19 < _events(path) < 60
    code, report, _ = _verify(path)
    assert code == 3 and not report["ok"]
    assert report["checks"][0] == {"name": "storage", "status": "failed", "detail": "1 problem(s) listed"}
    [problem] = [p for p in report["problems"] if p["kind"] == "storage_wal_unread"]
    assert str(wal) in problem["detail"] and "will never be read" in problem["detail"]
    assert wal.read_bytes() == before


def _tear_last_commit(wal: Path) -> bytes:
    """What a writer killed after writing its commit frame's header, before its page, leaves:
    the last frame's page is not the one its checksum covers. The torn frame's bytes."""
    data = wal.read_bytes()
    last = len(data) - (FRAME_HEADER_BYTES + PAGE)
    assert struct.unpack(">I", data[last + 4:last + 8])[0] != 0, "the last frame must be a commit frame"
    _overwrite(wal, last + FRAME_HEADER_BYTES, bytes(PAGE))
    return wal.read_bytes()[last:]


def test_a_commit_torn_by_a_crash_is_a_torn_tail_and_repair_quarantines_it(tmp_path):
    path = _ledger_with_wal(tmp_path)
    wal = Path(str(path) + "-wal")
    torn_frame = _tear_last_commit(wal)
    assert _events(path) == 60 - 3  # the last commit (k=29: three events) is not read
    code, report, _ = _verify(path)
    assert code == 3 and not report["ok"]
    [problem] = [p for p in report["problems"] if p["kind"].startswith("storage_")]
    assert problem["kind"] == "storage_torn_tail", problem
    assert "torn by a crash" in problem["detail"] and "chronik repair" in problem["detail"]
    with open(wal, "rb") as file:
        scan = scan_wal(file, PAGE)
    assert scan.torn_commit and scan.unread_commits == 1

    repaired = _chronik(path, "repair")
    assert repaired.returncode == 0, repaired.stderr
    [quarantine] = list(path.parent.glob("ledger.db-wal.quarantine-*"))
    assert quarantine.read_bytes().endswith(torn_frame) and str(quarantine) in repaired.stdout + repaired.stderr
    assert wal_findings(str(path)) == []
    assert _events(path) == 57
    assert _verify(path)[0] == 0
    _append(_url(path), range(30, 31))
    assert _events(path) == 58 and _verify(path)[0] == 0


def test_two_unread_commits_are_never_taken_for_a_crash(tmp_path):
    path = _ledger_with_wal(tmp_path)
    wal = Path(str(path) + "-wal")
    data, frame = wal.read_bytes(), FRAME_HEADER_BYTES + PAGE
    commits = [offset for offset in range(WAL_HEADER_BYTES, len(data), frame)
               if struct.unpack(">I", data[offset + 4:offset + 8])[0]]
    # The page of the first frame after the third-to-last commit: the last two are left out.
    _overwrite(wal, commits[-3] + frame + FRAME_HEADER_BYTES, bytes(PAGE))
    with open(wal, "rb") as file:
        scan = scan_wal(file, PAGE)
    assert scan.unread_commits == 2 and not scan.torn_commit
    [finding] = wal_findings(str(path))
    assert finding.code == "wal_unread"
    before = wal.read_bytes()
    refused = _chronik(path, "repair")
    # Refused before anything opened the ledger for writing: a write connection would have
    # checkpointed what SQLite reads and deleted the -wal, and the lost commits with it.
    assert refused.returncode == 3 and "not repaired, nothing written" in refused.stderr, refused.stderr
    assert "wal_unread" in refused.stderr
    assert wal.read_bytes() == before and list(path.parent.glob("*.quarantine-*")) == []


def test_a_damaged_wal_header_is_a_failed_storage_check(tmp_path):
    path = _ledger_with_wal(tmp_path)
    _overwrite(Path(str(path) + "-wal"), 16, os.urandom(8))  # the salts: the header checksum fails
    assert _events(path) == 19  # SQLite ignores the whole -wal: only the 10 checkpointed commits
    code, report, _ = _verify(path)
    assert code == 3
    assert any(p["kind"] == "storage_wal_unread" and "header is damaged" in p["detail"] for p in report["problems"])


def test_a_damaged_aux_page_is_reported_not_raised(tmp_path):
    path = tmp_path / "ledger.db"
    _append(_url(path), range(200))  # the aux table sits among many events pages
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        [(root,)] = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'aux'").fetchall()
    conn.close()
    _overwrite(path, (root - 1) * PAGE, os.urandom(PAGE))
    code, report, stderr = _verify(path)
    assert code == 3 and not report["ok"] and stderr.strip() == ""
    assert report["checks"][0]["status"] == "failed"
    assert any(p["kind"] == "storage_unreadable" and "archive manifests" in p["detail"] for p in report["problems"])


WRITER = r"""
import random, sys, uuid
from chronik.ledger import open_ledger
from chronik.model import NewEvent
url, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
ledger = open_ledger(url, keyring=None)
print("ready", flush=True)
for k in range(count):
    size = rng.choice([1, 2, 5, 20])
    ledger.append(f"order:{k % 7}", [NewEvent(type="placed", id=str(uuid.uuid4()),
                                              data={"pad": "x" * rng.randrange(10, 3000)}) for _ in range(size)])
ledger.close()
"""


@pytest.mark.slow
def test_a_wal_a_live_writer_is_appending_to_is_never_reported(tmp_path):
    seed = int(os.environ.get("CHRONIK_TEST_SEED") or random.randrange(2**32))
    print(f"CHRONIK_TEST_SEED={seed}")
    path = tmp_path / "ledger.db"
    _append(_url(path), range(3))
    holder = open_ledger(_url(path), keyring=None)  # keeps the -wal from being checkpointed away
    writer = subprocess.Popen([sys.executable, "-c", WRITER, _url(path), str(seed), "400"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        scans = 0
        deadline = time.monotonic() + 20
        while writer.poll() is None and time.monotonic() < deadline:
            assert wal_findings(str(path)) == [], f"a false alarm on a healthy -wal (seed {seed})"
            scans += 1
        assert writer.wait(timeout=60) == 0
        assert scans > 5, "the writer finished before the -wal could be scanned while it grew"
        assert wal_findings(str(path)) == []
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        holder.close()


def test_a_null_where_the_schema_says_not_null_is_an_unreadable_event_not_a_traceback(tmp_path):
    # Regression (found by the corruption matrix, seed 936531761: a cut at byte 68014): a
    # damaged page gave back NULL for `data`, and verify died with a TypeError traceback.
    import sqlite3
    import subprocess
    import sys

    import chronik

    path = tmp_path / "ledger.db"
    with chronik.open_ledger(str(path)) as ledger:
        for n in range(3):
            ledger.append("order:1", [chronik.NewEvent("noted", {"n": n})])
    with sqlite3.connect(path) as conn:  # what the damage looked like: NULL in a NOT NULL column
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("UPDATE sqlite_master SET sql = replace(sql, 'data     TEXT NOT NULL', 'data TEXT') "
                     "WHERE name = 'events'")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE events SET data = NULL WHERE position = 2")
    done = subprocess.run([sys.executable, "-m", "chronik.cli", "--ledger", str(path), "verify", "--json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stderr
    assert '"first_bad_position":2' in done.stdout

"""SQLite corruption and environment errors (issue 10, items 2 and 6), on real damaged files.

Corruption that SQLite itself reports ("file is not a database", "database disk image is
malformed") is IntegrityError (exit 3) in SQLite's words, from opening, reading and
check_storage alike; a lock or a permission problem is never reported as corruption; a folder
that cannot be created is one StorageError line naming the path and the errno.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from chronik.errors import IntegrityError, StorageError, StoreBusy
from chronik.model import NO_FILTER, Expect
from chronik.stores import open_store
from chronik.stores.base import StreamBatch
from stores.sqlite_files import pending, reachable_folder, run_unprivileged, sqlite_url, write_ledger

PAGE_BYTES = 4096


def _page_holding(path: Path, marker: bytes) -> int:
    """The offset of the page that holds `marker` (a value only the events table stores)."""
    offset = path.read_bytes().find(marker)
    assert offset > 0, marker
    return offset - offset % PAGE_BYTES


def _overwrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as file:
        file.seek(offset)
        file.write(data)


@pytest.fixture
def ledger_path(tmp_path) -> Path:
    path = tmp_path / "ledger.db"
    write_ledger(path, events=400)
    return path


@pytest.mark.parametrize("read_only", [False, True], ids=["read-write", "read-only"])
def test_a_sound_file_passes_both_engine_checks(ledger_path, read_only):
    store = open_store(sqlite_url(ledger_path), read_only=read_only)
    try:
        assert store.check_storage() == []
        assert store.check_storage(thorough=True) == []
    finally:
        store.close()


@pytest.mark.parametrize("read_only", [False, True], ids=["read-write", "read-only"])
def test_a_garbage_header_is_an_integrity_error_in_sqlites_words(ledger_path, read_only):
    _overwrite(ledger_path, 0, b"not a database, just garbage....")
    with pytest.raises(IntegrityError, match="file is not a database") as caught:
        open_store(sqlite_url(ledger_path), read_only=read_only)
    assert str(ledger_path) in str(caught.value) and caught.value.exit_code == 3


def _read_everything(path: Path, read_only: bool) -> None:
    store = open_store(sqlite_url(path), read_only=read_only)
    try:
        list(store.read_all(0, None, NO_FILTER))
    finally:
        store.close()


@pytest.mark.parametrize("read_only", [False, True], ids=["read-write", "read-only"])
@pytest.mark.parametrize("cut", ["last-page", "half", "tenth"])
def test_a_truncated_file_is_an_integrity_error_when_opened_or_read(ledger_path, read_only, cut):
    # SQLite compares the page count in its header with the file's size on the first read, so
    # a file cut anywhere is reported at once, as corrupt.
    size = ledger_path.stat().st_size
    keep = {"last-page": size - PAGE_BYTES, "half": size // 2, "tenth": size // 10}[cut]
    os.truncate(ledger_path, keep // PAGE_BYTES * PAGE_BYTES)
    with pytest.raises(IntegrityError, match="database disk image is malformed"):
        _read_everything(ledger_path, read_only)


@pytest.mark.parametrize("read_only", [False, True], ids=["read-write", "read-only"])
@pytest.mark.parametrize("keep", [1, 50, 99])
def test_a_file_cut_inside_the_header_is_an_integrity_error_and_nothing_is_written(ledger_path, read_only, keep):
    # SQLite reads a file too short for its 100-byte header as an empty database, without an
    # error: the matrix (seed 441397776) saw a ledger cut to 1 byte read as "no ledger" (exit 1,
    # no report), and an append started a new ledger over it.
    os.truncate(ledger_path, keep)
    with pytest.raises(IntegrityError, match="without a whole SQLite header|SQLite reports .* as corrupt") as caught:
        open_store(sqlite_url(ledger_path), read_only=read_only)
    assert caught.value.exit_code == 3
    assert ledger_path.stat().st_size == keep and not Path(str(ledger_path) + "-wal").exists()


def test_garbage_in_an_events_page_is_found_by_the_engine_check(ledger_path):
    page = _page_holding(ledger_path, b'"n":200,')
    _overwrite(ledger_path, page + 8, os.urandom(PAGE_BYTES - 8))
    store = open_store(sqlite_url(ledger_path), read_only=True)
    try:
        for thorough in (False, True):
            findings = store.check_storage(thorough=thorough)
            assert findings, "SQLite's own check must see the damaged page"
            assert all(f.code == "engine_check" and f.message for f in findings)
        with pytest.raises(IntegrityError, match="SQLite reports .* as corrupt"):
            list(store.read_all(0, None, NO_FILTER))
    finally:
        store.close()


def test_an_append_into_a_damaged_file_is_an_integrity_error_and_writes_nothing(ledger_path):
    page = _page_holding(ledger_path, b'"n":399,')  # the last leaf: every append reads it
    _overwrite(ledger_path, page, os.urandom(PAGE_BYTES))
    store = open_store(sqlite_url(ledger_path))
    try:
        with pytest.raises(IntegrityError, match="append failed; nothing was written"):
            store.append([StreamBatch("order:1", Expect.ANY, [pending(1)])])
    finally:
        store.close()


def test_a_lock_held_past_the_busy_timeout_is_busy_not_corruption(ledger_path):
    holder = sqlite3.connect(ledger_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    store = open_store(sqlite_url(ledger_path) + "?busy_timeout_ms=100")
    try:
        with pytest.raises(StoreBusy):
            store.append([StreamBatch("order:1", Expect.ANY, [pending(1)])])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        store.close()
    assert not issubclass(StoreBusy, IntegrityError)


# ---------------------------------------------------------------- environment errors (item 6)


def test_a_folder_that_cannot_be_created_is_one_line_naming_path_and_errno(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError) as caught:
        open_store(sqlite_url(blocker / "sub" / "ledger.db"))
    message = str(caught.value)
    assert "\n" not in message and str(blocker / "sub") in message and "[ENOTDIR]" in message


def _open_for_writing(url: str) -> dict:
    try:
        open_store(url).close()
    except StorageError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    return {"error": None}


def test_a_folder_without_permission_is_one_line_naming_path_and_errno():
    with reachable_folder() as folder:
        locked = folder / "ro"
        locked.mkdir(mode=0o555)
        seen = run_unprivileged(_open_for_writing, sqlite_url(locked / "sub" / "ledger.db"))
        assert seen["error"] == "StorageError"
        assert str(locked / "sub") in seen["message"] and "[EACCES]" in seen["message"]
        assert "\n" not in seen["message"]


def test_the_cli_prints_no_traceback_for_a_folder_it_cannot_create(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    chronik = Path(sys.executable).with_name("chronik")
    result = subprocess.run([str(chronik), "--ledger", str(blocker / "sub" / "x.db"), "db", "upgrade"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(blocker / "sub") in lines[0] and "ENOTDIR" in lines[0]

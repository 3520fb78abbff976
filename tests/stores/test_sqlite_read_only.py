"""SQLite opened read-only (issue 10, items 3 and 4): nothing is created, nothing is written, and a
ledger on read-only media (a read-only folder, a read-only mount) can be read and checked.

File modes do not bind root, so the read-only folder cases run in a child that drops to an
unprivileged account (tests/stores/sqlite_files.run_unprivileged); the mount case uses a real
read-only bind mount, which binds root too.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from chronik.errors import ChronikError, IntegrityError, NotFound, StorageError
from chronik.model import NO_FILTER, Expect, Head
from chronik.stores import open_store
from chronik.stores.base import AuxChange, StreamBatch
from chronik.stores.sqlite import SQLiteStore
from stores.sqlite_files import (
    fingerprint,
    needs_root_mounts,
    pending,
    reachable_folder,
    read_only_mount,
    run_unprivileged,
    sqlite_url,
    write_ledger,
)


def test_a_missing_ledger_is_not_found_and_nothing_is_created(tmp_path):
    target = tmp_path / "typo" / "deeper" / "ledgr.db"
    with pytest.raises(NotFound, match=r"no ledger at .*ledgr\.db; append creates one"):
        open_store(sqlite_url(target), read_only=True)
    assert list(tmp_path.iterdir()) == []  # no file, no folder, no -wal or -shm
    beside = tmp_path / "ledger.db"
    with pytest.raises(NotFound):
        open_store(sqlite_url(beside), read_only=True)
    assert list(tmp_path.iterdir()) == []


def test_writes_are_refused_and_the_ledger_bytes_stay_the_same(tmp_path):
    path = tmp_path / "ledger.db"
    write_ledger(path, events=50)
    before = fingerprint(tmp_path)
    store = open_store(sqlite_url(path), read_only=True)
    try:
        assert store.head().position == 50
        assert len(list(store.read_all(0, None, NO_FILTER))) == 50
        assert store.stats()["events"] == 50 and store.aux_get("snapshot", "x") is None
        event = next(store.read_all(0, 1, NO_FILTER))
        writes = [
            lambda: store.append([StreamBatch("order:1", Expect.ANY, [pending(1)])]),
            lambda: store.import_events([event]),
            lambda: store.remove_events([1]),
            lambda: store.aux_write([AuxChange("snapshot", "x", b"1")]),
            lambda: store.upgrade(),
        ]
        for write in writes:
            with pytest.raises(StorageError, match="opened read-only"):
                write()
    finally:
        store.close()
    after = fingerprint(tmp_path)
    assert after["ledger.db"] == before["ledger.db"]
    # SQLite's WAL readers may leave an empty -wal and a -shm beside the file: no ledger bytes.
    assert set(after) - set(before) <= {"ledger.db-wal", "ledger.db-shm"}
    assert (tmp_path / "ledger.db-wal").stat().st_size == 0 if "ledger.db-wal" in after else True


def _read_everything(url: str) -> dict:
    """What a reading command does, as the unprivileged child sees it."""
    try:
        store = open_store(url, read_only=True)
    except ChronikError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    try:
        result: dict = {"mode": store._mode if isinstance(store, SQLiteStore) else None,
                        "head": store.head().position,
                        "events": sum(1 for _ in store.read_all(0, None, NO_FILTER)),
                        "streams": len(store.streams(None)),
                        "findings": [f.message for f in store.check_storage(thorough=True)]}
        try:
            store.append([StreamBatch("order:1", Expect.ANY, [pending(1)])])
            result["append"] = "appended"
        except StorageError as exc:
            result["append"] = str(exc)
        return result
    finally:
        store.close()


def _seal(folder: Path) -> None:
    """Make `folder` and its files read-only, as on an evidence copy."""
    for entry in folder.iterdir():
        entry.chmod(0o444)
    folder.chmod(0o555)


def test_a_ledger_in_a_read_only_folder_is_read_by_an_unprivileged_user():
    with reachable_folder() as folder:
        path = folder / "ledger.db"
        write_ledger(path, events=120)
        _seal(folder)
        before = fingerprint(folder)
        seen = run_unprivileged(_read_everything, sqlite_url(path))
        assert "error" not in seen, seen
        # mode=ro needs the -shm file it cannot create here, so the store reads it immutable.
        assert seen["mode"] == "immutable"
        assert seen["head"] == 120 and seen["events"] == 120 and seen["streams"] == 5
        assert seen["findings"] == []
        assert "opened read-only" in seen["append"]
        assert fingerprint(folder) == before  # not a byte, not a file


def _append_and_die(url: str, events: int) -> None:
    """A writer that stops without closing: its commits stay in the -wal (no checkpoint)."""
    store = open_store(url)
    for n in range(events):
        store.append([StreamBatch("order:1", Expect.ANY, [pending(n)])])
    os._exit(0)


def _leave_uncheckpointed(url: str, events: int) -> None:
    pid = os.fork()
    if pid == 0:
        _append_and_die(url, events)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_commits_still_in_the_wal_of_a_read_only_folder_are_read_or_refused_never_hidden():
    with reachable_folder() as folder:
        path = folder / "ledger.db"
        _leave_uncheckpointed(sqlite_url(path), 30)
        assert (folder / "ledger.db-wal").stat().st_size > 0 and (folder / "ledger.db-shm").exists()
        _seal(folder)
        # With the -shm file there, SQLite reads the WAL read-only: every commit is seen.
        seen = run_unprivileged(_read_everything, sqlite_url(path))
        assert seen.get("mode") == "ro" and seen["head"] == 30 and seen["events"] == 30, seen
        # Without it, immutable reading would silently drop the WAL's commits: refused instead.
        folder.chmod(0o755)
        (folder / "ledger.db-shm").unlink()
        folder.chmod(0o555)
        seen = run_unprivileged(_read_everything, sqlite_url(path))
        assert seen["error"] == "StorageError", seen
        assert "ledger.db-wal holds commits" in seen["message"] and "copy the ledger" in seen["message"]


def test_an_unreadable_file_is_a_storage_error_not_corruption_nor_missing():
    with reachable_folder() as folder:
        path = folder / "ledger.db"
        write_ledger(path, events=5)
        path.chmod(0o000)
        seen = run_unprivileged(_read_everything, sqlite_url(path))
        assert seen["error"] == "StorageError", seen
        assert str(path) in seen["message"] and "Permission denied" in seen["message"]


@needs_root_mounts
def test_a_ledger_on_a_read_only_mount_is_read_even_by_root(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    write_ledger(source / "ledger.db", events=40)
    with read_only_mount(source, tmp_path / "mnt") as mount:
        before = fingerprint(mount)
        seen = _read_everything(sqlite_url(mount / "ledger.db"))
        assert seen["mode"] == "immutable" and seen["events"] == 40 and seen["findings"] == []
        assert "opened read-only" in seen["append"]
        assert fingerprint(mount) == before
        with pytest.raises(NotFound):
            open_store(sqlite_url(mount / "other.db"), read_only=True)


def test_an_empty_file_read_only_is_corruption_not_an_empty_ledger(tmp_path):
    path = tmp_path / "ledger.db"
    path.write_bytes(b"")
    with pytest.raises(IntegrityError, match="is empty"):
        open_store(sqlite_url(path), read_only=True)


def test_a_sqlite_file_of_another_program_is_no_ledger(tmp_path):
    import sqlite3

    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()
    with pytest.raises(NotFound, match="without chronik's tables"):
        open_store(sqlite_url(path), read_only=True)


def test_read_only_sees_what_a_writer_commits_meanwhile(tmp_path):
    path = tmp_path / "ledger.db"
    write_ledger(path, events=3)
    writer = open_store(sqlite_url(path))
    reader = open_store(sqlite_url(path), read_only=True)
    try:
        assert reader.head().position == 3
        writer.append([StreamBatch("order:9", Expect.ANY, [pending(9)])])
        assert reader.wait_for_change(3, 5.0)
        assert reader.head() == Head(4, writer.head().hash)
    finally:
        reader.close()
        writer.close()


def test_memory_ignores_read_only():
    store = open_store("memory:", read_only=True)
    store.append([StreamBatch(f"order:{uuid.uuid4().hex[:6]}", Expect.ANY, [pending(1)])])
    assert store.head().position == 1


def test_a_url_with_four_slashes_opens_read_only(tmp_path):
    # Regression: sqlite:////abs/path left "//abs/path", which SQLite's URI reader took for an
    # authority ("invalid uri authority"), so every read-only command failed on such URLs.
    path = tmp_path / "ledger.db"
    write_ledger(path, 3)
    store = open_store("sqlite:////" + str(path).lstrip("/"), read_only=True)
    try:
        assert store.head().position == 3 and store.path == str(path)
    finally:
        store.close()


@pytest.mark.parametrize("name", ["50% done", "#1 ledgers", "spaces and ü", "a%3fb"])
def test_a_folder_name_with_uri_characters_opens_read_only(tmp_path, name):
    # The read-only open goes through a SQLite file: URI, where %, ? and # mean something.
    folder = tmp_path / name
    folder.mkdir()
    path = folder / "ledger.db"
    write_ledger(path)
    writable = open_store(sqlite_url(path))
    expected = writable.head()
    writable.close()
    store = open_store(sqlite_url(path), read_only=True)
    try:
        assert store.head() == expected and expected.position > 0
        assert len(list(store.read_all(0, None, NO_FILTER))) == expected.position
    finally:
        store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # nothing opened beside it

"""Issue 10, items 3, 4 and 6 for JSON Lines: a missing ledger opened read-only is NotFound and
nothing is created (no file, folder, .lock or .aux.db); a read-only store creates and takes no
lock file, so a ledger in a read-only folder or on a read-only mount can be read and checked;
writes raise StorageError saying the ledger was opened read-only; environment problems are one
StorageError naming the path and the errno.

File modes do not bind root, so the folder cases run in a forked child that drops to an
unprivileged account (stores.sqlite_files.run_unprivileged); the mount case uses a real
read-only bind mount, which binds root too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chronik.errors import ChronikError, NotFound, StorageError
from chronik.model import NO_FILTER
from chronik.stores import open_store
from chronik.stores.base import AuxChange
from stores.jsonl_files import batch, jsonl_url, write_ledger
from stores.sqlite_files import (
    fingerprint,
    needs_root_mounts,
    reachable_folder,
    read_only_mount,
    run_unprivileged,
)


def test_a_missing_ledger_is_not_found_and_nothing_is_created(tmp_path):
    deep = tmp_path / "typo" / "deeper" / "ledgr.jsonl"
    with pytest.raises(NotFound, match=rf"^no ledger at {deep}; append creates one$"):
        open_store(jsonl_url(deep), read_only=True)
    beside = tmp_path / "ledger.jsonl"
    with pytest.raises(NotFound, match=rf"^no ledger at {beside}; append creates one$"):
        open_store(jsonl_url(beside), read_only=True)
    assert list(tmp_path.iterdir()) == []  # no file, no folder, no .lock, no .aux.db


def test_reads_work_writes_are_refused_and_nothing_is_created(tmp_path):
    path = tmp_path / "ledger.jsonl"
    write_ledger(path, appends=12, per_append=2).close()
    (tmp_path / "ledger.jsonl.lock").unlink()  # an evidence copy: the ledger file alone
    before = fingerprint(tmp_path)
    store = open_store(jsonl_url(path), read_only=True)
    try:
        assert store.head().position == 24 and store.stats()["events"] == 24
        assert len(list(store.read_all(0, None, NO_FILTER))) == 24 and len(store.streams(None)) == 3
        assert store.aux_get("snapshot", "x") is None and store.aux_range("snapshot") == []
        assert store.check_storage() == [] and store.check_storage(thorough=True) == []
        event = next(store.read_all(0, 1, NO_FILTER))
        writes = {
            "append": lambda: store.append(batch("order:1", 1)),
            "import events": lambda: store.import_events([event]),
            "remove events": lambda: store.remove_events([1]),
            "write auxiliary records": lambda: store.aux_write([AuxChange("snapshot", "x", b"1")]),
            "repair": store.repair,
        }
        for doing, write in writes.items():
            with pytest.raises(StorageError, match=rf"cannot {doing}: {path} was opened read-only"):
                write()
    finally:
        store.close()
    assert fingerprint(tmp_path) == before  # not a byte, not a file


def test_a_read_only_store_sees_a_writers_commits(tmp_path):
    path = tmp_path / "ledger.jsonl"
    writer = write_ledger(path, appends=3)
    reader = open_store(jsonl_url(path), read_only=True)
    try:
        writer.append(batch("order:9", 1, 2))
        assert reader.head().position == 5 and reader.wait_for_change(4, 0.01)
        assert reader.check_storage() == []  # waits on the writer's existing lock, shared
        writer.aux_write([AuxChange("snapshot", "x", b"1")])
        assert reader.aux_get("snapshot", "x") == b"1"
    finally:
        reader.close()
        writer.close()


def _read_everything(url: str) -> dict:
    """What a reading command does, as the unprivileged child sees it."""
    try:
        store = open_store(url, read_only=True)
    except ChronikError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    try:
        result: dict = {"head": store.head().position,
                        "events": sum(1 for _ in store.read_all(0, None, NO_FILTER)),
                        "streams": len(store.streams(None)),
                        "aux": (store.aux_get("snapshot", "x") or b"").decode(),
                        "findings": [f.code for f in store.check_storage(thorough=True)]}
        try:
            store.append(batch("order:1", 1))
            result["append"] = "appended"
        except StorageError as exc:
            result["append"] = str(exc)
        return result
    finally:
        store.close()


def _write(url: str) -> dict:
    """What a writing command does, as the unprivileged child sees it."""
    try:
        store = open_store(url)
        store.append(batch("order:1", 1))
        store.close()
        return {"written": True}
    except ChronikError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}


def _seal(folder: Path) -> None:
    for entry in folder.iterdir():
        entry.chmod(0o444)
    folder.chmod(0o555)


@pytest.mark.parametrize("with_lock_and_sidecar", [True, False])
def test_a_ledger_in_a_read_only_folder_is_read_by_an_unprivileged_user(with_lock_and_sidecar):
    with reachable_folder() as folder:
        path = folder / "ledger.jsonl"
        store = write_ledger(path, appends=30)
        store.aux_write([AuxChange("snapshot", "x", b"kept")])
        store.close()
        if not with_lock_and_sidecar:
            for extra in folder.glob("ledger.jsonl.*"):
                extra.unlink()
        _seal(folder)
        before = fingerprint(folder)
        seen = run_unprivileged(_read_everything, jsonl_url(path))
        assert "error" not in seen, seen
        assert seen["head"] == 30 and seen["events"] == 30 and seen["streams"] == 3
        assert seen["findings"] == [] and seen["aux"] == ("kept" if with_lock_and_sidecar else "")
        assert "opened read-only" in seen["append"]
        assert fingerprint(folder) == before
        # Writing is an environment problem there: one line naming the path and the errno.
        refused = run_unprivileged(_write, jsonl_url(path))
        assert refused["error"] == "StorageError" and str(folder) in refused["message"], refused
        assert "[EACCES]" in refused["message"] or "[EROFS]" in refused["message"], refused
        assert fingerprint(folder) == before


def test_creating_a_ledger_where_folders_cannot_be_made_names_the_folder_and_errno():
    with reachable_folder() as folder:
        folder.chmod(0o555)
        seen = run_unprivileged(_write, jsonl_url(folder / "sub" / "ledger.jsonl"))
        assert seen == {"error": "StorageError",
                        "message": f"cannot create the folder {folder / 'sub'}: Permission denied [EACCES]"}
        seen = run_unprivileged(_read_everything, jsonl_url(folder / "sub" / "ledger.jsonl"))
        assert seen["error"] == "NotFound"


def test_an_unreadable_ledger_is_a_storage_error_naming_path_and_errno():
    with reachable_folder() as folder:
        path = folder / "ledger.jsonl"
        write_ledger(path, appends=2).close()
        path.chmod(0o000)
        seen = run_unprivileged(_read_everything, jsonl_url(path))
        assert seen == {"error": "StorageError", "message": f"cannot open {path}: Permission denied [EACCES]"}


def test_a_folder_named_like_a_ledger_is_a_storage_error(tmp_path):
    (tmp_path / "dir.jsonl").mkdir()
    for read_only in (True, False):
        with pytest.raises(StorageError, match="dir.jsonl"):
            open_store(jsonl_url(tmp_path / "dir.jsonl"), read_only=read_only)


@needs_root_mounts
def test_a_ledger_on_a_read_only_mount_is_read_even_by_root(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    write_ledger(source / "ledger.jsonl", appends=10).close()
    with read_only_mount(source, tmp_path / "mnt") as mount:
        before = fingerprint(mount)
        seen = _read_everything(jsonl_url(mount / "ledger.jsonl"))
        assert seen["events"] == 10 and seen["findings"] == [] and "opened read-only" in seen["append"]
        refused = _write(jsonl_url(mount / "ledger.jsonl"))
        assert refused["error"] == "StorageError" and "[EROFS]" in refused["message"], refused
        assert fingerprint(mount) == before
        with pytest.raises(NotFound):
            open_store(jsonl_url(mount / "other.jsonl"), read_only=True)

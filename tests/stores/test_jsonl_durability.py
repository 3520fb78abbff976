"""Durability of the JSON Lines store, counted through the chronik.fileio seam (issue 10, item 17
a/b): every acknowledged commit is fsynced after its write and before the call returns; a new
file, folder, rename or quarantine has its folder fsynced; and a failing fsync is never
swallowed: the call raises StorageError, the fault is asserted to have been injected, nothing
of the failed commit stays, and the store refuses writes until reopened.

The mutations these tests were checked against are listed in docs/testing.md.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from chronik.errors import StorageError
from chronik.model import NO_FILTER
from chronik.stores.jsonl import IMPORT_COMMIT_EVENTS, JsonlStore
from stores.jsonl_files import (
    FailingFileSystem,
    RecordingFileSystem,
    batch,
    jsonl_url,
    write_ledger,
)


def test_each_acknowledged_append_is_one_write_then_one_fsync_of_the_ledger(tmp_path):
    path = tmp_path / "ledger.jsonl"
    files = RecordingFileSystem()
    store = JsonlStore(jsonl_url(path), str(path), files=files)
    files.take()
    try:
        for k in range(5):
            store.append(batch("order:1", k) if k % 2 else batch("order:2", k, k + 100, k + 200))
            # One write of the whole commit, then its fsync, all before append returned.
            assert files.take() == [("write", str(path)), ("fsync", str(path))], k
    finally:
        store.close()


def test_relaxed_durability_skips_only_the_fsync(tmp_path):
    path = tmp_path / "ledger.jsonl"
    files = RecordingFileSystem()
    store = JsonlStore(jsonl_url(path) + "?durability=relaxed", str(path), durability="relaxed", files=files)
    files.take()
    try:
        store.append(batch("order:1", 1))
        assert files.take() == [("write", str(path))]
    finally:
        store.close()


def test_creating_a_ledger_fsyncs_every_new_folder_and_the_file_entry(tmp_path):
    path = tmp_path / "new" / "deeper" / "ledger.jsonl"
    files = RecordingFileSystem()
    store = JsonlStore(jsonl_url(path), str(path), files=files)
    try:
        assert files.take() == [("fsync_directory", str(tmp_path)),  # holds new/
                                ("fsync_directory", str(tmp_path / "new")),  # holds deeper/
                                ("fsync_directory", str(path.parent))]  # holds ledger.jsonl
    finally:
        store.close()
    reopened = JsonlStore(jsonl_url(path), str(path), files=files)
    reopened.close()
    assert files.take() == []  # an existing ledger: nothing to make durable


def test_import_commits_every_chunk_durably(tmp_path):
    source = write_ledger(tmp_path / "source.jsonl", appends=5, per_append=500)
    events = list(source.read_all(0, None, NO_FILTER))
    source.close()
    path = tmp_path / "ledger.jsonl"
    files = RecordingFileSystem()
    store = JsonlStore(jsonl_url(path), str(path), files=files)
    files.take()
    try:
        store.import_events(events)
        chunks = -(-len(events) // IMPORT_COMMIT_EVENTS)
        assert files.take() == [("write", str(path)), ("fsync", str(path))] * chunks
    finally:
        store.close()


def test_compaction_fsyncs_the_new_file_before_the_rename_and_the_folder_after(tmp_path):
    path = tmp_path / "ledger.jsonl"
    store = write_ledger(path, appends=6)
    store.close()
    files = RecordingFileSystem()
    store = JsonlStore(jsonl_url(path), str(path), files=files)
    files.take()
    try:
        assert store.remove_events([1]) == 1
        log = files.take()
        temporary = str(path) + ".rewrite"
        assert ("fsync", temporary) in log and ("rename", str(path)) in log
        assert log.index(("fsync", temporary)) < log.index(("rename", str(path))) \
            < log.index(("fsync_directory", str(tmp_path)))
    finally:
        store.close()


def test_repair_makes_the_quarantine_durable_before_it_cuts_the_ledger(tmp_path):
    path = tmp_path / "ledger.jsonl"
    write_ledger(path, appends=4).close()
    os.truncate(path, path.stat().st_size - 20)
    files = RecordingFileSystem()
    store = JsonlStore(jsonl_url(path), str(path), files=files)
    files.take()
    try:
        [repair] = store.repair()
        quarantine = repair.detail["quarantine"]
        assert files.take() == [("write", quarantine), ("fsync", quarantine),
                                ("fsync_directory", str(tmp_path)),
                                ("ftruncate", str(path)), ("fsync", str(path))]
    finally:
        store.close()


@pytest.mark.parametrize("error", [errno.EIO, errno.ENOSPC])
@pytest.mark.parametrize("at_append", [1, 3])
def test_a_failing_fsync_is_raised_never_swallowed(tmp_path, error, at_append):
    path = tmp_path / "ledger.jsonl"
    files = FailingFileSystem("fsync", at_call=at_append, error=error)
    store = JsonlStore(jsonl_url(path), str(path), files=files)
    acknowledged = []
    try:
        with pytest.raises(StorageError) as caught:
            for k in range(1, 6):
                store.append(batch("order:1", k, k + 100))
                acknowledged.append(k)
        assert files.injected == 1, "the fault was not injected: this test proved nothing"
        assert acknowledged == list(range(1, at_append))
        message = str(caught.value)
        assert str(path) in message and "nothing was recorded" in message
        assert errno.errorcode[error] in message
        # fsyncgate: what reached the disk is unknown, so even a healthy fsync is not trusted.
        files.armed = False
        with pytest.raises(StorageError, match="until it is reopened"):
            store.append(batch("order:1", 99))
    finally:
        store.close()
    reopened = JsonlStore(jsonl_url(path), str(path))
    try:
        events = list(reopened.read_all(0, None, NO_FILTER))
        assert len(events) == 2 * len(acknowledged)  # the failed commit was undone
        assert reopened.check_storage() == []
        reopened.append(batch("order:1", 7))  # writable again
    finally:
        reopened.close()


def test_a_failing_fsync_of_a_chunk_stops_an_import_after_the_committed_chunks(tmp_path):
    source = write_ledger(tmp_path / "source.jsonl", appends=5, per_append=500)
    events = list(source.read_all(0, None, NO_FILTER))
    source.close()
    path = tmp_path / "ledger.jsonl"
    files = FailingFileSystem("fsync", at_call=2)
    store = JsonlStore(jsonl_url(path), str(path), files=files)
    try:
        with pytest.raises(StorageError, match=r"stopped after 1000 events: positions 1\.\.1000 are committed"):
            store.import_events(events)
        assert files.injected == 1
    finally:
        store.close()
    reopened = JsonlStore(jsonl_url(path), str(path))
    try:
        assert reopened.head().position == 1000 and reopened.check_storage() == []
    finally:
        reopened.close()


def test_a_failing_fsync_of_the_quarantine_cuts_nothing(tmp_path):
    path = tmp_path / "ledger.jsonl"
    write_ledger(path, appends=4).close()
    os.truncate(path, path.stat().st_size - 20)
    damaged = path.read_bytes()
    files = FailingFileSystem("fsync", suffix="", at_call=1)  # the first fsync: the quarantine's
    store = JsonlStore(jsonl_url(path), str(path), files=files)
    try:
        with pytest.raises(StorageError, match="cannot quarantine"):
            store.repair()
        assert files.injected == 1
        assert path.read_bytes() == damaged and store.check_storage()[0].code == "torn_tail"
    finally:
        store.close()


def test_a_failing_write_leaves_nothing_and_names_the_errno(tmp_path):
    path = tmp_path / "ledger.jsonl"
    files = FailingFileSystem("write", at_call=2, error=errno.ENOSPC)
    store = JsonlStore(jsonl_url(path), str(path), files=files)
    try:
        store.append(batch("order:1", 1))
        with pytest.raises(StorageError, match=r"ledger.jsonl: .*\[ENOSPC\]; nothing was recorded"):
            store.append(batch("order:1", 2, 3))
        assert files.injected == 1
        assert store.head().position == 1 and Path(path).read_bytes().count(b"\n") == 1
        store.append(batch("order:1", 4))  # a failed write (not fsync) leaves the store writable
    finally:
        store.close()

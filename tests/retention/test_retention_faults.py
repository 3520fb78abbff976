"""I/O faults through chronik.fileio: write, fsync and rename failing at call N (N = 1 until the
operation completes), ENOSPC and EIO, once and persistently, during append (JSON Lines store),
retention and export: nothing acknowledged is lost, nothing partial is visible, a StorageError
names the path, and after a failed fsync the JSON Lines store refuses writes until reopened.

Every round asserts both ways that the fault and the error go together (`_outcome`): a round
that injected a fault must have raised StorageError (a swallowed fsync error fails it), a round
that raised must have injected one, and the loop must inject at N = 1 (a writer that no longer
fsyncs fails it: the fault never fires). The mutations these tests catch are listed in
docs/testing.md.
"""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from faults import FaultyFileSystem
from retention_testing import archived_positions, everything, fill, live_positions

from chronik.errors import StorageError
from chronik.fileio import FileSystem
from chronik.ledger import Ledger, open_ledger
from chronik.lifecycle import archive, retention
from chronik.lifecycle.export import export_to_path
from chronik.model import NewEvent
from chronik.stores.jsonl import JsonlStore

LATER = datetime.now(UTC) + timedelta(days=1)
ERRORS = [errno.ENOSPC, errno.EIO]
MAX_CALLS = 60


def _jsonl(path, files) -> Ledger:
    return Ledger(JsonlStore(f"jsonl://{path}", str(path), files=files))


def _outcome(faulty: FaultyFileSystem, at_call: int, operation: Callable[..., Any], *args: Any,
             **kwargs: Any) -> tuple[Any, StorageError | None]:
    """`operation(*args, **kwargs)` with `faulty` armed: (its result, None), or (None, the
    StorageError it raised). A fault and a StorageError always come together: either one alone
    fails the test."""
    result, raised = None, None
    try:
        result = operation(*args, **kwargs)
    except StorageError as exc:
        raised = exc
    if faulty.failed:
        assert raised is not None, (f"call {at_call} of {faulty.operation} failed ({faulty.failed} fault(s) "
                                    f"injected) and the operation still succeeded: the error was swallowed")
    else:
        assert raised is None, f"StorageError without any injected fault: {raised}"
        assert at_call > 1, (f"no {faulty.operation} was made at all, so no fault could be injected: "
                             f"the operation is not durable (or bypasses chronik.fileio)")
    return result, raised


def _append_pairs(ledger: Ledger, acked: list[int]) -> None:
    for i in range(3):
        acked.append(ledger.append("a:1", [NewEvent(type="t", data={"n": i})] * 2).first_position)


@pytest.mark.parametrize("operation", ["write", "fsync"])
@pytest.mark.parametrize("error", ERRORS)
@pytest.mark.parametrize("persistent", [False, True])
def test_faults_during_append(operation, error, persistent, tmp_path):
    path = tmp_path / "ledger.jsonl"
    for at_call in range(1, MAX_CALLS):
        path.unlink(missing_ok=True)
        faulty = FaultyFileSystem(operation, at_call, error, persistent)
        faulty.armed = False
        ledger = _jsonl(path, faulty)
        acked = [ledger.append("a:1", [NewEvent(type="t", data={"i": i})]).first_position for i in range(3)]
        faulty.armed = True
        _, failure = _outcome(faulty, at_call, _append_pairs, ledger, acked)
        if failure is not None:
            assert str(path) in str(failure)
            if operation == "fsync":  # fsyncgate: refuse until reopened, even without faults
                faulty.armed = False
                with pytest.raises(StorageError, match="reopened"):
                    ledger.append("a:1", [NewEvent(type="t", data={})])
        ledger.close()
        reopened = open_ledger(f"jsonl://{path}")
        positions = [e.position for e in reopened.read_all()]
        assert set(acked) <= set(positions), "an acknowledged append was lost"
        assert positions == list(range(1, len(positions) + 1))
        assert reopened.verify().ok
        reopened.append("a:1", [NewEvent(type="t", data={})])  # writable again after reopening
        reopened.close()
        if failure is None:
            return  # N passed the number of calls: the operation completed
    pytest.fail("the operation never completed")


@pytest.mark.parametrize("operation", ["write", "fsync", "rename"])
@pytest.mark.parametrize("error", ERRORS)
@pytest.mark.parametrize("persistent", [False, True])
def test_faults_during_retention(operation, error, persistent, tmp_path, seed):
    rng = random.Random(seed)
    for at_call in range(1, MAX_CALLS):
        directory = tmp_path / f"n{at_call}"
        directory.mkdir()
        path = directory / "ledger.jsonl"
        ledger = open_ledger(f"jsonl://{path}")
        fill(ledger, rng, 60)
        retention.set_policy(ledger, "order", max_count=1)
        retention.set_policy(ledger, "log", max_age_s=0, keep_latest=False)
        expected = list(ledger.read_all())
        ledger.close()
        faulty = FaultyFileSystem(operation, at_call, error, persistent)
        ledger = _jsonl(path, faulty)
        _, failure = _outcome(faulty, at_call, retention.apply_retention, ledger, now=LATER, files=faulty)
        if failure is not None:
            assert str(directory) in str(failure), failure
        ledger.close()
        ledger = open_ledger(f"jsonl://{path}")
        assert everything(ledger) == expected, "an event was lost or doubled"
        assert archive.verify_chain(ledger, include_archive=True).ok
        retention.apply_retention(ledger, now=LATER)  # a clean rerun finishes the job
        archived, live = archived_positions(ledger), live_positions(ledger)
        assert sorted(archived + live) == list(range(1, 61))
        assert archive.verify_chain(ledger, include_archive=True).ok
        ledger.close()
        if failure is None:
            return
    pytest.fail("retention never completed")


@pytest.mark.parametrize("operation", ["write", "fsync", "rename"])
@pytest.mark.parametrize("error", ERRORS)
@pytest.mark.parametrize("persistent", [False, True])
def test_faults_during_export(operation, error, persistent, tmp_path):
    ledger = open_ledger("memory:")
    for i in range(12_000):  # more than one export chunk, so several writes
        ledger.append(f"a:{i % 3}", [NewEvent(type="t", data={"i": i})])
    target = tmp_path / "out.jsonl"
    for at_call in range(1, MAX_CALLS):
        faulty = FaultyFileSystem(operation, at_call, error, persistent)
        count, failure = _outcome(faulty, at_call, export_to_path, ledger, target, files=faulty)
        if failure is not None:
            assert str(target) in str(failure)
            # the target is absent, or complete (only the directory fsync after the rename failed)
            if target.exists():
                assert len(target.read_bytes().splitlines()) == 12_000, "a partial export is visible"
                target.unlink()
            assert not (tmp_path / "out.jsonl.tmp").exists()
            continue
        assert count == 12_000
        assert len(target.read_bytes().splitlines()) == 12_000
        return
    pytest.fail("export never completed")


class RenameLog(FileSystem):
    """The real file system, logging every fsync (with the path its descriptor refers to: a
    file, or a folder for fsync_directory) and every rename, in order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, ...]] = []

    def fsync(self, fd: int) -> None:
        self.log.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        super().fsync(fd)

    def rename(self, source: str, target: str) -> None:
        self.log.append(("rename", os.path.realpath(source), os.path.realpath(target)))
        super().rename(source, target)

    def assert_every_rename_is_durable(self) -> int:
        """Each renamed file was fsynced before its rename, and its folder after; how many."""
        renames = [(i, entry) for i, entry in enumerate(self.log) if entry[0] == "rename"]
        for i, (_, source, target) in renames:
            assert ("fsync", source) in self.log[:i], f"{source} was renamed to {target} before its fsync"
            assert ("fsync", os.path.dirname(target)) in self.log[i + 1:], \
                f"the folder of {target} was not fsynced after the rename"
        return len(renames)


def test_every_file_retention_and_export_rename_into_place_is_fsynced_first(tmp_path, seed):
    path = tmp_path / "ledger.jsonl"
    ledger = open_ledger(f"jsonl://{path}")
    fill(ledger, random.Random(seed), 60)
    retention.set_policy(ledger, "order", max_count=1)
    retention.set_policy(ledger, "log", max_age_s=0, keep_latest=False)
    ledger.close()
    files = RenameLog()
    ledger = _jsonl(path, files)
    try:
        retention.apply_retention(ledger, now=LATER, files=files)
        # segments and manifests of the archive, and the compacted ledger
        assert files.assert_every_rename_is_durable() >= 3
        files.log.clear()
        assert export_to_path(ledger, tmp_path / "out.jsonl", files=files) == len(live_positions(ledger))
        assert files.assert_every_rename_is_durable() == 1
    finally:
        ledger.close()

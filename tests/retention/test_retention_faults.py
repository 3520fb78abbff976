"""I/O faults through chronik.fileio: write, fsync and rename failing at call N (N = 1 until the
operation completes), ENOSPC and EIO, once and persistently, during append (JSON Lines store),
retention and export: nothing acknowledged is lost, nothing partial is visible, a StorageError
names the path, and after a failed fsync the JSON Lines store refuses writes until reopened."""

from __future__ import annotations

import errno
import random
from datetime import UTC, datetime, timedelta

import pytest
from faults import FaultyFileSystem
from retention_testing import archived_positions, everything, fill, live_positions

from chronik.errors import StorageError
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
        try:
            for i in range(3):
                acked.append(ledger.append("a:1", [NewEvent(type="t", data={"n": i})] * 2).first_position)
        except StorageError as exc:
            assert str(path) in str(exc)
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
        if faulty.failed == 0:
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
        try:
            retention.apply_retention(ledger, now=LATER, files=faulty)
        except StorageError as exc:
            assert str(directory) in str(exc), exc
        ledger.close()
        ledger = open_ledger(f"jsonl://{path}")
        assert everything(ledger) == expected, "an event was lost or doubled"
        assert archive.verify_chain(ledger, include_archive=True).ok
        retention.apply_retention(ledger, now=LATER)  # a clean rerun finishes the job
        archived, live = archived_positions(ledger), live_positions(ledger)
        assert sorted(archived + live) == list(range(1, 61))
        assert archive.verify_chain(ledger, include_archive=True).ok
        ledger.close()
        if faulty.failed == 0:
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
        try:
            count = export_to_path(ledger, target, files=faulty)
        except StorageError as exc:
            assert str(target) in str(exc)
            # the target is absent, or complete (only the directory fsync after the rename failed)
            if target.exists():
                assert len(target.read_bytes().splitlines()) == 12_000, "a partial export is visible"
                target.unlink()
            assert not (tmp_path / "out.jsonl.tmp").exists()
            continue
        assert faulty.failed == 0 and count == 12_000
        assert len(target.read_bytes().splitlines()) == 12_000
        return
    pytest.fail("export never completed")

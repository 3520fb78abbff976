"""The one waiting loop (stores.base.wait_for_head) over each store's own change signal: memory's
condition variable, SQLite's PRAGMA data_version, PostgreSQL's LISTEN/NOTIFY. A commit by another
writer wakes a waiter at once; nothing happening times out; a head already past returns at once."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from chronik.model import Expect
from chronik.stores import open_store
from chronik.stores.base import PendingEvent, StreamBatch, wait_for_head

from support.postgres_server import shared_server


def _append(store) -> None:
    pending = PendingEvent("wrote", str(uuid.uuid4()), "2026-11-22T01:15:09.000000Z", b"{}", b"{}", False)
    store.append([StreamBatch("order:1", Expect.ANY, [pending])])


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def two_stores(request, tmp_path):
    """A waiter's store and a writer's store over one ledger (one object for memory)."""
    if request.param == "memory":
        store = open_store("memory:")
        yield store, store
        store.close()
        return
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path / "ledger.db").lstrip("/")
    else:
        url = shared_server().schema_url("wait")
    waiter, writer = open_store(url), open_store(url)
    yield waiter, writer
    waiter.close()
    writer.close()


def test_a_commit_wakes_the_waiter_and_silence_times_out(two_stores):
    waiter, writer = two_stores
    started = time.monotonic()
    assert waiter.wait_for_change(0, 0.2) is False
    assert 0.15 < time.monotonic() - started < 2
    _append(writer)
    started = time.monotonic()
    assert waiter.wait_for_change(0, 5.0) is True  # the head is past already: no waiting
    assert time.monotonic() - started < 0.5
    timer = threading.Timer(0.2, _append, (writer,))
    timer.start()
    started = time.monotonic()
    assert waiter.wait_for_change(1, 10.0) is True
    assert time.monotonic() - started < 2
    timer.join()


class _CountingSignal:
    def __init__(self, answers: list[bool]) -> None:
        self.answers = answers
        self.waits = 0

    def wait(self, known_position: int, timeout_s: float) -> bool:
        self.waits += 1
        time.sleep(0.001)
        return self.answers.pop(0) if self.answers else False


def test_the_head_is_read_again_only_when_the_signal_says_so():
    heads = iter([0, 0, 3])
    reads: list[int] = []

    def head() -> int:
        reads.append(1)
        return next(heads)

    signal = _CountingSignal([False, False, True, False, True])
    assert wait_for_head(head, 2, 5.0, signal) is True
    assert len(reads) == 3 and signal.waits == 5

"""Contract: `Store.lease(name, wait_s)` — one holder at a time of a named lease, across store
objects, threads and processes; a waiter gets LeaseHeld naming the holder; a holder that dies
(SIGKILL) frees the lease; writes made through a lease land, and stop with its release."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from chronik.errors import LeaseHeld, StorageError, ValidationError
from chronik.stores.base import AuxChange

# A process that takes the lease "job" and holds it until killed.
HOLDER = textwrap.dedent("""
    import sys, time
    import chronik
    ledger = chronik.open_ledger(sys.argv[1])
    lease = ledger.store.lease("job", wait_s=0)
    print("held", flush=True)
    time.sleep(600)
""")


def other_store(open_ledger):
    """A second handle on the same ledger: a new store object (memory: the same one)."""
    return open_ledger().store


def test_a_second_taker_waits_then_gets_lease_held_naming_the_holder(open_ledger):
    store, second = open_ledger().store, other_store(open_ledger)
    with store.lease("job", wait_s=0) as lease:
        assert lease.holder.pid == os.getpid()
        started = time.monotonic()
        with pytest.raises(LeaseHeld) as caught:
            second.lease("job", wait_s=0.3)
        assert time.monotonic() - started >= 0.3, "the second taker must wait before giving up"
        error = caught.value
        assert (error.name, error.pid, error.host, error.since) == \
            ("job", os.getpid(), lease.holder.host, lease.holder.since)
        assert f"pid {os.getpid()}" in str(error) and "waited 0.3 s" in str(error)
        # Another name is another lease.
        with second.lease("other-job", wait_s=0):
            pass
    # Released at the end of the block: the next taker gets it at once.
    with second.lease("job", wait_s=0) as again:
        assert not again.released
    assert again.released


def test_a_waiter_gets_the_lease_when_the_holder_releases_it(open_ledger):
    store, second = open_ledger().store, other_store(open_ledger)
    lease = store.lease("job", wait_s=0)
    timer = threading.Timer(0.3, lease.release)
    timer.start()
    try:
        started = time.monotonic()
        with second.lease("job", wait_s=10):
            waited = time.monotonic() - started
    finally:
        timer.cancel()
    assert 0.25 <= waited < 5, waited


def test_only_one_of_many_threads_holds_it_at_once(open_ledger):
    stores = [open_ledger().store for _ in range(4)]
    inside, most, errors = [0], [0], []
    guard = threading.Lock()

    def work(store) -> None:
        try:
            for _ in range(5):
                with store.lease("job", wait_s=30):
                    with guard:
                        inside[0] += 1
                        most[0] = max(most[0], inside[0])
                    time.sleep(0.005)
                    with guard:
                        inside[0] -= 1
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(store,)) for store in stores for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert most[0] == 1, "two holders held the lease at once"


def test_writes_through_a_lease_land_and_stop_at_release(open_ledger):
    store = open_ledger().store
    lease = store.lease("job", wait_s=0)
    lease.write([AuxChange("model:x", "a", b"1"), AuxChange("projection", "x", b"{}")])
    assert store.aux_get("model:x", "a") == b"1" and other_store(open_ledger).aux_get("projection", "x") == b"{}"
    lease.release()
    lease.release()  # twice is fine
    with pytest.raises(StorageError, match="released"):
        lease.write([AuxChange("model:x", "a", b"2")])
    assert store.aux_get("model:x", "a") == b"1"


def test_bad_names_and_waits_are_refused(ledger):
    for name in ["", "../x", "a/b", ".hidden", "x" * 201, None]:
        with pytest.raises(ValidationError) as caught:
            ledger.store.lease(name, wait_s=0)  # type: ignore[arg-type]
        assert caught.value.field == "name"
    for wait in [-1, float("nan"), "5", True]:
        with pytest.raises(ValidationError) as caught:
            ledger.store.lease("job", wait_s=wait)  # type: ignore[arg-type]
        assert caught.value.field == "wait_s"


def test_a_holder_that_dies_frees_the_lease(open_ledger, store_kind):
    """Persistent stores: the holder is another process, killed with SIGKILL (the kernel drops
    its flock; PostgreSQL ends its session). Memory: the only other holder there can be is
    another thread of this process, which lets go."""
    store = open_ledger().store
    if store_kind.persistent:
        child = subprocess.Popen([sys.executable, "-c", HOLDER, open_ledger.url], stdout=subprocess.PIPE)
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == b"held"
            with pytest.raises(LeaseHeld) as caught:
                store.lease("job", wait_s=0.2)
            assert caught.value.pid == child.pid, "the waiter must name the holding process"
            assert f"pid {child.pid}" in str(caught.value)
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait()
    else:
        lease = other_store(open_ledger).lease("job", wait_s=0)
        with pytest.raises(LeaseHeld):
            store.lease("job", wait_s=0.2)
        threading.Thread(target=lease.release).start()
    with store.lease("job", wait_s=10) as lease:
        assert lease.holder.pid == os.getpid()


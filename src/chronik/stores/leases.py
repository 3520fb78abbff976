"""Leases: at most one holder of a named lease on a ledger, across threads and processes.

A projection runner holds its projection's lease while it applies events, so two runners of one
projection never both apply an event (chronik.derive.projections). `Store.lease(name, wait_s)`
returns a held `Lease` (a context manager) or, after waiting `wait_s` seconds, raises LeaseHeld
naming who holds it (pid, host, since). The kinds:

- `LocalLeases`: a lock in this process, the `Store.lease` default; right for a store no other
  process can reach (memory).
- `take_file_lease`: `flock` on `<ledger>.lease-<name>` beside the ledger file (SQLite, JSON
  Lines). The kernel releases it when the process ends, however it ends (kill -9 included), so a
  crashed runner never leaves a stale lease. The file holds the holder's pid, host and time for
  the message of whoever waits. It is never deleted: a deleted lock file would let a second
  holder lock a new file while the first still holds the old one; a holder checks after locking
  that the path still names the file it locked.
- PostgreSQL: a session advisory lock on a connection held for the lease's life
  (chronik.stores.postgres_lease).

`Lease.write(changes)` is the store's `aux_write`, made while the lease is held. On PostgreSQL it
runs on the session that holds the lock, so a write can only commit while the lock is held (a
lost connection loses the lock and the write together). Where the kernel or this process holds
the lock, holding it until `release()` is certain, and it is a plain `aux_write`.

This module imports only the core: stores/base.py imports it for the `Store.lease` default.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import math
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from chronik import codec
from chronik.errors import LeaseHeld, StorageError, ValidationError

# How long a runner waits for another runner's lease by default, in seconds.
DEFAULT_LEASE_WAIT_S = 5.0
# How often a waiter tries again (a non-blocking flock or pg_try_advisory_lock each time).
LEASE_POLL_S = 0.05
LEASE_FILE_INFIX = ".lease-"
# Lease names become file names: no "/", and never "." or "..".
LEASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")

# The store's aux_write (a list of stores.base.AuxChange); typed loosely because base.py imports
# this module, not the other way round.
AuxWrite = Callable[[Sequence[Any]], None]


class LeaseHolder(msgspec.Struct, frozen=True):
    """Who holds a lease: for the message of whoever waits for it."""

    pid: int
    host: str
    since: str

    @classmethod
    def this_process(cls) -> LeaseHolder:
        # os.uname().nodename is gethostname() on POSIX, without importing socket (fast start).
        return cls(os.getpid(), os.uname().nodename, codec.format_time(datetime.now(UTC)))

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, since {self.since}"


def check_lease_name(name: object) -> str:
    if not isinstance(name, str) or not LEASE_NAME.fullmatch(name):
        raise ValidationError("name", f"{name!r} is not a lease name",
                              "use 1 to 200 letters, digits and _ . : - starting with a letter or digit")
    return name


def check_wait(wait_s: object, field: str = "wait_s") -> float:
    if isinstance(wait_s, bool) or not isinstance(wait_s, (int, float)) or math.isnan(wait_s) or wait_s < 0:
        raise ValidationError(field, f"{wait_s!r} is not a number of seconds >= 0",
                              "pass e.g. 5, 0 to try once, or math.inf to wait until it is free")
    return float(wait_s)


class Lease:
    """A held lease, released by `release()` or at the end of a `with` block."""

    def __init__(self, name: str, holder: LeaseHolder, write: AuxWrite) -> None:
        self.name = name
        self.holder = holder
        self._write = write
        self._released = False
        self._release_lock = threading.Lock()

    def write(self, changes: Sequence[Any]) -> None:
        """Apply auxiliary-record changes (atomically, durably) while this lease is held."""
        if self._released:
            raise StorageError(f"the lease {self.name} was released; take it again before writing")
        self._write(changes)

    @property
    def released(self) -> bool:
        return self._released

    def release(self) -> None:
        """Let the next holder in (safe to call twice)."""
        with self._release_lock:
            if self._released:
                return
            self._released = True
        self._let_go()

    def _let_go(self) -> None:
        """What releasing means for this kind of lease."""

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {'released' if self._released else 'held'}>"


def wait_for_lease(name: str, wait_s: float, try_take: Callable[[], Lease | None],
                   holder_of: Callable[[], LeaseHolder | None]) -> Lease:
    """The one waiting loop of every kind: `try_take()` until it returns the lease or `wait_s`
    passes (at least one try), then LeaseHeld naming the holder."""
    deadline = time.monotonic() + check_wait(wait_s)
    while True:
        lease = try_take()
        if lease is not None:
            return lease
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(LEASE_POLL_S, remaining))
    holder = holder_of()
    who = holder.describe() if holder else "holder unknown"
    raise LeaseHeld(f"the lease {name} is held by another holder ({who}); waited {wait_s:g} s",
                    name, *(astuple(holder) if holder else (None, None, None)))


def astuple(holder: LeaseHolder) -> tuple[int, str, str]:
    return holder.pid, holder.host, holder.since


# ---------------------------------------------------------------- in this process


class LocalLeases:
    """Leases of one store that only this process can reach: a name is held while it is in
    `_held` (under a lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, LeaseHolder] = {}

    def take(self, name: str, wait_s: float, write: AuxWrite) -> Lease:
        name = check_lease_name(name)

        def try_take() -> Lease | None:
            with self._lock:
                if name in self._held:
                    return None
                holder = self._held[name] = LeaseHolder.this_process()
            return _LocalLease(self, name, holder, write)

        def holder_of() -> LeaseHolder | None:
            with self._lock:
                return self._held.get(name)

        return wait_for_lease(name, wait_s, try_take, holder_of)

    def _drop(self, name: str) -> None:
        with self._lock:
            self._held.pop(name, None)


class _LocalLease(Lease):
    def __init__(self, leases: LocalLeases, name: str, holder: LeaseHolder, write: AuxWrite) -> None:
        super().__init__(name, holder, write)
        self._leases = leases

    def _let_go(self) -> None:
        self._leases._drop(self.name)


_local_leases: weakref.WeakKeyDictionary[object, LocalLeases] = weakref.WeakKeyDictionary()
_local_leases_lock = threading.Lock()


def local_leases(owner: object) -> LocalLeases:
    """The process-local leases of `owner` (a store), made on first use."""
    with _local_leases_lock:
        leases = _local_leases.get(owner)
        if leases is None:
            leases = _local_leases[owner] = LocalLeases()
        return leases


# ---------------------------------------------------------------- a file beside the ledger


def lease_file(ledger_path: str, name: str) -> str:
    return f"{ledger_path}{LEASE_FILE_INFIX}{name}"


def take_file_lease(ledger_path: str, name: str, wait_s: float, write: AuxWrite) -> Lease:
    """flock(LOCK_EX) on `<ledger_path>.lease-<name>` (module doc), waiting up to `wait_s`."""
    path = lease_file(ledger_path, check_lease_name(name))

    def try_take() -> Lease | None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise _os_error(exc, "cannot open the lease file", path) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            if not _names_same_file(fd, path):
                os.close(fd)  # removed or replaced by someone: lock the file the path names now
                return None
            holder = LeaseHolder.this_process()
            os.ftruncate(fd, 0)
            os.pwrite(fd, msgspec.json.encode(holder) + b"\n", 0)  # informative: no fsync needed
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise _os_error(exc, "cannot lock the lease file", path) from None
        return _FileLease(name, holder, write, fd)

    def holder_of() -> LeaseHolder | None:
        try:
            with open(path, "rb") as file:
                return msgspec.json.decode(file.read(), type=LeaseHolder)
        except (OSError, msgspec.DecodeError):
            return None  # being rewritten, or never written: say the holder is unknown

    return wait_for_lease(name, wait_s, try_take, holder_of)


def _names_same_file(fd: int, path: str) -> bool:
    try:
        held, named = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)


def _os_error(exc: OSError, doing: str, path: str) -> StorageError:
    """One line naming the path, the reason and the errno (as stores.base.environment_error)."""
    code = errno.errorcode.get(exc.errno, str(exc.errno)) if exc.errno else type(exc).__name__
    return StorageError(f"{doing} {path}: {exc.strerror or exc} [{code}]")


class _FileLease(Lease):
    def __init__(self, name: str, holder: LeaseHolder, write: AuxWrite, fd: int) -> None:
        super().__init__(name, holder, write)
        self._fd = fd

    def _let_go(self) -> None:
        # Closing the descriptor drops the flock; the file stays (module doc).
        with contextlib.suppress(OSError):
            os.close(self._fd)


__all__ = ["DEFAULT_LEASE_WAIT_S", "LEASE_FILE_INFIX", "Lease", "LeaseHolder", "LocalLeases",
           "check_lease_name", "check_wait", "lease_file", "local_leases", "take_file_lease",
           "wait_for_lease"]

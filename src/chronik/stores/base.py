"""The store contract: what every backend does, and the narrow protocols services use.

The ledger validates input and hands a store `StreamBatch`es of `PendingEvent`s whose data and
meta are already canonical bytes. The store, under its own write lock, checks idempotency and
expectations, assigns positions and versions, links each event into the hash chain
(`codec.event_hash`) and makes the whole call durable at once, or writes nothing. The rules it
applies under that lock are in `chronik.stores.write_rules`, the meaning of a filter in
`chronik.stores.filters`, and what the SQL stores share in `chronik.stores.sql`.

Every store passes the same suite, tests/contract/. A new store is a new module here plus a line
in `chronik.stores.open_store` and in the contract parametrisation.
"""

from __future__ import annotations

import abc
import errno
import time
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from chronik.errors import LimitExceeded, StorageError, ValidationError
from chronik.limits import DEFAULT_LIMITS, Limits
from chronik.model import (  # PendingEvent, StreamBatch, ReadFilter: the core's, named here too
    NO_FILTER,
    AppendResult,
    Event,
    Head,
    PendingEvent,
    ReadFilter,
    StreamBatch,
    StreamInfo,
)
from chronik.stores.filters import category_bounds, matches, text_haystack

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

# Named here too, so a store imports its whole toolkit from one place.
from chronik.stores.group_commit import GroupCommit
from chronik.stores.leases import DEFAULT_LEASE_WAIT_S, Lease, local_leases
from chronik.stores.write_rules import (
    Link,
    check_expectation,
    check_import,
    check_removal_rows,
    link_batch,
    reject_partial_replay,
    replayed_result,
)

__all__ = ["NO_FILTER", "PendingEvent", "ReadFilter", "StreamBatch", "Store", "EventReader", "AuxRecords",
           "EventStore", "Signer", "StoreOwner", "store_of", "limits_of", "ChangeSignal", "wait_for_head",
           "environment_error", "category_bounds", "matches", "text_haystack", "Link", "check_expectation",
           "check_import", "check_removal_rows", "link_batch", "reject_partial_replay", "replayed_result"]

# signer(hash) -> sig: computes an event's signature from its hash (chronik.integrity.signing).
# It travels with each append, so two ledgers over one store each sign with their own key.
Signer = Callable[[str], str]

# Rows fetched per round trip by stores that page their reads.
READ_PAGE_ROWS = 1_000
# How often Store.wait_for_change polls the head when a store has no cheaper signal.
DEFAULT_CHANGE_POLL_S = 0.05


class AuxChange(msgspec.Struct, frozen=True):
    """One change to an auxiliary record: `value` None deletes it."""

    kind: str
    key: str
    value: bytes | None


# Auxiliary records per aux_write call, and per aux_range page.
MAX_AUX_CHANGES = 10_000
MAX_AUX_RANGE = 10_000


def check_aux_changes(changes: Sequence[AuxChange]) -> list[AuxChange]:
    """Every store checks a whole aux_write before applying any of it (all or none)."""
    changes = list(changes)
    if len(changes) > MAX_AUX_CHANGES:
        raise LimitExceeded("changes", "max_aux_changes", MAX_AUX_CHANGES, len(changes),
                            "write in several calls")
    for index, change in enumerate(changes):
        if not isinstance(change, AuxChange) or not isinstance(change.kind, str) \
                or not isinstance(change.key, str) or not change.kind:
            raise ValidationError(f"changes[{index}]", "must be an AuxChange with str kind and key",
                                  "build it as AuxChange(kind, key, value)")
        if change.value is not None and not isinstance(change.value, bytes):
            raise ValidationError(f"changes[{index}].value", "must be bytes or None",
                                  "encode the value, e.g. with msgspec.json.encode")
    return changes


class StorageFinding(msgspec.Struct, frozen=True, kw_only=True):
    """One thing a store's own check found wrong with its files (or repaired).

    `code` is stable for scripts (torn_tail, cut_tail, engine_check, unreadable); `message` is the
    engine's or the store's own words; `detail` carries what locates it (byte ranges, record
    counts, the quarantine file)."""

    code: str
    message: str
    detail: dict[str, Any] = msgspec.field(default_factory=dict)


class SchemaUpgrade(msgspec.Struct, frozen=True, kw_only=True):
    """What `Store.upgrade` did: the migrations applied and the schema version now."""

    kind: str
    applied: list[int]
    schema_version: int | None
    message: str
    schema: str | None = None


class EventReader(Protocol):
    """What services that read events need of a store (replay, verify, export, copy, follow)."""

    url: str

    def read_stream(self, stream: str, start: int, end: int | None, backwards: bool,
                    limit: int | None) -> Iterator[Event]: ...

    def read_all(self, after: int, limit: int | None, filter: ReadFilter,
                 until_position: int | None = None) -> Iterator[Event]: ...

    def count(self, filter: ReadFilter, after: int = 0) -> int: ...

    def head(self) -> Head: ...

    def wait_for_change(self, known_position: int, timeout_s: float) -> bool: ...


class AuxRecords(Protocol):
    """What services that keep derived data need of a store (snapshots, checkpoints, parked
    events, read models, retention policies), with the change signal that wakes them."""

    def aux_get(self, kind: str, key: str) -> bytes | None: ...

    def aux_range(self, kind: str, low: str = "", high: str | None = None, reverse: bool = False,
                  limit: int | None = None) -> list[tuple[str, bytes]]: ...

    def aux_write(self, changes: Sequence[AuxChange]) -> None: ...

    def wait_for_change(self, known_position: int, timeout_s: float) -> bool: ...


class EventStore(EventReader, AuxRecords, Protocol):
    """Both: what a service that reads events and keeps derived data needs."""


class StoreOwner(Protocol):
    """Anything that holds a store, the limits its input is checked against and what signs its
    appends (the Ledger facade does). Services accept one wherever they accept a store, so
    callers can pass either, while the services themselves know nothing above this layer."""

    @property
    def store(self) -> Store: ...

    @property
    def limits(self) -> Limits: ...

    @property
    def signer(self) -> Signer | None: ...


def store_of(source: Store | StoreOwner) -> Store:
    """The store behind `source` (a store, or an owner of one)."""
    return source if isinstance(source, Store) else source.store


def limits_of(source: Store | StoreOwner) -> Limits:
    """The limits that apply to input for `source` (the defaults for a bare store)."""
    return DEFAULT_LIMITS if isinstance(source, Store) else source.limits


def signer_of(source: Store | StoreOwner) -> Signer | None:
    """What signs appends made for `source` (nothing for a bare store)."""
    return None if isinstance(source, Store) else source.signer


class Store(abc.ABC):
    """One backend. Methods are safe to call from several threads."""

    url: str
    # The file the ledger lives in, for stores that have one (archives and sidecars go beside it).
    path: str | None = None
    # Stores that group concurrent appends into one commit (SQLite, PostgreSQL; ADR 0012) expose
    # their GroupCommit here: its counters and observers (metrics) are read through it.
    group_commit: GroupCommit[Any] | None = None

    @abc.abstractmethod
    def append(self, batches: Sequence[StreamBatch], signer: Signer | None = None) -> dict[str, AppendResult]:
        """Record all batches atomically and durably, or raise and record nothing. With a
        `signer`, every event is signed under the write lock right after its hash is linked
        (docs/adr/0009)."""

    def append_future(self, batches: Sequence[StreamBatch], signer: Signer | None = None
                      ) -> Future[dict[str, AppendResult]]:
        """`append` without blocking the caller: a future of its result (asyncio awaits it with
        `asyncio.wrap_future`). Stores with group commit queue it for the next commit; the
        default runs `append` on a small shared pool of threads."""
        return _append_threads().submit(self.append, batches, signer)

    @abc.abstractmethod
    def import_events(self, events: Sequence[Event]) -> None:
        """Append already-recorded events verbatim (positions, versions, ids, times, data, meta,
        prev, hash and sig kept), atomically and durably, under the store's write lock.

        The caller has re-verified the hashes (chain.ChainChecker); the store checks, under its
        lock, that the events continue its head (`check_import`) and raises IntegrityError,
        writing nothing, when they do not."""

    @abc.abstractmethod
    def read_stream(self, stream: str, start: int, end: int | None, backwards: bool,
                    limit: int | None) -> Iterator[Event]:
        """Events of one stream with start <= version <= end, in version order."""

    @abc.abstractmethod
    def read_all(self, after: int, limit: int | None, filter: ReadFilter,
                 until_position: int | None = None) -> Iterator[Event]:
        """Matching events with position > after (and <= until_position), in position order."""

    @abc.abstractmethod
    def count(self, filter: ReadFilter, after: int = 0) -> int:
        """How many events match `filter` with position > after."""

    @abc.abstractmethod
    def streams(self, category: str | None) -> list[StreamInfo]:
        """Every stream (of one category), ordered by name."""

    @abc.abstractmethod
    def head(self) -> Head:
        """The last position and its hash."""

    @abc.abstractmethod
    def stats(self) -> dict[str, Any]:
        """events, streams, size_bytes, first_time, last_time, types {type: count}."""

    # Auxiliary records: derived data kept beside the events (snapshots, subscription
    # checkpoints, parked events, projection read models). Never part of the chain or of
    # verify; keys order by code point in every store.

    @abc.abstractmethod
    def aux_get(self, kind: str, key: str) -> bytes | None:
        """The value of one auxiliary record, or None."""

    @abc.abstractmethod
    def aux_range(self, kind: str, low: str = "", high: str | None = None, reverse: bool = False,
                  limit: int | None = None) -> list[tuple[str, bytes]]:
        """Records of `kind` with low <= key < high (no upper bound when None), in key order."""

    @abc.abstractmethod
    def aux_write(self, changes: Sequence[AuxChange]) -> None:
        """Apply every change atomically and durably (all or none)."""

    def remove_events(self, positions: Sequence[int]) -> int:
        """Remove the events at `positions`, which retention has already archived and fsynced
        (chronik.lifecycle.retention), atomically and durably; returns how many were removed.

        Positions that are not live (already removed) are ignored, so an interrupted removal can
        simply be run again. Positions are never reused: later events keep theirs, the head's
        position and hash stay, and each stream's version continues past its removed events.
        Rules (ValidationError, nothing removed): the head event is never removed, and of each
        stream only a prefix of its live events (so live versions stay contiguous)."""
        raise StorageError(f"{type(self).__name__} cannot remove archived events")

    @abc.abstractmethod
    def close(self) -> None:
        """Release files and connections. Further calls raise StorageError."""

    # Optional capabilities: every store has them, with these defaults.

    def ledger_id(self) -> str | None:
        """A stable id of this ledger (anchors carry it), or None for a store that keeps none."""
        return None

    def upgrade(self) -> SchemaUpgrade:
        """Apply pending schema migrations (safe to run twice); what was done."""
        return SchemaUpgrade(kind=self.kind, applied=[], schema_version=None,
                             message="nothing to upgrade: this store has no schema")

    def check_storage(self, thorough: bool = False) -> list[StorageFinding]:
        """The storage engine's own check of its files (SQLite's quick_check, or integrity_check
        when `thorough`; a JSONL torn or cut tail), read-only: what is wrong, or [] when nothing
        is. `verify` reports each finding as a failed check."""
        return []

    def set_text_index(self, enabled: bool) -> bool:
        """Switch an optional text index on or off (SQLite and PostgreSQL, ADR 0013); whether
        anything changed. Stores without a text index refuse."""
        raise ValidationError("text_index", f"{self.kind} ledgers have no text index to switch",
                              "memory and JSON Lines ledgers answer text filters by scanning")

    def repair(self) -> list[StorageFinding]:
        """Repair what `check_storage` finds that can be repaired without losing a committed
        event (a JSONL torn tail: its bytes are moved to a quarantine file, never destroyed);
        what was repaired. Stores with nothing to repair return []."""
        return []

    def lease(self, name: str, wait_s: float = DEFAULT_LEASE_WAIT_S) -> Lease:
        """Hold the lease `name` until the returned Lease is released (a context manager): no
        other holder, in any thread or process, has it meanwhile. Waits up to `wait_s` seconds
        (0: one try) for another holder, then raises LeaseHeld naming it. Write what must only be
        written under the lease with `Lease.write` (chronik.stores.leases).

        This default is a lock in this process: right for a store no other process can reach
        (memory). Stores that several processes share override it (SQLite and JSON Lines: a
        file lock beside the ledger; PostgreSQL: a session advisory lock)."""
        return local_leases(self).take(name, wait_s, self.aux_write)

    @property
    def kind(self) -> str:
        """The store's scheme: memory, sqlite, jsonl or postgresql."""
        return self.url.split(":", 1)[0]

    # Live change detection, for subscriptions (chronik.derive.subscriptions).

    def wait_for_change(self, known_position: int, timeout_s: float) -> bool:
        """Wait until the head is past `known_position` or `timeout_s` passes; True when it is.

        A hint only: callers always resume by position (head, then read_all up to it), so a
        spurious True or a missed wake-up costs a round trip, never an event. The loop is
        `wait_for_head`; each store brings its cheap signal (`change_signal`)."""
        return wait_for_head(lambda: self.head().position, known_position, timeout_s,
                             self.change_signal())

    def change_signal(self) -> ChangeSignal:
        """A signal armed now: what tells `wait_for_change` that the head may have moved since.
        This default has no signal and polls."""
        return PollingSignal()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


# ---------------------------------------------------------------- waiting for a change


class ChangeSignal(Protocol):
    """A store's cheap "something was committed" signal, armed when it was made (before the
    head is first read, so a commit in between is never missed)."""

    def wait(self, known_position: int, timeout_s: float) -> bool:
        """Block for at most `timeout_s`; True when the head may now be past `known_position`
        (re-read it), False when nothing happened."""
        ...


class PollingSignal:
    """No signal at all: every short sleep says "look again"."""

    def wait(self, known_position: int, timeout_s: float) -> bool:
        time.sleep(min(DEFAULT_CHANGE_POLL_S, timeout_s))
        return True


def wait_for_head(head_position: Callable[[], int], known_position: int, timeout_s: float,
                  signal: ChangeSignal) -> bool:
    """The one waiting loop of every store: True as soon as `head_position()` is past
    `known_position`, False when `timeout_s` passes first. The head is read once at the start
    and then only when `signal` says it may have moved."""
    deadline = time.monotonic() + max(timeout_s, 0.0)
    while True:
        if head_position() > known_position:
            return True
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if signal.wait(known_position, remaining):
                break


def environment_error(exc: OSError, doing: str) -> StorageError:
    """An operating-system error as one line naming the path, the reason and the errno
    (`cannot create folder /x: Permission denied [EACCES]`), never a traceback."""
    name = errno.errorcode.get(exc.errno, str(exc.errno)) if exc.errno else type(exc).__name__
    where = f" {exc.filename}" if exc.filename else ""
    return StorageError(f"{doing}{where}: {exc.strerror or exc} [{name}]")


@cache
def _append_threads() -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="chronik append")

"""Projections: a read model kept up to date from the ledger, with exactly-once application.

    def count_orders(model, event):            # model: get/put/delete of JSON values by key
        model.put(event.stream, model.get(event.stream, 0) + 1)

    orders = Projection("order-counts", count_orders, filter=Filter(categories=["order"]))
    runner = ProjectionRunner(ledger, orders)
    runner.run_until_head()                    # or runner.run() to follow live; runner.stop()
    runner.model.get("order:1")

    class Totals(Projection):                  # or a class: override apply()
        name, version = "totals", 1
        def apply(self, model, event): ...

Exactly once
------------
Events are applied in position order, in batches (at most `batch_events` events, and
MAX_AUX_CHANGES records). A batch's read-model changes and the projection's checkpoint go to
the store in ONE `aux_write`, which is atomic and durable on every store (memory, SQLite,
JSONL's sidecar SQLite, PostgreSQL). A crash anywhere leaves the read model and its checkpoint
consistent: after a restart the runner resumes after the checkpoint, so no event is applied
twice or missed. Within a batch, `model.get` sees the batch's own uncommitted writes.

A handler that raises has that event's changes discarded and is retried (delivery.py); past the
retry budget the event is parked (parking.py) in the same write that moves the checkpoint past
it. `replay_parked` applies parked events later, each with its parked record's removal in one
write.

One runner at a time
--------------------
Two runners of one projection would both apply each event. So every call that applies events or
writes the read model (`run*`, `rebuild`, `reset`, `replay_parked`) holds the store's lease
`projection.NAME` (`Store.lease`: a file lock beside a SQLite or JSONL ledger, a session advisory
lock on PostgreSQL, a lock in this process for memory) and writes through it (`Lease.write`:
on PostgreSQL on the very session that holds the lock, so a write cannot commit once the lock
is lost). A second runner, in any process, waits up to `lease_wait_s` for the first to finish,
then raises LeaseHeld naming the holder's pid, host and start time. The lease is released when
the call returns, or by the kernel / the server when the process dies.

Mirrors
-------
A projection that keeps a table outside the ledger current (the workflows pack's legacy table)
cannot join the store's write. It overrides `before_commit()`: called before each batch's
read-model changes and checkpoint are written, it writes what the batch changed to the other
system, idempotently (whole rows, upserted). A crash between the two applies the batch again
after the restart and writes the same rows again; the other way round (checkpoint first) a
crash would skip them for good.

Records
-------
`projection` / NAME: `{"position", "generation", "version", "updated", "stale"}`, the checkpoint.
`model:NAME:GENERATION` / KEY: the read model, JSON values.
`rebuild()` starts a new generation at position 0 in one write (readers see either the old model
or the new, growing one), then deletes the old generation's records in bounded chunks.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import msgspec

from chronik import rules
from chronik.derive.checkpoints import check_name, now_text
from chronik.derive.delivery import CircuitBreaker, RetryPolicy, Sleep, Stopped, deliver
from chronik.derive.parking import (
    ParkedEvent,
    ReplayOutcome,
    discard_parked,
    list_parked,
    park_changes,
    replay_parked,
)
from chronik.derive.read_model import (
    MAX_AUX_RANGE,
    MAX_BATCH_CHANGES,
    MODEL_KIND_PREFIX,
    PROJECTION_KIND,
    ModelTransaction,
    ProjectionMeta,
    ReadModel,
    load_meta,
    meta_change,
    model_kind,
)
from chronik.errors import LeaseHeld, NotFound, ValidationError
from chronik.model import Event, Filter
from chronik.stores.base import MAX_AUX_CHANGES, AuxChange, Store, StoreOwner, limits_of, store_of
from chronik.stores.catchup import HeadReached, catch_up_then_live
from chronik.stores.leases import DEFAULT_LEASE_WAIT_S, Lease, check_wait

__all__ = ["MODEL_KIND_PREFIX", "PROJECTION_KIND", "ModelTransaction", "Projection", "ProjectionRunner",
           "ProjectionStatus", "ReadModel", "list_projections", "model_kind", "projection_status"]

# Events applied per aux_write, at most.
DEFAULT_BATCH_EVENTS = 500
WAIT_FOR_CHANGE_S = 0.2

ApplyFn = Callable[[ModelTransaction, Event], Any]


class Projection:
    """What a projection is: a name, a version, a filter and `apply(model, event)`.

    Pass `handler`, or subclass and override `apply`. Changing what apply does to existing
    events means a new `version`, and a rebuild (runners refuse a model of another version)."""

    name: str = ""
    version: int = 1
    filter: Filter | None = None
    batch_events: int = DEFAULT_BATCH_EVENTS

    def __init__(self, name: str | None = None, handler: ApplyFn | None = None, *,
                 filter: Filter | None = None, version: int | None = None,
                 batch_events: int | None = None) -> None:
        self.name = check_name(name if name is not None else self.name, "projection.name")
        self._handler = handler
        if filter is not None:
            self.filter = filter
        if version is not None:
            self.version = version
        if batch_events is not None:
            self.batch_events = batch_events
        if not isinstance(self.version, int) or self.version < 1:
            raise ValidationError("projection.version", f"{self.version!r} is not >= 1",
                                  "pass version=1, and raise it when apply changes meaning")
        if not isinstance(self.batch_events, int) or not 1 <= self.batch_events <= MAX_BATCH_CHANGES:
            raise ValidationError("projection.batch_events", f"{self.batch_events!r} is out of range",
                                  f"pass 1 to {MAX_BATCH_CHANGES}")
        if handler is None and type(self).apply is Projection.apply:
            raise ValidationError("projection.handler", "a projection needs a handler",
                                  "pass Projection(name, handler) or override apply(model, event)")

    def apply(self, model: ModelTransaction, event: Event) -> None:
        assert self._handler is not None
        self._handler(model, event)

    def before_commit(self) -> None:
        """Called before each batch (and each replayed parked event) is committed: write what
        the batch changed to a system outside the ledger here, idempotently (module doc:
        Mirrors). A raise leaves the batch uncommitted; the next run applies it again."""

    def __repr__(self) -> str:
        return f"<Projection {self.name} v{self.version}>"


class ProjectionStatus(msgspec.Struct, frozen=True):
    name: str
    position: int
    head: int
    lag: int
    generation: int
    version: int
    updated: str
    parked: int


class ProjectionRunner:
    """Applies a projection to a ledger (module doc): catch-up, live, rebuild, parked events."""

    def __init__(self, source: Store | StoreOwner, projection: Projection, *, retry: RetryPolicy | None = None,
                 breaker: CircuitBreaker | None = None, sleep: Sleep | None = None,
                 rng: random.Random | None = None, wait_for_change_s: float = WAIT_FOR_CHANGE_S,
                 lease_wait_s: float = DEFAULT_LEASE_WAIT_S) -> None:
        if not isinstance(projection, Projection):
            raise ValidationError("projection", f"must be a Projection, got {type(projection).__name__}",
                                  "pass Projection(name, handler) or an instance of a subclass")
        self.store: Store = store_of(source)
        self.projection = projection
        self.name = projection.name
        self._filter = rules.read_filter(projection.filter, limits_of(source))
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self._stop = threading.Event()
        self._sleep: Sleep = sleep or self._stop.wait
        self._rng = rng
        self._wait_for_change_s = wait_for_change_s
        self.lease_wait_s = check_wait(lease_wait_s, "lease_wait_s")
        # The lease this runner holds, per thread: a call made inside another (rebuild runs
        # reset, then run_until_head) reuses it; another thread's call must take its own.
        self._held = threading.local()
        self.model = ReadModel(self.store, self.name)
        self.applied = 0
        self.parked_count = 0

    # ------------------------------------------------------------ running

    def run_until_head(self) -> ProjectionStatus:
        """Apply every event up to the head as it is now; return the status."""
        with self._leased():
            head = self.store.head().position
            self._run(lambda position: position >= head)
            return self.status()

    def run_until(self, position: int, timeout_s: float | None = None) -> bool:
        """Apply events (waiting for live ones) until the checkpoint reaches `position`."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._leased():
            return self._run(lambda current: current >= position, deadline)

    def run(self) -> None:
        """Apply events, catch-up then live, until `stop()`."""
        with self._leased():
            self._run(lambda _position: False)

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------ the lease

    @contextmanager
    def _leased(self) -> Iterator[Lease]:
        """Hold the projection's lease for the block (module doc: one runner at a time)."""
        held: Lease | None = getattr(self._held, "lease", None)
        if held is not None:
            yield held
            return
        try:
            lease = self.store.lease(f"projection.{self.name}", self.lease_wait_s)
        except LeaseHeld as exc:
            who = "runner in this process" if exc.pid == os.getpid() else "process"
            holder = f"pid {exc.pid} on {exc.host}, since {exc.since}" if exc.pid else "holder unknown"
            raise LeaseHeld(f"projection {self.name} is being run by another {who} ({holder}); stop "
                            f"it or wait for it (waited {self.lease_wait_s:g} s)",
                            exc.name, exc.pid, exc.host, exc.since) from None
        self._held.lease = lease
        try:
            yield lease
        finally:
            self._held.lease = None
            lease.release()

    def _write(self, changes: list[AuxChange]) -> None:
        """Write under the lease this thread holds (every caller holds it: `_leased`)."""
        lease: Lease | None = getattr(self._held, "lease", None)
        assert lease is not None, "projection records are written only under the lease"
        lease.write(changes)

    def _run(self, done: Callable[[int], bool], deadline: float | None = None) -> bool:
        meta = self._start()
        if done(meta.position):
            return True
        items = catch_up_then_live(self.store, meta.position, self._filter, stop=self._stop.is_set,
                                   wait_s=self._wait_for_change_s, deadline=deadline)
        txn = ModelTransaction(self.store, model_kind(self.name, meta.generation))
        extra: list[AuxChange] = []
        in_batch = 0
        try:
            for item in items:
                if isinstance(item, HeadReached):
                    # The whole range is read: the checkpoint moves to the head even when the
                    # filter matched nothing in the last stretch.
                    meta, extra, in_batch = self._commit(meta, txn, extra, item.position), [], 0
                    if done(meta.position):
                        return True
                    continue
                extra.extend(self._apply_one(txn, item))
                in_batch += 1
                if in_batch >= self.projection.batch_events or txn._pending() + len(extra) >= MAX_BATCH_CHANGES:
                    meta, extra, in_batch = self._commit(meta, txn, extra, item.position), [], 0
                if self._stop.is_set():
                    break
        except Stopped:
            return False
        finally:
            items.close()
        if in_batch:  # stopped mid-range: keep what was applied
            self._commit(meta, txn, extra, item.position)
        return False

    def _start(self) -> ProjectionMeta:
        meta = load_meta(self.store, self.name)
        if meta is None:
            meta = ProjectionMeta(version=self.projection.version, updated=now_text())
            self._write([meta_change(self.name, meta)])
        if meta.version != self.projection.version:
            raise ValidationError("projection.version",
                                  f"{self.name} read model was built by version {meta.version}, "
                                  f"not {self.projection.version}",
                                  f"rebuild it: chronik projections rebuild {self.name} --projection ...")
        self._collect_stale(meta)
        return meta

    def _apply_one(self, txn: ModelTransaction, event: Event) -> list[AuxChange]:
        def attempt(current: Event) -> None:
            txn._begin_event()
            try:
                self.projection.apply(txn, current)
            except BaseException:
                txn._end_event(ok=False)
                raise
            txn._end_event(ok=True)

        outcome = deliver(event, attempt, self.retry, self.breaker, self._sleep, self._rng,
                          self._stop.is_set)
        if outcome.ok:
            self.applied += 1
            return []
        self.parked_count += 1
        return park_changes(self.name, event, outcome.error or "", outcome.attempts)

    def _commit(self, meta: ProjectionMeta, txn: ModelTransaction, extra: list[AuxChange], position: int) -> ProjectionMeta:
        assert position >= meta.position, "a projection's checkpoint only moves forward"
        new_meta = msgspec.structs.replace(meta, position=position, updated=now_text())
        self.projection.before_commit()
        self._write([*txn._changes(), *extra, meta_change(self.name, new_meta)])
        txn._clear()
        return new_meta

    # ------------------------------------------------------------ rebuild and status

    def rebuild(self) -> ProjectionStatus:
        """Start over from position 0 under a new generation, then run up to the head."""
        with self._leased():
            self.reset()
            return self.run_until_head()

    def reset(self) -> None:
        """Switch to an empty read model at position 0 (one write), drop the projection's
        parked events, and delete the old generation's records."""
        with self._leased():
            self._reset()

    def _reset(self) -> None:
        discard_parked(self.store, self.name)
        meta = load_meta(self.store, self.name)
        if meta is None:
            fresh = ProjectionMeta(version=self.projection.version, updated=now_text())
        else:
            fresh = ProjectionMeta(position=0, generation=meta.generation + 1, version=self.projection.version,
                          updated=now_text(), stale=sorted({*meta.stale, meta.generation}))
        self._write([meta_change(self.name, fresh)])
        self._collect_stale(fresh)

    def _collect_stale(self, meta: ProjectionMeta) -> None:
        if not meta.stale:
            return
        for generation in meta.stale:
            kind = model_kind(self.name, generation)
            while page := self.store.aux_range(kind, limit=MAX_AUX_CHANGES):
                self._write([AuxChange(kind, key, None) for key, _ in page])
        current = load_meta(self.store, self.name)
        assert current is not None
        self._write([meta_change(self.name, msgspec.structs.replace(current, stale=[]))])

    def status(self) -> ProjectionStatus:
        return projection_status(self.store, self.name)

    # ------------------------------------------------------------ parked events

    def parked(self) -> list[ParkedEvent]:
        return list_parked(self.store, self.name)

    def replay_parked(self, positions: Sequence[int] | None = None) -> list[ReplayOutcome]:
        """Apply parked events once each (fixed handler): the read-model changes and the
        parked record's removal in one write; a failure keeps it parked."""
        with self._leased():
            return self._replay_parked(positions)

    def _replay_parked(self, positions: Sequence[int] | None) -> list[ReplayOutcome]:
        meta = self._start()

        def commit(event: Event, changes: list[AuxChange]) -> None:
            txn = ModelTransaction(self.store, model_kind(self.name, meta.generation))
            txn._begin_event()
            self.projection.apply(txn, event)
            txn._end_event(ok=True)
            self.projection.before_commit()
            self._write([*txn._changes(), *changes])

        return replay_parked(self.store, self.name, None, positions, commit)


def projection_status(source: Store | StoreOwner, name: str) -> ProjectionStatus:
    store = store_of(source)
    check_name(name, "name")
    meta = load_meta(store, name)
    if meta is None:
        raise NotFound(f"no projection named {name!r} has run on this ledger; see "
                       f"`chronik projections list`")
    head = store.head().position
    parked = len(store.aux_range(f"parked:{name}", limit=MAX_AUX_RANGE))
    return ProjectionStatus(name, meta.position, head, max(head - meta.position, 0), meta.generation,
                            meta.version, meta.updated, parked)


def list_projections(source: Store | StoreOwner) -> list[ProjectionStatus]:
    store = store_of(source)
    return [projection_status(store, key) for key, _ in store.aux_range(PROJECTION_KIND)]

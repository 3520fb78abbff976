"""Deriving state from events (the service layer above the ledger, DESIGN section 7).

Reducers, replay and time travel, snapshots and diffs (Ledger.replay, Ledger.diff and
Ledger.snapshot delegate here; see docs/adr/0008-derive-behind-the-facade.md):
reducer.py (Reducer, handles), replay.py (ReplayResult, targets, folding), snapshots.py
(storage as auxiliary records, checks, retention), diff.py (structural diff and its causes),
reducer_import.py (MODULE:NAME for the CLI).

Subscriptions and projections (catch-up then live delivery, checkpoints, retries, a circuit
breaker, parked events, read models):
"""

from typing import TYPE_CHECKING

from chronik.lazy import lazy_exports

if TYPE_CHECKING:  # for type checkers; at run time each name loads on first use
    from chronik.derive.checkpoints import Checkpoint, list_checkpoints, load_checkpoint
    from chronik.derive.delivery import BreakerState, CircuitBreaker, Delivery, RetryPolicy
    from chronik.derive.diff import Cause, Change, Diff, PointInfo
    from chronik.derive.parking import ParkedEvent, ReplayOutcome, discard_parked, list_parked, replay_parked
    from chronik.derive.projections import (
        ModelTransaction,
        Projection,
        ProjectionRunner,
        ProjectionStatus,
        ReadModel,
        list_projections,
        projection_status,
    )
    from chronik.derive.reducer import Reducer, UnhandledEvent, handles
    from chronik.derive.replay import ReplayResult
    from chronik.derive.snapshots import Snapshot, SnapshotStatus
    from chronik.derive.subscriptions import HandlerFailed, Subscription

__all__ = [
    # reducers, replay, snapshots, diff
    "Cause",
    "Change",
    "Diff",
    "PointInfo",
    "Reducer",
    "ReplayResult",
    "Snapshot",
    "SnapshotStatus",
    "UnhandledEvent",
    "handles",
    # subscriptions, projections
    "BreakerState",
    "Checkpoint",
    "CircuitBreaker",
    "Delivery",
    "HandlerFailed",
    "ModelTransaction",
    "ParkedEvent",
    "Projection",
    "ProjectionRunner",
    "ProjectionStatus",
    "ReadModel",
    "ReplayOutcome",
    "RetryPolicy",
    "Subscription",
    "discard_parked",
    "list_checkpoints",
    "list_parked",
    "list_projections",
    "load_checkpoint",
    "projection_status",
    "replay_parked",
]

# Loaded on first use, so importing one derive module (replay, for `chronik ext status`) does
# not load subscriptions and projections too.
_LAZY = {
    "Checkpoint": "chronik.derive.checkpoints",
    "list_checkpoints": "chronik.derive.checkpoints",
    "load_checkpoint": "chronik.derive.checkpoints",
    "BreakerState": "chronik.derive.delivery",
    "CircuitBreaker": "chronik.derive.delivery",
    "Delivery": "chronik.derive.delivery",
    "RetryPolicy": "chronik.derive.delivery",
    "Cause": "chronik.derive.diff",
    "Change": "chronik.derive.diff",
    "Diff": "chronik.derive.diff",
    "PointInfo": "chronik.derive.diff",
    "ParkedEvent": "chronik.derive.parking",
    "ReplayOutcome": "chronik.derive.parking",
    "discard_parked": "chronik.derive.parking",
    "list_parked": "chronik.derive.parking",
    "replay_parked": "chronik.derive.parking",
    "ModelTransaction": "chronik.derive.projections",
    "Projection": "chronik.derive.projections",
    "ProjectionRunner": "chronik.derive.projections",
    "ProjectionStatus": "chronik.derive.projections",
    "ReadModel": "chronik.derive.projections",
    "list_projections": "chronik.derive.projections",
    "projection_status": "chronik.derive.projections",
    "Reducer": "chronik.derive.reducer",
    "UnhandledEvent": "chronik.derive.reducer",
    "handles": "chronik.derive.reducer",
    "ReplayResult": "chronik.derive.replay",
    "Snapshot": "chronik.derive.snapshots",
    "SnapshotStatus": "chronik.derive.snapshots",
    "HandlerFailed": "chronik.derive.subscriptions",
    "Subscription": "chronik.derive.subscriptions",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)

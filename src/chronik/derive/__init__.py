"""Deriving state from events (the service layer above the ledger, DESIGN section 7).

Reducers, replay and time travel, snapshots and diffs (Ledger.replay, Ledger.diff and
Ledger.snapshot delegate here; see docs/adr/0008-derive-behind-the-facade.md):
reducer.py (Reducer, handles), replay.py (ReplayResult, targets, folding), snapshots.py
(storage as auxiliary records, checks, retention), diff.py (structural diff and its causes),
reducer_import.py (MODULE:NAME for the CLI).

Subscriptions and projections (catch-up then live delivery, checkpoints, retries, a circuit
breaker, parked events, read models):
"""

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

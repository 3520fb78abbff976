"""chronik: an append-only, hash-chained event ledger.

    import chronik
    from chronik import NewEvent, Expect, Filter

    with chronik.open_ledger("sqlite:///tmp/ledger.db") as ledger:
        ledger.append("order:1", [NewEvent("created", {"n": 1})], expect=Expect.NO_STREAM)
        for event in ledger.read_stream("order:1"):
            print(event.version, event.type, event.data)
"""

from chronik.errors import (
    ChronikError,
    ConcurrencyError,
    DuplicateIdError,
    IntegrityError,
    LimitExceeded,
    NotFound,
    StorageError,
    StoreBusy,
    ValidationError,
)
from chronik.ledger import Ledger, open_ledger
from chronik.limits import Limits
from chronik.model import (
    AppendResult,
    Event,
    Expect,
    Filter,
    Head,
    NewEvent,
    Page,
    Problem,
    StreamInfo,
    VerifyReport,
)

__version__ = "0.1.0"

__all__ = [
    "CircuitBreaker",
    "Projection",
    "ProjectionRunner",
    "RetryPolicy",
    "Subscription",
    "Cause",
    "Change",
    "Diff",
    "Reducer",
    "ReplayResult",
    "Snapshot",
    "UnhandledEvent",
    "handles",
    "AppendResult",
    "ChronikError",
    "ConcurrencyError",
    "DuplicateIdError",
    "Event",
    "Expect",
    "Filter",
    "Head",
    "IntegrityError",
    "Ledger",
    "LimitExceeded",
    "Limits",
    "NewEvent",
    "NotFound",
    "Page",
    "Problem",
    "StorageError",
    "StoreBusy",
    "StreamInfo",
    "ValidationError",
    "VerifyReport",
    "open_ledger",
]

# The derive services (reducers, replay, subscriptions, projections) load on first use, so that
# `import chronik` and commands that only read stay fast (DESIGN section 4).
_LAZY = {
    "CircuitBreaker": "chronik.derive.delivery",
    "RetryPolicy": "chronik.derive.delivery",
    "Cause": "chronik.derive.diff",
    "Change": "chronik.derive.diff",
    "Diff": "chronik.derive.diff",
    "Projection": "chronik.derive.projections",
    "ProjectionRunner": "chronik.derive.projections",
    "Reducer": "chronik.derive.reducer",
    "UnhandledEvent": "chronik.derive.reducer",
    "handles": "chronik.derive.reducer",
    "ReplayResult": "chronik.derive.replay",
    "Snapshot": "chronik.derive.snapshots",
    "Subscription": "chronik.derive.subscriptions",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chronik' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


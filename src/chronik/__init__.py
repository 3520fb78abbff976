"""chronik: an append-only, hash-chained event ledger.

    import chronik
    from chronik import NewEvent, Expect, Filter

    with chronik.open_ledger("sqlite:///tmp/ledger.db") as ledger:
        ledger.append("order:1", [NewEvent("created", {"n": 1})], expect=Expect.NO_STREAM)
        for event in ledger.read_stream("order:1"):
            print(event.version, event.type, event.data)
"""

from chronik.lazy import lazy_exports

# Not `from typing import TYPE_CHECKING`: importing typing costs ~7 ms, and `import chronik`
# runs before the CLI can make Ctrl-C silent. Type checkers treat this name specially.
TYPE_CHECKING = False
if TYPE_CHECKING:  # the names below, for type checkers; at run time they load on first use
    from chronik.derive.delivery import CircuitBreaker, RetryPolicy
    from chronik.derive.diff import Cause, Change, Diff
    from chronik.derive.projections import Projection, ProjectionRunner
    from chronik.derive.reducer import Reducer, UnhandledEvent, handles
    from chronik.derive.replay import ReplayResult
    from chronik.derive.snapshots import Snapshot
    from chronik.derive.subscriptions import Subscription
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

# Every public name loads on first use (PEP 562), so `import chronik` costs nothing: a command
# that only reads starts fast, and a Ctrl-C during start-up lands in the CLI's own handler.
_LAZY = {
    **{name: "chronik.errors" for name in ("ChronikError", "ConcurrencyError", "DuplicateIdError",
                                           "IntegrityError", "LimitExceeded", "NotFound", "StorageError",
                                           "StoreBusy", "ValidationError")},
    "Ledger": "chronik.ledger",
    "open_ledger": "chronik.ledger",
    "Limits": "chronik.limits",
    **{name: "chronik.model" for name in ("AppendResult", "Event", "Expect", "Filter", "Head", "NewEvent",
                                          "Page", "Problem", "StreamInfo", "VerifyReport")},
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


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)

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

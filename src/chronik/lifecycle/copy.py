"""Copy: move a whole ledger from one store to another, verbatim and resumably.

Every recorded field survives (positions, versions, ids, times, data, meta, prev, hash, sig):
events are read from the source in position order, re-verified with `ChainChecker` continuing
from the destination's head, and handed to the destination's `Store.import_events` in batches
(COPY on PostgreSQL). At the end the destination is verified from genesis and its head must equal
the source's head as it was when the copy started (events appended to the source meanwhile are
left for the next `append_to` copy).

The destination must be empty, unless `append_to=True` and it is a prefix of the source (the same
hash at the destination's head position): then the copy resumes after it. This is how an
interrupted copy is finished. A broken chain in the source stops the copy with IntegrityError
naming the position; the destination then holds the verified events before it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from chronik.chain import ChainChecker
from chronik.errors import ChronikError, IntegrityError, ValidationError
from chronik.model import Head, VerifyReport
from chronik.stores.base import NO_FILTER, Store, StoreOwner, store_of

if TYPE_CHECKING:
    from chronik.integrity.keys import Keyring

# Events per Store.import_events call on the destination.
COPY_BATCH_EVENTS = 10_000
MAX_COPY_BATCH_EVENTS = 100_000

Progress = Callable[[int, int], None]


class CopyRefused(ChronikError):
    """The destination is not empty (or not a prefix of the source); nothing was written.

    Like ValidationError it names the field that decides (`append_to`), the problem and the
    fix, so an interface can name its own option for that field; it is a refusal, not bad
    input, so its exit code stays 1."""

    exit_code = 1

    def __init__(self, field: str, problem: str, fix: str = "") -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}" + (f" ({fix})" if fix else ""))

    def to_dict(self) -> dict:
        return {**super().to_dict(), "field": self.field, "problem": self.problem, "fix": self.fix}


class CopyReport(msgspec.Struct, frozen=True):
    source: str
    destination: str
    copied: int  # events written by this copy
    already_present: int  # events the destination held before (append_to)
    head: Head  # of both, equal at the end
    seconds: float
    events_per_s: float
    verify: VerifyReport


def copy_ledger(source: Store | StoreOwner, destination: Store | StoreOwner, append_to: bool = False,
                batch_size: int = COPY_BATCH_EVENTS, progress: Progress | None = None,
                keyring: Keyring | None = None) -> CopyReport:
    """Copy every event of `source` into `destination`; see the module docstring. The copy is
    verified at the end, its signatures against `keyring` when one is given."""
    from chronik.integrity.verify import verify_ledger

    source, destination = store_of(source), store_of(destination)
    if not 1 <= batch_size <= MAX_COPY_BATCH_EVENTS:
        raise ValidationError("batch_size", f"{batch_size} is not from 1 to {MAX_COPY_BATCH_EVENTS}",
                              f"use e.g. {COPY_BATCH_EVENTS}")
    started = time.perf_counter()
    source_head = source.head()
    start = _resume_point(source, destination, source_head, append_to)
    versions = {info.stream: info.version for info in destination.streams(None)} if start.position else {}
    checker = ChainChecker(start.position, start.hash, versions)
    events = source.read_all(start.position, None, NO_FILTER, source_head.position)
    total = source_head.position - start.position
    copied = 0
    while batch := list(itertools.islice(events, batch_size)):
        checker.check_all(batch)
        if checker.problem_count:
            report = checker.report()
            raise IntegrityError(f"copy stopped: the source's chain is broken at position "
                                 f"{report.first_bad_position} ({report.problems[0].detail}); the "
                                 f"destination holds the {copied + start.position} events before "
                                 f"this batch. Run `chronik verify` on the source")
        destination.import_events(batch)
        copied += len(batch)
        if progress is not None:
            progress(copied, total)
    verify = verify_ledger(destination, keyring=keyring).to_verify_report()
    head = destination.head()
    if not verify.ok or head != source_head:
        raise IntegrityError(f"copy finished but the destination does not match: verify "
                             f"{'passed' if verify.ok else 'failed at ' + str(verify.first_bad_position)}, "
                             f"head {head.position}/{head.hash[:16]}... vs the source's "
                             f"{source_head.position}/{source_head.hash[:16]}...")
    seconds = time.perf_counter() - started
    return CopyReport(source.url, destination.url, copied, start.position, head, round(seconds, 3),
                      round(copied / seconds, 1) if seconds else 0.0, verify)


def _resume_point(source: Store, destination: Store, source_head: Head, append_to: bool) -> Head:
    """Where the copy starts: genesis for an empty destination, else its head when that is a
    prefix of the source and append_to allows it."""
    head = destination.head()
    if head.position == 0:
        return head
    if not append_to:
        raise CopyRefused("append_to", f"is not set, and the destination {destination.url} already holds "
                          f"{head.position} events; copy writes only into an empty ledger",
                          "set it to finish an interrupted copy into this destination, or copy into "
                          "an empty ledger")
    if head.position > source_head.position:
        raise CopyRefused("append_to", f"the destination holds {head.position} events, more than the "
                          f"source's {source_head.position}, so it is not a prefix of the source; "
                          f"nothing was written", "copy into an empty ledger")
    same = next(source.read_all(head.position - 1, 1, NO_FILTER, head.position), None)
    if same is None or same.hash != head.hash:
        raise CopyRefused("append_to", f"the destination's head (position {head.position}) differs "
                          f"from the source's event at that position, so it is not a prefix of the "
                          f"source; nothing was written", "copy into an empty ledger")
    return head

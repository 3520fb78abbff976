"""Checking the hash chain: the core of `verify`, shared by every store and by import.

The chain is checked in position order. Each event must (1) follow its predecessor's position
by exactly one, (2) carry its predecessor's hash as `prev`, (3) hash to its own `hash`, and
(4) have the next version of its stream; optionally (5) pass a signature check passed in by
the caller (`signature_check`, see chronik.integrity.signing) and (6) match pinned hashes
(`pin`, from an anchor). After a problem the walk continues from the stored values, so one
tampered event is reported once, at its own position.

Where a problem is located: at the event's position when it is the expected one, else at the
expected position (`prev_position + 1`): a deleted event is reported where it is missing, a
duplicate or a moved event where it stands in the walk.

The checker is fed in position order by whoever owns the events: `Ledger.verify` feeds the
live store; an archive-aware caller feeds archived events first and the live ones after, on one
checker (chronik.integrity.verify.verify_ledger's `archived`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from chronik import codec
from chronik.model import Event, Head, Problem, VerifyReport

MAX_PROBLEMS_REPORTED = 100

NO_ANCHOR_NOTE = ("no anchor was given: truncation of the newest events or a rollback to an "
                  "earlier state cannot be detected; keep an anchor to detect them")


# check(event) -> (kind, detail) of a problem, or None. Passed in, so the core imports no service.
SignatureCheckFn = Callable[[Event], tuple[str, str] | None]


class ChainChecker:
    """Feed events in position order; read the report at the end.

    `prev_hash` None means the hash before `prev_position + 1` is unknown (a range that starts
    mid-ledger past an unreadable event): the first link is then not checked. With
    `versions_from_first_seen`, a stream's first event in the walk may have any version (a range
    that starts mid-ledger); later ones must follow it."""

    def __init__(self, prev_position: int = 0, prev_hash: str | None = codec.GENESIS_HASH,
                 stream_versions: dict[str, int] | None = None, *,
                 signature_check: SignatureCheckFn | None = None,
                 versions_from_first_seen: bool = False) -> None:
        self.prev_position = prev_position
        self.prev_hash = prev_hash
        # Streams whose earlier events were checked elsewhere (archives) start from here.
        self.stream_versions = dict(stream_versions or {})
        self.signature_check = signature_check
        self.versions_from_first_seen = versions_from_first_seen
        # position -> (hash, label): hashes the walk must find there (an anchor).
        self.pins: dict[int, tuple[str, str]] = {}
        self.pins_seen: set[int] = set()
        self.checked = 0
        self.problems: list[Problem] = []
        self.problem_count = 0

    def check(self, event: Event) -> None:
        self.checked += 1
        expected_position = self.prev_position + 1
        where = event.position if event.position == expected_position else expected_position
        if event.position != expected_position:
            kind = "position_gap" if event.position > expected_position else "position_order"
            self._problem(where, kind,
                          f"position {event.position} follows {self.prev_position}; expected "
                          f"{expected_position}" + (" (missing)" if kind == "position_gap" else ""))
        if self.prev_hash is not None and event.prev != self.prev_hash:
            self._problem(where, "chain_break",
                          f"prev {event.prev[:16]}... is not the hash of the event before "
                          f"({self.prev_hash[:16]}...)")
        if codec.hash_of_event(event) != event.hash:
            self._problem(where, "hash_mismatch",
                          "the stored hash does not match the event's content: it was changed")
        known = self.stream_versions.get(event.stream)
        if known is not None or not self.versions_from_first_seen:
            expected_version = (known or 0) + 1
            if event.version != expected_version:
                self._problem(where, "version_gap",
                              f"{event.stream} version {event.version}; expected {expected_version}")
        if self.signature_check is not None:
            found = self.signature_check(event)
            if found is not None:
                self._problem(where, *found)
        pinned = self.pins.get(event.position)
        if pinned is not None:
            self.pins_seen.add(event.position)
        if pinned is not None and pinned[0] != event.hash:
            self._problem(event.position, f"{pinned[1]}_mismatch",
                          f"the hash at position {event.position} is {event.hash[:16]}..., but the "
                          f"{pinned[1]} recorded {pinned[0][:16]}...: the ledger was rolled back or "
                          f"rewritten at or before this position")
        self.stream_versions[event.stream] = event.version
        self.prev_position = event.position
        self.prev_hash = event.hash

    def skip_unreadable(self, detail: str) -> int:
        """The next event could not be read (corrupt bytes): report it and step past it. The
        link into the event after it is then unknown and not checked. Returns its position."""
        self.checked += 1
        position = self.prev_position + 1
        self._problem(position, "unreadable", detail)
        self.prev_position = position
        self.prev_hash = None
        return position

    def pin(self, position: int, hash_hex: str, label: str = "anchor") -> None:
        """Require `hash_hex` at `position` (reported as `<label>_mismatch` when it differs)."""
        self.pins[position] = (hash_hex, label)

    def check_all(self, events: Iterable[Event]) -> ChainChecker:
        for event in events:
            self.check(event)
        return self

    def problem(self, position: int, kind: str, detail: str) -> None:
        """Record a problem found outside the walk (a truncated tail, an anchor)."""
        self._problem(position, kind, detail)

    def _problem(self, position: int, kind: str, detail: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_REPORTED:
            self.problems.append(Problem(position, kind, detail))

    def report(self, head: Head | None = None, notes: list[str] | None = None) -> VerifyReport:
        first_bad = min((p.position for p in self.problems), default=None)
        notes = list(notes or [])
        if self.problem_count > len(self.problems):
            notes.append(f"{self.problem_count} problems found; the first {len(self.problems)} are listed")
        if head is not None and head.position != self.prev_position and not self.problems:
            self._problem(head.position, "head_mismatch",
                          f"the store's head is {head.position} but the chain ends at {self.prev_position}")
            first_bad = head.position
        return VerifyReport(ok=not self.problems, checked=self.checked, first_bad_position=first_bad,
                            problems=list(self.problems), head=head, notes=notes)

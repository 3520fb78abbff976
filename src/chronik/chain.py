"""Checking the hash chain: the core of `verify`, shared by every store and by import.

The chain is checked in position order. Each event must (1) follow its predecessor's position
by exactly one, (2) carry its predecessor's hash as `prev`, (3) hash to its own `hash`, and
(4) have the next version of its stream. After a problem the walk continues from the stored
values, so one tampered event is reported once, at its own position.
"""

from __future__ import annotations

from collections.abc import Iterable

from chronik import codec
from chronik.model import Event, Head, Problem, VerifyReport

MAX_PROBLEMS_REPORTED = 100

NO_ANCHOR_NOTE = ("no anchor was given: truncation of the newest events or a rollback to an "
                  "earlier state cannot be detected; keep an anchor to detect them")


class ChainChecker:
    """Feed events in position order; read the report at the end."""

    def __init__(self, prev_position: int = 0, prev_hash: str = codec.GENESIS_HASH,
                 stream_versions: dict[str, int] | None = None) -> None:
        self.prev_position = prev_position
        self.prev_hash = prev_hash
        # Streams whose earlier events were checked elsewhere (archives) start from here.
        self.stream_versions = dict(stream_versions or {})
        self.checked = 0
        self.problems: list[Problem] = []
        self.problem_count = 0

    def check(self, event: Event) -> None:
        self.checked += 1
        if event.position != self.prev_position + 1:
            kind = "position_gap" if event.position > self.prev_position else "position_order"
            self._problem(event.position, kind,
                          f"position {event.position} follows {self.prev_position}; expected "
                          f"{self.prev_position + 1}")
        if event.prev != self.prev_hash:
            self._problem(event.position, "chain_break",
                          f"prev {event.prev[:16]}... is not the hash of the event before "
                          f"({self.prev_hash[:16]}...)")
        if codec.hash_of_event(event) != event.hash:
            self._problem(event.position, "hash_mismatch",
                          "the stored hash does not match the event's content: it was changed")
        expected_version = self.stream_versions.get(event.stream, 0) + 1
        if event.version != expected_version:
            self._problem(event.position, "version_gap",
                          f"{event.stream} version {event.version}; expected {expected_version}")
        self.stream_versions[event.stream] = event.version
        self.prev_position = event.position
        self.prev_hash = event.hash

    def check_all(self, events: Iterable[Event]) -> ChainChecker:
        for event in events:
            self.check(event)
        return self

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

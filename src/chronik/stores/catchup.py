"""Catch-up, then live: the one loop behind `Ledger.follow`, subscriptions and projections.

It reads up to a head taken first, then waits on the store's change signal for the next one.
Positions are commit-ordered, so nothing can appear at or below a head once it is read: resuming
after it never skips or repeats an event. A filter that matches nothing still advances, because
the loop moves to the head it read up to, not to the last event it saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator

from chronik.model import Event, ReadFilter
from chronik.stores.base import EventReader


class HeadReached:
    """Yielded after each read: every matching event up to `position` has been yielded."""

    __slots__ = ("position",)

    def __init__(self, position: int) -> None:
        self.position = position

    def __repr__(self) -> str:
        return f"HeadReached({self.position})"


def catch_up_then_live(reader: EventReader, after: int, filter: ReadFilter, *,
                       stop: Callable[[], bool], wait_s: float,
                       deadline: float | None = None) -> Generator[Event | HeadReached, None, None]:
    """Matching events with position > `after` in position order, each read followed by a
    HeadReached mark, until `stop()` is true or the monotonic `deadline` passes while idle.

    `wait_s` bounds one wait on the store's change signal, so `stop()` is seen at least that
    often while nothing is appended."""
    while not stop():
        head = reader.head().position
        if head <= after:
            wait = wait_s
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return
            reader.wait_for_change(after, wait)
            continue
        for event in reader.read_all(after, None, filter, head):
            assert event.position > after, "read_all must return positions in order"
            yield event
        after = head
        yield HeadReached(head)

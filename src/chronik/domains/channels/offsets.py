"""Offsets: the plan's 0-based, contiguous numbering of this pack's events, over a ledger that
may hold other events too.

Definition: the offset of a channels event is the number of channels events (the 20 types in
the channel:, objective: and peer: categories) with a smaller ledger position. Positions are
gap-free and in commit order (DESIGN guarantee 5), so an event's offset never changes once it is
committed: the offsets are a pure function of the log, like any projection.

The mapping offset <-> position is kept as auxiliary records (derived data, rebuilt from the log
when missing), kind "channels.offsets":

    "head"              {"count": N, "scanned": P}   offsets 0..N-1 are the channels events at
                                                     positions <= P
    "block:<20 digits>" [position, ...]              the positions of offsets B*k .. B*k+B-1

An OffsetIndex also keeps, in memory, what it learned past the records (at most PERSIST_EVERY
offsets before it writes them, in one atomic aux_write), so an append costs no extra commit;
another process starts from the records and scans the rest of the log. Two processes writing
the records at once write the same entries (they are a function of the log), so a race costs
only repeated work; entries beyond a head's count are never trusted.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import msgspec

from chronik.domains.channels.events import CATEGORIES, EVENT_NAMES
from chronik.errors import StorageError
from chronik.ledger import Ledger
from chronik.model import Event, Filter
from chronik.stores.base import AuxChange

INDEX_KIND = "channels.offsets"
HEAD_KEY = "head"
BLOCK_OFFSETS = 256
BLOCK_DIGITS = 20
# Offsets learned in memory before they are written as records.
PERSIST_EVERY = 1_000
# Channels events read per step when the log is scanned (a rebuild goes in steps).
SCAN_EVENTS = 50_000
# Full blocks (which never change) kept in memory.
MAX_CACHED_BLOCKS = 1_024
PACK_FILTER = Filter(categories=list(CATEGORIES), types=list(EVENT_NAMES))


class IndexHead(msgspec.Struct, frozen=True):
    count: int = 0  # channels events indexed: offsets 0..count-1
    scanned: int = 0  # the ledger position up to which they were counted


def block_key(block: int) -> str:
    return f"block:{block:0{BLOCK_DIGITS}d}"


class OffsetIndex:
    """The offset <-> position mapping of one ledger (module docstring). Thread-safe."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.store = ledger.store
        self._lock = threading.RLock()
        self._persisted = IndexHead()  # what the records hold, as last read or written
        self._known = IndexHead()  # >= _persisted; offsets _persisted.count.. are in _pending
        self._pending: list[int] = []
        self._blocks: OrderedDict[int, list[int]] = OrderedDict()

    # ------------------------------------------------------------ keeping up with the log

    def catch_up(self) -> tuple[IndexHead, list[Event]]:
        """Index every channels event up to the ledger's head; the head now, and the events the
        last scan step indexed (in offset order)."""
        with self._lock:
            self._adopt_records()
            ledger_head = self.ledger.head().position
            found: list[Event] = []
            while self._known.scanned < ledger_head:
                found = [event for event in self.ledger.read_all(after=self._known.scanned, filter=PACK_FILTER,
                                                                 limit=SCAN_EVENTS)
                         if event.position <= ledger_head]
                scanned = found[-1].position if len(found) == SCAN_EVENTS else ledger_head
                self._learn([event.position for event in found], scanned)
            return self._known, found

    def extend(self, positions: list[int]) -> IndexHead | None:
        """Learn that `positions` (ascending, contiguous) are all the channels events after the
        indexed ones, when that is provable: the first follows the last position scanned, so no
        other event lies between. None (and nothing learned) otherwise: call catch_up."""
        with self._lock:
            if not positions or positions[0] != self._known.scanned + 1 \
                    or positions[-1] - positions[0] != len(positions) - 1:
                return None
            self._learn(positions, positions[-1])
            return self._known

    def _learn(self, positions: list[int], scanned: int) -> None:
        self._pending.extend(positions)
        self._known = IndexHead(self._known.count + len(positions), scanned)
        if len(self._pending) >= PERSIST_EVERY:
            self.persist()

    def _records_head(self) -> IndexHead:
        raw = self.store.aux_get(INDEX_KIND, HEAD_KEY)
        return IndexHead() if raw is None else msgspec.json.decode(raw, type=IndexHead)

    def _adopt_records(self) -> None:
        """Take what another process wrote when the records are ahead of what we know; start
        again from them when they went back (a slower process wrote an older head)."""
        records = self._records_head()
        if records.scanned >= self._known.scanned or records.count < self._persisted.count:
            self._persisted = self._known = records
            self._pending = []
        elif records.count > self._persisted.count:  # the records hold part of our pending
            del self._pending[: records.count - self._persisted.count]
            self._persisted = records

    def persist(self) -> None:
        """Write the offsets learned in memory as records (one atomic aux_write)."""
        with self._lock:
            if self._known == self._persisted or self._records_head().scanned >= self._known.scanned:
                return  # nothing new, or another process already wrote at least as far
            changes = [AuxChange(INDEX_KIND, HEAD_KEY, msgspec.json.encode(self._known))]
            offset, index = self._persisted.count, 0
            while index < len(self._pending):
                block = offset // BLOCK_OFFSETS
                kept = self._read_block(block)[: offset - block * BLOCK_OFFSETS]  # past a count: untrusted
                taken = min(BLOCK_OFFSETS - len(kept), len(self._pending) - index)
                kept.extend(self._pending[index:index + taken])
                changes.append(AuxChange(INDEX_KIND, block_key(block), msgspec.json.encode(kept)))
                index += taken
                offset += taken
            try:
                self.store.aux_write(changes)
            except StorageError:
                return  # a read-only open, or a store that cannot write now: the index stays in memory
            self._persisted, self._pending = self._known, []

    # ------------------------------------------------------------ looking up

    def position_of(self, offset: int, head: IndexHead | None = None) -> int | None:
        """The ledger position of `offset`, or None when there is no such offset (yet)."""
        with self._lock:
            head = head or self._known
            if not 0 <= offset < min(head.count, self._known.count):
                return None
            if offset >= self._persisted.count:
                return self._pending[offset - self._persisted.count]
            block = offset // BLOCK_OFFSETS
            positions = self._block(block)
            if offset - block * BLOCK_OFFSETS >= len(positions):  # the records went back meanwhile
                self._persisted = self._known = IndexHead()
                self._pending = []
                self.catch_up()
                return self.position_of(offset)
            return positions[offset - block * BLOCK_OFFSETS]

    def count_through(self, position: int, head: IndexHead | None = None) -> int:
        """How many indexed channels events have a position <= `position`."""
        with self._lock:
            low, high = 0, min((head or self._known).count, self._known.count)
            while low < high:  # the first offset whose position is > `position`
                middle = (low + high) // 2
                if (self.position_of(middle) or 0) <= position:
                    low = middle + 1
                else:
                    high = middle
            return low

    def offset_of(self, position: int, head: IndexHead | None = None) -> int | None:
        """The offset of the channels event at `position`, or None if none is indexed there."""
        through = self.count_through(position, head)
        if through and self.position_of(through - 1) == position:
            return through - 1
        return None

    def _read_block(self, block: int) -> list[int]:
        raw = self.store.aux_get(INDEX_KIND, block_key(block))
        return [] if raw is None else msgspec.json.decode(raw, type=list[int])

    def _block(self, block: int) -> list[int]:
        cached = self._blocks.get(block)
        if cached is not None:
            self._blocks.move_to_end(block)
            return cached
        positions = self._read_block(block)
        if len(positions) == BLOCK_OFFSETS:  # full blocks never change
            self._blocks[block] = positions
            if len(self._blocks) > MAX_CACHED_BLOCKS:
                self._blocks.popitem(last=False)
        return positions

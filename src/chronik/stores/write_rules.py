"""The rules every store applies under its write lock: expectations, idempotent retries, chain
links (and signatures), and the checks of `import_events` and `remove_events`.

Each store takes its own lock and reads its own state; these functions decide, from what it
read, what the call means, so the rules are written once and every store agrees on them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec

from chronik import codec
from chronik.errors import ConcurrencyError, DuplicateIdError, IntegrityError, ValidationError
from chronik.model import AppendResult, Event, Expect, Expectation, Head, PendingEvent, StreamBatch


def check_expectation(stream: str, expect: Expectation, current_version: int) -> None:
    """Raise ConcurrencyError unless `current_version` (0 = no stream) meets `expect`."""
    if expect is Expect.ANY:
        return
    if expect is Expect.NO_STREAM:
        ok = current_version == 0
    elif expect is Expect.EXISTS:
        ok = current_version > 0
    else:
        ok = current_version == expect
    if not ok:
        raise ConcurrencyError(stream, expect, current_version or None)


def replayed_result(batch: StreamBatch, recorded: list[Event | None]) -> AppendResult | None:
    """Idempotency: decide what a batch whose ids may already be recorded means.

    `recorded[i]` is the stored event with the id of `batch.events[i]`, or None. Returns the
    original result when every event is already recorded with identical content (a retry),
    None when none is recorded (a new append), and raises DuplicateIdError otherwise.
    """
    if all(event is None for event in recorded):
        return None
    for index, (pending, event) in enumerate(zip(batch.events, recorded, strict=True)):
        field = f"{batch.stream}.events[{index}].id"
        if event is None:
            raise DuplicateIdError(field, "this batch mixes ids already recorded with new ones",
                                   "retry the original batch unchanged, or use fresh ids")
        if (event.stream != batch.stream or event.type != pending.type
                or codec.encode_json(event.data) != pending.data
                or codec.encode_json(event.meta) != pending.meta):
            raise DuplicateIdError(field, f"id {pending.id!r} is already recorded at position "
                                   f"{event.position} with different content",
                                   "use a fresh id for a different event")
    positions = [event.position for event in recorded if event is not None]
    versions = [event.version for event in recorded if event is not None]
    return AppendResult(min(positions), max(positions), max(versions), [p.id for p in batch.events])


class Link(msgspec.Struct, frozen=True, array_like=True):
    """Where a pending event lands: its position, version, the hash before it and its own, and
    its signature when the append has a signer."""

    position: int
    version: int
    prev: str
    hash: str
    sig: str | None = None


def reject_partial_replay(replayed: dict[str, AppendResult], fresh: Sequence[StreamBatch]) -> None:
    """A call whose events are partly recorded already is not a retry of one atomic append."""
    if replayed and fresh:
        raise DuplicateIdError(f"{fresh[0].stream}.events[0].id",
                               f"streams {sorted(replayed)} are already recorded with these ids but "
                               f"{fresh[0].stream!r} is not",
                               "retry the original call unchanged, or use fresh ids")


def link_batch(stream: str, events: Sequence[PendingEvent], first_position: int,
               first_version: int, prev_hash: str,
               signer: Callable[[str], str] | None = None) -> list[Link]:
    """Assign positions, versions and chain hashes (and signatures, with a signer) to one
    stream's pending events."""
    links: list[Link] = []
    position, version, prev = first_position, first_version, prev_hash
    for pending in events:
        digest = codec.event_hash(position, stream, version, pending.type, pending.id,
                                  pending.time, pending.data, pending.meta, prev)
        links.append(Link(position, version, prev, digest, None if signer is None else signer(digest)))
        position, version, prev = position + 1, version + 1, digest
    return links


def check_removal_rows(head_position: int, older_kept: int, doomed: Sequence[int]) -> None:
    """The rules of `Store.remove_events` for the SQL stores, from what they counted."""
    if head_position and head_position in doomed:
        raise ValidationError("positions", f"position {head_position} is the head, which retention "
                              "never removes", "leave the newest event in place")
    if older_kept:
        raise ValidationError("positions", f"{older_kept} live events are older than removed events "
                              "of their streams; only a prefix of each stream may be removed",
                              "remove a prefix of each stream")


def check_import(events: Sequence[Event], head: Head, current_version: Callable[[str], int],
                 id_recorded: Callable[[str], bool] | None = None) -> dict[str, Event]:
    """The rules of `Store.import_events`, checked under the store's write lock.

    The first event must follow `head` (position + 1, prev = head hash); positions and prev links
    are contiguous; each event has its stream's next version (`current_version(stream)`, 0 for a
    new stream); no id repeats or, when `id_recorded` is given, is already recorded. Raises
    IntegrityError naming the first position at fault. Returns each stream's last event."""
    position, prev = head.position, head.hash
    versions: dict[str, int] = {}
    last_of_stream: dict[str, Event] = {}
    ids: set[str] = set()
    for event in events:
        if event.position != position + 1:
            raise IntegrityError(f"import: position {event.position} does not follow {position}; "
                                 f"expected {position + 1} (nothing was imported)")
        if event.prev != prev:
            raise IntegrityError(f"import: position {event.position} has prev {event.prev[:16]}..., "
                                 f"not the hash {prev[:16]}... of position {position} "
                                 f"(nothing was imported)")
        current = versions.get(event.stream)
        if current is None:
            current = current_version(event.stream)
        if event.version != current + 1:
            raise IntegrityError(f"import: position {event.position} is {event.stream} version "
                                 f"{event.version}; expected {current + 1} (nothing was imported)")
        if event.id in ids or (id_recorded is not None and id_recorded(event.id)):
            raise IntegrityError(f"import: position {event.position} has id {event.id!r}, which is "
                                 f"already recorded (nothing was imported)")
        ids.add(event.id)
        versions[event.stream] = event.version
        last_of_stream[event.stream] = event
        position, prev = event.position, event.hash
    return last_of_stream

"""The ledger: the facade applications use.

It validates input (naming the field and the fix), assigns ids and times, and hands canonical
bytes to a store, which orders, chains and records them. It never writes anything for input it
rejects: every check happens before the store is called.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, overload

from chronik import codec, rules
from chronik.errors import LimitExceeded, ValidationError
from chronik.limits import DEFAULT_LIMITS, Limits
from chronik.model import (
    AppendResult,
    Event,
    Expect,
    Expectation,
    Filter,
    Head,
    NewEvent,
    Page,
    ReadFilter,
    StreamInfo,
    VerifyReport,
)
from chronik.rules import MAX_COUNT
from chronik.stores import open_store, resolve_url
from chronik.stores.base import Signer, Store
from chronik.stores.catchup import catch_up_then_live

# The facade sits above the services (DESIGN section 4): it imports them, they never import it.
# They load when first used, so `import chronik` and commands that only read stay fast.
if TYPE_CHECKING:
    from chronik.derive.diff import Diff
    from chronik.derive.projections import Projection, ProjectionRunner
    from chronik.derive.reducer import Reducer
    from chronik.derive.replay import ReplayResult
    from chronik.derive.snapshots import Snapshot
    from chronik.derive.subscriptions import Subscription
    from chronik.integrity.anchors import Anchor
    from chronik.integrity.keys import Keyring

Clock = Callable[[], datetime]


def _system_clock() -> datetime:
    return datetime.now(UTC)


class Ledger:
    def __init__(self, store: Store, *, clock: Clock | None = None, limits: Limits = DEFAULT_LIMITS,
                 keyring: Keyring | None = None) -> None:
        self.store = store
        self.limits = limits
        self._clock = clock or _system_clock
        # With a keyring that has an active key, the store signs every appended event
        # (sig = kid:HMAC-SHA256(key, hash); docs/adr/0009) and verify checks signatures.
        self.keyring = keyring

    @property
    def signer(self) -> Signer | None:
        """What signs this ledger's appends: its keyring's active key, or None. It is passed
        with each append, never left on the store, so ledgers over one store never mix keys."""
        return None if self.keyring is None else self.keyring.signer

    @property
    def url(self) -> str:
        return self.store.url

    # ------------------------------------------------------------ writing

    def append(self, stream: str, events: Sequence[NewEvent], expect: Expectation = Expect.ANY) -> AppendResult:
        """Record `events` at the end of `stream`, atomically, if the stream meets `expect`."""
        self._check_stream(stream, "stream")  # before it is used as a dict key
        return self.append_many({stream: (events, expect)})[stream]

    def append_many(self, batches: Mapping[str, tuple[Sequence[NewEvent], Expectation]]
                    ) -> dict[str, AppendResult]:
        """Record events on several streams in one atomic step: all, or none if any
        expectation fails. Returns each stream's result."""
        now = codec.format_time(self._clock())
        return self.store.append(rules.stream_batches(batches, now, self.limits), signer=self.signer)

    async def append_async(self, stream: str, events: Sequence[NewEvent],
                           expect: Expectation = Expect.ANY) -> AppendResult:
        """`append` for asyncio code: the event loop is not blocked while the append waits for
        its commit, and appends from many tasks share commits (group commit, ADR 0012)."""
        self._check_stream(stream, "stream")
        return (await self.append_many_async({stream: (events, expect)}))[stream]

    async def append_many_async(self, batches: Mapping[str, tuple[Sequence[NewEvent], Expectation]]
                                ) -> dict[str, AppendResult]:
        """`append_many` for asyncio code (see `append_async`)."""
        import asyncio

        now = codec.format_time(self._clock())
        prepared = rules.stream_batches(batches, now, self.limits)
        return await asyncio.wrap_future(self.store.append_future(prepared, signer=self.signer))

    def _check_stream(self, stream: Any, field: str) -> str:
        return rules.check_stream(stream, field, self.limits)

    # ------------------------------------------------------------ reading

    def read_stream(self, stream: str, start: int = 1, end: int | None = None, backwards: bool = False,
                    limit: int | None = None) -> Iterator[Event]:
        """Events of `stream` with start <= version <= end; newest first when `backwards`."""
        self._check_stream(stream, "stream")
        start = rules.check_count(start, "start", minimum=1)
        end = None if end is None else rules.check_count(end, "end", minimum=0)
        limit = None if limit is None else rules.check_count(limit, "limit", minimum=0)
        return self.store.read_stream(stream, start, end, backwards, limit)

    def read_all(self, after: int = 0, limit: int | None = None, filter: Filter | None = None) -> Iterator[Event]:
        """Every matching event with position > `after`, in position order, up to the head
        at the time of the call."""
        after = rules.check_count(after, "after", minimum=0)
        limit = None if limit is None else rules.check_count(limit, "limit", minimum=0)
        return self.store.read_all(after, limit, rules.read_filter(filter, self.limits))

    @overload
    def query(self, filter: Filter | None = None, limit: int = 100, cursor: str | None = None, *,
              include_total: Literal[True] = True) -> Page[int]: ...

    @overload
    def query(self, filter: Filter | None = None, limit: int = 100, cursor: str | None = None, *,
              include_total: bool) -> Page[int | None]: ...

    def query(self, filter: Filter | None = None, limit: int = 100, cursor: str | None = None, *,
              include_total: bool = True) -> Page[int] | Page[int | None]:
        """One page of matching events in position order. Pass `next_cursor` back for the next
        page; pages never repeat or skip an event, even while others append.

        `total` counts every matching event, which costs a pass over all of them (over a
        million events, the page itself is read in milliseconds, the count can take a second):
        pass `include_total=False` to skip it (`total` is then None), or ask for it on the
        first page only."""
        if not isinstance(include_total, bool):
            raise ValidationError("include_total", "must be True or False", "pass a bool")
        limit = rules.check_count(limit, "limit", minimum=1)
        if limit > self.limits.max_page_size:
            raise LimitExceeded("limit", "max_page_size", self.limits.max_page_size, limit,
                                "page through results with the cursor")
        read_filter = rules.read_filter(filter, self.limits)
        after = 0 if cursor is None else _decode_cursor(cursor, read_filter)
        events = list(self.store.read_all(after, limit + 1, read_filter))
        has_more = len(events) > limit
        events = events[:limit]
        next_cursor = _encode_cursor(events[-1].position, read_filter) if has_more else None
        total = self.store.count(read_filter) if include_total else None
        return Page(events, total, has_more, next_cursor)

    def follow(self, after: int = 0, filter: Filter | None = None, poll_interval_ms: int = 200,
               stop: Callable[[], bool] | None = None) -> Generator[Event, None, None]:
        """Matching events after `after`, then each new one as it is committed, forever (or
        until `stop()` is true). Resumes by position, so nothing is skipped or repeated.
        Waits on the store's change signal; `poll_interval_ms` bounds one wait, so `stop()` is
        checked at least that often."""
        # Checked now, not on the first next(): a caller learns of bad input before it starts.
        read_filter = rules.read_filter(filter, self.limits)
        after = rules.check_count(after, "after", minimum=0)
        poll_interval_ms = rules.check_count(poll_interval_ms, "poll_interval_ms", minimum=1)
        items = catch_up_then_live(self.store, after, read_filter, stop=stop or _never,
                                   wait_s=poll_interval_ms / 1000)
        return (item for item in items if isinstance(item, Event))

    def subscribe(self, handler: Callable[[Event], Any] | None = None, after: int = 0,
                  filter: Filter | None = None, name: str | None = None, **options: Any) -> Subscription:
        """A `chronik.derive.Subscription`: matching events after `after` in position order,
        catch-up then live, to `handler` (sub.run(), run_until(), start()/stop()) or by
        iterating (`for event in sub`). A named subscription resumes from its durable
        checkpoint (`after` only applies to its first run); failing handlers are retried with
        backoff under a circuit breaker, then their events parked. Options: queue_size, retry,
        breaker, sleep, rng, checkpoint_every, wait_for_change_s."""
        from chronik.derive.subscriptions import Subscription

        return Subscription(self, handler, after=after, filter=filter, name=name, **options)

    def project(self, projection: Projection, **options: Any) -> ProjectionRunner:
        """A `chronik.derive.ProjectionRunner` keeping `projection`'s read model up to date
        from this ledger (run_until_head(), run(), rebuild(), status()). Options: retry,
        breaker, sleep, rng, wait_for_change_s."""
        from chronik.derive.projections import ProjectionRunner

        return ProjectionRunner(self, projection, **options)

    def streams(self, category: str | None = None) -> list[StreamInfo]:
        if category is not None:
            rules.check_category(category, "category")
        return self.store.streams(category)

    def head(self) -> Head:
        return self.store.head()

    def stats(self) -> dict[str, Any]:
        stats = self.store.stats()
        head = self.store.head()
        return {"url": self.url, **stats, "head_position": head.position, "head_hash": head.hash}

    def verify(self, *, keyring: Keyring | None = None, anchor: Anchor | None = None,
               from_position: int | None = None, to_position: int | None = None,
               require_signatures: bool = False) -> VerifyReport:
        """Walk the chain: positions, prev links, hashes and stream versions; signatures with a
        keyring (the ledger's own by default); with an anchor, also tail truncation and rollback.
        `from_position`/`to_position` limit the walk to a range. The full report, with what was
        checked, is chronik.integrity.verify.verify_ledger's."""
        from chronik.integrity.verify import verify_ledger

        return verify_ledger(self.store, keyring=keyring if keyring is not None else self.keyring,
                             anchor=anchor, from_position=from_position, to_position=to_position,
                             require_signatures=require_signatures).to_verify_report()

    # ------------------------------------------------------------ deriving state

    def replay(self, stream: str, reducer: Reducer, to_version: int | None = None,
               to_position: int | None = None, at: datetime | str | None = None,
               include_snapshots: bool = True, include_archive: bool = False) -> ReplayResult:
        """Fold `stream` through `reducer`: the newest state, or the state at a version, at a
        position, or `at` a time (every event recorded at or before it, in version order).
        Starts from the newest usable snapshot and saves one per the reducer's policy unless
        `include_snapshots` is False. At most one of to_version, to_position and at."""
        from chronik.derive.replay import replay

        return replay(self, stream, reducer, to_version=to_version, to_position=to_position, at=at,
                      include_snapshots=include_snapshots, include_archive=include_archive)

    def diff(self, stream: str, reducer: Reducer, a: Any, b: Any) -> Diff:
        """What changed in `stream`'s state from point `a` to point `b` (a version, None for the
        newest, {"version": n}, {"position": n} or {"at": time}) and which events changed it."""
        from chronik.derive.diff import diff

        return diff(self, stream, reducer, a, b)

    def snapshot(self, stream: str, reducer: Reducer, to_version: int | None = None) -> Snapshot:
        """Replay `stream` (to `to_version`) and save the state as a snapshot now."""
        from chronik.derive.replay import take_snapshot

        return take_snapshot(self, stream, reducer, to_version=to_version)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Ledger {self.url}>"


def _never() -> bool:
    return False


def _filter_digest(read_filter: ReadFilter) -> str:
    return hashlib.sha256(codec.encode_json(read_filter)).hexdigest()[:12]


def _encode_cursor(position: int, read_filter: ReadFilter) -> str:
    raw = f"1.{position}.{_filter_digest(read_filter)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: Any, read_filter: ReadFilter) -> int:
    fix = "pass the next_cursor of the previous page unchanged, with the same filter"
    if not isinstance(cursor, str) or len(cursor) > 200:
        raise ValidationError("cursor", "is not a cursor from this ledger", fix)
    try:
        version, position, digest = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)) \
            .decode().split(".")
        after = int(position)
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("cursor", "is not a cursor from this ledger", fix) from None
    if version != "1" or not 0 <= after <= MAX_COUNT:
        raise ValidationError("cursor", "is not a cursor from this ledger", fix)
    if digest != _filter_digest(read_filter):
        raise ValidationError("cursor", "was made for a different filter", fix)
    return after


def open_ledger(url: str | None = None, *, clock: Clock | None = None, limits: Limits = DEFAULT_LIMITS,
                keyring: Keyring | None = None, read_only: bool = False) -> Ledger:
    """Open the ledger at `url` (else $CHRONIK_URL, else sqlite:///~/.chronik/ledger.db).

    `keyring` signs appends and checks signatures; without one, the keyring of $CHRONIK_KEYS or
    $CHRONIK_KEYS_FILE is used when either is set, else ~/.chronik/keys.json when it exists
    (chronik.integrity.keys.keyring_from_environment; a missing default file means no keyring,
    and nothing is created). With `read_only`, nothing is created or modified
    (chronik.stores.open_store)."""
    if keyring is None:
        from chronik.integrity.keyring_location import keyring_configured

        if keyring_configured():  # the keyring module only when there may be one (fast start)
            from chronik.integrity.keys import keyring_from_environment

            keyring = keyring_from_environment()
    return Ledger(open_store(resolve_url(url), read_only=read_only), clock=clock, limits=limits,
                  keyring=keyring)

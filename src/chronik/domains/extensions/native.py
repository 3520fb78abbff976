"""Extensions on a chronik ledger: the stream `extension:NAME` per extension (service.Backend).

Status is fast: every event this backend records carries the status after it in
`meta.status`, so the status of all extensions is the `streams` listing plus the last event of
each `extension:` stream; a stream whose last event lacks it (written by something else) is
replayed with the reducer. Each event keeps the real state before it (`data.state_before`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from chronik import codec
from chronik.domains.extensions import reducer as status_fold
from chronik.domains.extensions.events import (
    CLI_VERSION,
    STREAM_CATEGORY,
    ExtensionEvent,
    event_fields,
    stream_of,
    type_of,
)
from chronik.domains.extensions.reducer import Record, Status
from chronik.domains.extensions.timekeys import key_to_text, now_text
from chronik.errors import ConcurrencyError
from chronik.ledger import Ledger
from chronik.model import Filter, NewEvent

if TYPE_CHECKING:
    from pathlib import Path

# Appends retry on a concurrent writer of the same stream (the status in meta must follow the
# event before it); more than this many losses in a row is reported, not retried forever.
MAX_RECORD_ATTEMPTS = 20
FOLLOW_POLL_MS = 200
DEFAULT_LOG_DIR = "~/.chronik/ext-logs"

CATEGORY_FILTER = Filter(categories=[STREAM_CATEGORY])


class PendingView(msgspec.Struct, frozen=True):
    """What record_from_event reads of an event about to be appended."""

    stream: str
    type: str
    id: str
    data: dict[str, Any]
    meta: dict[str, Any]
    time: str = ""


def event_data(event: ExtensionEvent, state_before: str | None, state_after: str,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A chronik event's data: the state pair, then the payload without the extension name."""
    data = {"state_before": state_before, "state_after": state_after, **event_fields(event), **(extra or {})}
    data.pop("extension_name", None)
    return data


class LedgerBackend:
    """Extensions as streams `extension:NAME` of a chronik Ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def log_dir(self) -> Path:
        from pathlib import Path  # here, not at the top: `ext status` never needs it (fast start)

        path = self.ledger.store.path  # file stores: next to the ledger
        if path is not None:
            return Path(path).resolve().parent / "ext-logs"
        return Path(os.path.expanduser(DEFAULT_LOG_DIR))

    def status(self, name: str) -> Status | None:
        stream = stream_of(name)
        last = next(self.ledger.read_stream(stream, backwards=True, limit=1), None)
        if last is None:
            return None
        cached = last.meta.get("status")
        if isinstance(cached, dict) and cached.get("v") == status_fold.REDUCER_VERSION:
            return cached
        state: Status = self.ledger.replay(stream, status_fold.status_reducer()).state
        return state

    def statuses(self) -> list[Status]:
        found = []
        for info in self.ledger.streams(STREAM_CATEGORY):
            status = self.status(info.stream.partition(":")[2])
            if status is not None:
                found.append(status)
        return found

    def record(self, event: ExtensionEvent, state_before: str | None, state_after: str, *,
               extra: dict[str, Any] | None = None, runner: dict[str, Any] | None = None) -> str:
        """Append one lifecycle event (with the status after it in meta); returns its id."""
        name = event.extension_name
        stream = stream_of(name)
        event_id = codec.new_event_id()
        data = event_data(event, state_before, state_after, extra)
        meta: dict[str, Any] = {"cli_version": CLI_VERSION, "at": now_text()}
        if runner:
            meta["runner"] = runner
        for _attempt in range(MAX_RECORD_ATTEMPTS):
            last = next(self.ledger.read_stream(stream, backwards=True, limit=1), None)
            version = 0 if last is None else last.version
            previous = (self.status(name) if last is not None else None) or status_fold.initial()
            pending = PendingView(stream, type_of(event), event_id, data, meta)
            meta["status"] = status_fold.apply(previous, status_fold.record_from_event(pending))
            try:
                self.ledger.append(stream, [NewEvent(pending.type, data, meta=meta, id=event_id)], expect=version)
                return event_id
            except ConcurrencyError:
                continue
        raise ConcurrencyError(stream, "a stable version", None)

    def finish_run(self, started_id: str) -> None:
        """Nothing to clean up: the runner is kept in the started event's meta."""

    def records(self, name: str | None = None) -> Iterator[Record]:
        """Every extension event (of `name`), in position order."""
        event_filter = Filter(streams=[stream_of(name)]) if name else CATEGORY_FILTER
        for event in self.ledger.read_all(filter=event_filter):
            yield status_fold.record_from_event(event)

    def tail(self, stop: Callable[[], bool] | None = None) -> Iterator[Record]:
        """Events recorded from now on, by position (none skipped, none repeated)."""
        events = self.ledger.follow(after=self.ledger.head().position, filter=CATEGORY_FILTER,
                                    poll_interval_ms=FOLLOW_POLL_MS, stop=stop)
        return (status_fold.record_from_event(event) for event in events)

    def bad_lines(self) -> list[Any]:
        return []  # a chronik ledger validates every event on the way in

    def stats(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        keys: list[str] = []
        for record in self.records():
            counts[record.type] = counts.get(record.type, 0) + 1
            keys.append(record.key)
        return {"url": self.ledger.url, "total_events": len(keys),
                "extensions": len(self.ledger.streams(STREAM_CATEGORY)),
                "oldest_timestamp": key_to_text(min(keys)) if keys else None,
                "newest_timestamp": key_to_text(max(keys)) if keys else None,
                "event_type_counts": dict(sorted(counts.items()))}

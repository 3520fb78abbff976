"""The extension operations, on a chronik ledger (streams `extension:NAME`) or a Sindri file.

Both backends offer the same calls (`record`, `statuses`, `status`, `records`, `log_dir`), so
every `chronik ext` command works on either (`--sindri`). Status on a chronik ledger is fast:
every event this service records carries the status after it in `meta.status`, so the status of
all extensions is the `streams` listing plus the last event of each `extension:` stream (a
stream whose last event lacks it is replayed with the reducer).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from chronik.domains.extensions import reducer as status_fold
from chronik.domains.extensions import sindri
from chronik.domains.extensions.events import (
    CLI_VERSION,
    INTERRUPTED,
    KINDS,
    LEVELS,
    STREAM_CATEGORY,
    InstallCompleted,
    InstallFailed,
    InstallStarted,
    RemoveCompleted,
    RemoveFailed,
    RemoveStarted,
    UpgradeCompleted,
    UpgradeFailed,
    UpgradeStarted,
    event_fields,
    event_from_fields,
)
from chronik.domains.extensions.reducer import Record
from chronik.errors import NotFound, ValidationError

HIDDEN_STATES = ("removed",)
MAX_IMPORT_BATCH = 500


def stream_of(name: str) -> str:
    return f"{STREAM_CATEGORY}:{name}"


class LogFilter(msgspec.Struct, frozen=True, kw_only=True):
    """`chronik ext log` filters; since/until are time keys (inclusive). Time filters apply
    before `limit` (the last N matches)."""

    names: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    level: str | None = None
    since: str | None = None
    until: str | None = None

    def matches(self, record: Record) -> bool:
        return ((not self.names or record.name in self.names)
                and (not self.types or record.type in self.types)
                and (self.level is None or record.type in level_types(self.level))
                and (self.since is None or record.key >= self.since)
                and (self.until is None or record.key <= self.until))


def level_types(level: str) -> frozenset[str]:
    """-l LEVEL: that level or more severe (info: all, warn: warn + error, error: failures)."""
    order = ("info", "warn", "error")
    if level not in order:
        raise ValidationError("--level", f"{level!r} is not a level", "use info, warn or error")
    return frozenset().union(*(LEVELS[name] for name in order[order.index(level):]))


def kind_types(kinds: Iterable[str]) -> tuple[str, ...]:
    types: list[str] = []
    for kind in kinds:
        if kind not in KINDS:
            raise ValidationError("--type", f"{kind!r} is not an event kind", f"use one of {', '.join(KINDS)}")
        types.extend(KINDS[kind])
    return tuple(types)


def with_liveness(status: dict[str, Any]) -> dict[str, Any]:
    """A started operation whose runner process is gone is shown as interrupted."""
    from chronik.domains.extensions.runner import runner_alive

    if status.get("state") in ("installing", "removing") and runner_alive(status.get("runner")) is False:
        return {**status, "state": INTERRUPTED, "interrupted_from": status["state"]}
    return status


def visible(statuses: Iterable[dict[str, Any]], show_all: bool) -> list[dict[str, Any]]:
    rows = [with_liveness(s) for s in statuses]
    return sorted((s for s in rows if show_all or s["state"] not in HIDDEN_STATES), key=lambda s: s["name"])


# ---------------------------------------------------------------- chronik ledger


class StoreBackend:
    """Extensions as streams `extension:NAME` of a chronik Ledger."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger

    def log_dir(self) -> Path:
        path = getattr(self.ledger.store, "path", None)  # file stores: next to the ledger
        if isinstance(path, str | os.PathLike):
            return Path(path).resolve().parent / "ext-logs"
        return Path(os.path.expanduser("~/.chronik/ext-logs"))

    def status(self, name: str) -> dict[str, Any] | None:
        stream = stream_of(name)
        last = next(self.ledger.read_stream(stream, backwards=True, limit=1), None)
        if last is None:
            return None
        cached = last.meta.get("status")
        if isinstance(cached, dict) and cached.get("v") == status_fold.REDUCER_VERSION:
            return cached
        return self.ledger.replay(stream, status_fold.status_reducer()).state

    def statuses(self) -> list[dict[str, Any]]:
        found = []
        for info in self.ledger.streams(STREAM_CATEGORY):
            status = self.status(info.stream.partition(":")[2])
            if status is not None:
                found.append(status)
        return found

    def record(self, name: str, event: Any, state_before: str | None, state_after: str,
               extra: dict[str, Any] | None = None, runner: dict[str, Any] | None = None,
               event_id: str | None = None, sindri_timestamp: str | None = None,
               cli_version: str = CLI_VERSION) -> str:
        """Append one lifecycle event (with the status after it in meta); returns its id."""
        from chronik import codec
        from chronik.errors import ConcurrencyError
        from chronik.model import NewEvent

        stream = stream_of(name)
        event_id = event_id or codec.new_event_id()
        data = {"state_before": state_before, "state_after": state_after, **event_fields(event), **(extra or {})}
        data.pop("extension_name", None)
        meta: dict[str, Any] = {"cli_version": cli_version, "at": sindri_timestamp or sindri.now_text()}
        if sindri_timestamp:
            meta["sindri_timestamp"] = sindri_timestamp
        if runner:
            meta["runner"] = runner
        for _attempt in range(20):
            last = next(self.ledger.read_stream(stream, backwards=True, limit=1), None)
            version = 0 if last is None else last.version
            previous = (self.status(name) if last is not None else None) or status_fold.initial()
            pending = _PendingView(stream, event.__struct_config__.tag, event_id, data, meta)
            meta["status"] = status_fold.apply(previous, status_fold.record_from_event(pending))
            try:
                self.ledger.append(stream, [NewEvent(pending.type, data, meta=meta, id=event_id)], expect=version)
                return event_id
            except ConcurrencyError:
                continue
        raise ConcurrencyError(stream, "a stable version", None)

    def records(self, name: str | None = None, after: int = 0) -> Iterator[tuple[int, Record]]:
        """(position, record) of every extension event (of `name`) after `after`."""
        from chronik.model import Filter

        event_filter = Filter(streams=[stream_of(name)]) if name else Filter(categories=[STREAM_CATEGORY])
        for event in self.ledger.read_all(after=after, filter=event_filter):
            yield event.position, status_fold.record_from_event(event)

    def head(self) -> int:
        return self.ledger.head().position

    def follow(self, after: int, stop: Any = None) -> Iterator[tuple[int, Record]]:
        from chronik.model import Filter

        for event in self.ledger.follow(after=after, filter=Filter(categories=[STREAM_CATEGORY]),
                                        poll_interval_ms=200, stop=stop):
            yield event.position, status_fold.record_from_event(event)

    def bad_lines(self) -> list[sindri.BadLine]:
        return []


class _PendingView(msgspec.Struct, frozen=True):
    """What record_from_event reads of an event about to be appended."""

    stream: str
    type: str
    id: str
    data: dict[str, Any]
    meta: dict[str, Any]
    time: str = ""


# ---------------------------------------------------------------- Sindri file


class SindriBackend:
    """A real Sindri status ledger, read with Sindri's semantics and written in its format."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.file = sindri.SindriFile(path or sindri.DEFAULT_PATH)
        self._contents: sindri.Contents | None = None
        self._scan_bad: list[sindri.BadLine] | None = None

    def contents(self, fresh: bool = False) -> sindri.Contents:
        if self._contents is None or fresh:
            self._contents = self.file.read()
        return self._contents

    def log_dir(self) -> Path:
        return self.file.path.parent / "logs"

    def runs_dir(self) -> Path:
        return self.file.path.parent / "chronik-runs"

    def statuses(self) -> list[dict[str, Any]]:
        latest = sindri.scan_latest(self.file.read_bytes())
        self._scan_bad = latest.bad
        return [self._status_of(entry, latest.counts[name]) for name, entry in latest.entries.items()]

    def status(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self.statuses() if s["name"] == name), None)

    def _status_of(self, entry: sindri.Entry, count: int) -> dict[str, Any]:
        record = record_from_entry(entry)
        if record.type.endswith("_started"):
            record = msgspec.structs.replace(record, runner=self._runner_of(record.id))
        return {**status_fold.apply(status_fold.initial(), record), "events": count}

    def _runner_of(self, event_id: str) -> dict[str, Any] | None:
        try:
            return msgspec.json.decode((self.runs_dir() / f"{event_id}.json").read_bytes())
        except (OSError, msgspec.DecodeError):
            return None

    def record(self, name: str, event: Any, state_before: str | None, state_after: str,
               extra: dict[str, Any] | None = None, runner: dict[str, Any] | None = None,
               event_id: str | None = None, sindri_timestamp: str | None = None,
               cli_version: str = CLI_VERSION) -> str:
        envelope = sindri.new_envelope(event, state_before, state_after, event_id, sindri_timestamp, cli_version)
        if runner:  # Sindri lines have no room for it: a side file, removed when the run ends
            self.runs_dir().mkdir(parents=True, exist_ok=True)
            (self.runs_dir() / f"{envelope.event_id}.json").write_bytes(msgspec.json.encode(runner))
        self.file.append([envelope])
        self._contents = None
        return envelope.event_id

    def finish_run(self, started_id: str) -> None:
        try:
            (self.runs_dir() / f"{started_id}.json").unlink()
        except FileNotFoundError:
            pass

    def records(self, name: str | None = None, after: int = 0) -> Iterator[tuple[int, Record]]:
        for entry in self.contents().entries:
            if entry.line > after and (name is None or entry.name == name):
                yield entry.line, record_from_entry(entry)

    def bad_lines(self) -> list[sindri.BadLine]:
        if self._contents is None and self._scan_bad is not None:
            return self._scan_bad  # status read only what it needed
        return self.contents().bad

    def head(self) -> int:
        return 0

    def follow(self, after: int, stop: Any = None, poll_s: float = 0.2) -> Iterator[tuple[int, Record]]:
        """New lines as they are appended, by event id, so a compaction (which renumbers lines)
        neither repeats nor skips one, and events sharing a timestamp are all shown."""
        import time

        seen = {entry.envelope.event_id for entry in self.contents(fresh=True).entries}
        while stop is None or not stop():
            time.sleep(poll_s)
            for entry in self.contents(fresh=True).entries:
                if entry.envelope.event_id not in seen:
                    seen.add(entry.envelope.event_id)
                    yield entry.line, record_from_entry(entry)


def record_from_entry(entry: sindri.Entry) -> Record:
    envelope = entry.envelope
    return Record(name=envelope.extension_name, type=entry.type, id=envelope.event_id,
                  at=sindri.key_to_text(entry.key), key=entry.key, by_time=True,
                  state_before=envelope.state_before, state_after=envelope.state_after,
                  fields=event_fields(envelope.event))


# ---------------------------------------------------------------- queries on either backend


def log(backend: Any, log_filter: LogFilter, limit: int | None) -> list[Record]:
    """Matching records in ledger order; the time filters apply first, then the last `limit`."""
    from collections import deque

    names = log_filter.names
    records = (r for _, r in backend.records(names[0] if len(names) == 1 else None) if log_filter.matches(r))
    return list(deque(records, maxlen=limit) if limit else records)


def timeline(backend: Any, name: str, limit: int | None = None, since: str | None = None) -> list[Record]:
    """One extension's events in ledger order: those at or after `since`, then the last `limit`."""
    return log(backend, LogFilter(names=(name,), since=since), limit)


def stats(backend: Any) -> dict[str, Any]:
    if isinstance(backend, SindriBackend):
        return {"path": str(backend.file.path), **sindri.stats(backend.contents())}
    counts: dict[str, int] = {}
    keys: list[str] = []
    total = 0
    for _, record in backend.records():
        total += 1
        counts[record.type] = counts.get(record.type, 0) + 1
        keys.append(record.key)
    return {"url": backend.ledger.url, "total_events": total,
            "extensions": len(backend.ledger.streams(STREAM_CATEGORY)),
            "oldest_timestamp": sindri.key_to_text(min(keys)) if keys else None,
            "newest_timestamp": sindri.key_to_text(max(keys)) if keys else None,
            "event_type_counts": dict(sorted(counts.items()))}


def envelope_of(record: Record) -> sindri.Envelope:
    """A record as a Sindri line; fields Sindri requires and chronik did not record get defaults."""
    defaults = {"extension_name": record.name, "version": "unknown", "source": "chronik",
                "install_method": "Script", "components_installed": [], "retry_count": 0,
                "duration_secs": 0, "error_message": "", "from_version": "unknown", "to_version": "unknown",
                "current_version": "unknown", "latest_version": "unknown", "validation_type": "manual"}
    fields = {**defaults, **{k: v for k, v in record.fields.items() if v is not None}}
    event = event_from_fields(record.type, fields)
    return sindri.Envelope(event_id=record.id, timestamp=sindri.key_to_text(record.key),
                           extension_name=record.name, cli_version=CLI_VERSION,
                           state_before=record.state_before, state_after=record.state_after, event=event)


def export_sindri(backend: Any, out: Any) -> int:
    """Every extension event as Sindri lines, in ledger order; returns how many."""
    count = 0
    for _, record in backend.records():
        out.write(sindri.encode_line(envelope_of(record)))
        count += 1
    return count


def import_sindri(backend: StoreBackend, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Move a Sindri ledger into a chronik ledger in file order, keeping each event's id (as the
    chronik id) and timestamp (meta.sindri_timestamp). Ids already in the ledger are skipped, so
    importing the same file twice adds nothing. Bad lines are reported, not imported."""
    from chronik.model import Expect, NewEvent

    file = sindri.SindriFile(path)
    if not file.path.exists():
        raise NotFound(f"{file.path}: no such Sindri ledger")
    contents = file.read()
    ledger = backend.ledger
    known = {event.id for event in ledger.read_all(filter=_category_filter())}
    statuses: dict[str, dict[str, Any]] = {}
    chunk: dict[str, tuple[list[Any], Any]] = {}
    imported = skipped = 0
    for entry in contents.entries:
        envelope = entry.envelope
        if envelope.event_id in known:
            skipped += 1
            continue
        known.add(envelope.event_id)
        name = envelope.extension_name
        stream = stream_of(name)
        if stream in chunk or len(chunk) >= MAX_IMPORT_BATCH:
            ledger.append_many(chunk)  # one stream once per call keeps positions in file order
            chunk = {}
        if name not in statuses:
            statuses[name] = backend.status(name) or status_fold.initial()
        data = {"state_before": envelope.state_before, "state_after": envelope.state_after,
                **event_fields(envelope.event)}
        data.pop("extension_name", None)
        meta: dict[str, Any] = {"cli_version": envelope.cli_version, "at": envelope.timestamp,
                                "sindri_timestamp": envelope.timestamp}
        view = _PendingView(stream, entry.type, envelope.event_id, data, meta)
        meta["status"] = statuses[name] = status_fold.apply(statuses[name], status_fold.record_from_event(view))
        chunk[stream] = ([NewEvent(entry.type, data, meta=meta, id=envelope.event_id)], Expect.ANY)
        imported += 1
    if chunk:
        ledger.append_many(chunk)
    return {"imported": imported, "skipped_known": skipped,
            "bad_lines": [msgspec.structs.asdict(b) for b in contents.bad]}


def _category_filter() -> Any:
    from chronik.model import Filter

    return Filter(categories=[STREAM_CATEGORY])


# ---------------------------------------------------------------- lifecycle operations


OPERATIONS = ("install", "upgrade", "remove")


def run_operation(backend: Any, operation: str, name: str, argv: Sequence[str], version: str | None = None,
                  timeout_s: float | None = None) -> dict[str, Any]:
    """Record the start, run `argv`, record completion or failure (with duration, exit code,
    log file and the tail of stderr). Returns the final status."""
    from chronik.domains.extensions import runner

    if operation not in OPERATIONS:
        raise ValidationError("operation", f"{operation!r} is not one of {OPERATIONS}")
    if not argv:
        raise ValidationError("COMMAND", "is missing", f"write: chronik ext {operation} NAME -- COMMAND ARGS...")
    current = backend.status(name) or {}
    current_state, current_version = current.get("state"), current.get("version")
    version = version or "latest"
    if operation == "install":
        started, busy = InstallStarted(name, version, "chronik", "Script"), "installing"
    elif operation == "upgrade":
        started, busy = UpgradeStarted(name, current_version or "unknown", version), "installing"
    else:
        started, busy = RemoveStarted(name, current_version or "unknown"), "removing"
    started_id = backend.record(name, started, current_state, busy, runner=runner.runner_identity())
    stamp = sindri.now_text()[:19].replace("-", "").replace(":", "")
    log_path = backend.log_dir() / name / f"{stamp}Z-{operation}.log"
    outcome = runner.run(argv, log_path, timeout_s)
    ok = outcome.exit_code == 0 and outcome.interrupted is None
    log_file, duration, error = outcome.log_file, outcome.duration_s, outcome.error or ""
    if operation == "install":
        event = (InstallCompleted(name, version, duration, [], log_file) if ok
                 else InstallFailed(name, version, error, 0, duration, log_file))
    elif operation == "upgrade":
        event = (UpgradeCompleted(name, started.from_version, version, duration, log_file) if ok  # type: ignore[attr-defined]
                 else UpgradeFailed(name, started.from_version, version, error, duration, log_file))  # type: ignore[attr-defined]
    else:
        event = (RemoveCompleted(name, started.version, duration, log_file) if ok  # type: ignore[attr-defined]
                 else RemoveFailed(name, started.version, error, duration, log_file))  # type: ignore[attr-defined]
    after = ("removed" if operation == "remove" else "installed") if ok else "failed"
    backend.record(name, event, busy, after, extra={"exit_code": outcome.exit_code})
    if isinstance(backend, SindriBackend):
        backend.finish_run(started_id)
    return {**(backend.status(name) or {}), "exit_code": outcome.exit_code, "interrupted": outcome.interrupted}

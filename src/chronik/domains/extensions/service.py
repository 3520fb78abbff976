"""The extension use cases, on either backend: a chronik ledger (native.LedgerBackend, streams
`extension:NAME`) or a real Sindri file (compat.backend.SindriBackend).

Each function is one thing a person or program asks for and returns data (dicts of JSON values
and Records); interfaces only format it. Inputs arrive as the user wrote them (time bounds as
text, kinds and levels as words) and are checked here; a ValidationError names the field
(`since`, `kinds`, `level`, ...), never an interface's option.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from typing import IO, TYPE_CHECKING, Any, Protocol

import msgspec

from chronik.domains.extensions.compat.lines import DEFAULT_PATH as SINDRI_DEFAULT_PATH
from chronik.domains.extensions.compat.lines import BadLine
from chronik.domains.extensions.events import (
    INTERRUPTED,
    KINDS,
    LEVELS,
    ExtensionEvent,
    InstallCompleted,
    InstallFailed,
    InstallStarted,
    RemoveCompleted,
    RemoveFailed,
    RemoveStarted,
    UpgradeCompleted,
    UpgradeFailed,
    UpgradeStarted,
)
from chronik.domains.extensions.reducer import Record, Status
from chronik.domains.extensions.timekeys import bound_from_text, now_text
from chronik.errors import NotFound, ValidationError
from chronik.ledger import Ledger

if TYPE_CHECKING:
    from pathlib import Path

HIDDEN_STATES = ("removed",)
OPERATIONS = ("install", "upgrade", "remove")
LEVEL_ORDER = ("info", "warn", "error")
DEFAULT_COMPACT_DAYS = 90


class Backend(Protocol):
    """Where extension events live. Both backends answer with Sindri's read semantics on a
    Sindri file and position order on a chronik ledger."""

    def status(self, name: str) -> Status | None: ...

    def statuses(self) -> list[Status]: ...

    def record(self, event: ExtensionEvent, state_before: str | None, state_after: str, *,
               extra: dict[str, Any] | None = None, runner: dict[str, Any] | None = None) -> str:
        """Append one event with the state pair the caller saw; returns its id."""
        ...

    def finish_run(self, started_id: str) -> None: ...

    def records(self, name: str | None = None) -> Iterator[Record]:
        """Every event (of extension `name`) in ledger order."""
        ...

    def tail(self, stop: Callable[[], bool] | None = None) -> Iterator[Record]:
        """Events recorded after this call, as they come (until `stop()`)."""
        ...

    def bad_lines(self) -> Sequence[BadLine]: ...

    def log_dir(self) -> Path: ...

    def stats(self) -> dict[str, Any]: ...


def open_backend(sindri_path: str | os.PathLike[str] | None, ledger: Callable[[], Ledger]) -> Backend:
    """The Sindri file at `sindri_path`, else the chronik ledger `ledger()` opens."""
    if sindri_path is not None:
        from chronik.domains.extensions.compat.backend import SindriBackend

        return SindriBackend(sindri_path)
    from chronik.domains.extensions.native import LedgerBackend

    return LedgerBackend(ledger())


# ---------------------------------------------------------------- reading


class LogFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which events `log` shows; since/until are time keys (inclusive)."""

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


@lru_cache(maxsize=len(LEVEL_ORDER) + 1)
def level_types(level: str, field: str = "level") -> frozenset[str]:
    """A level and the more severe ones (info: all, warn: warn + error, error: failures)."""
    if level not in LEVEL_ORDER:
        raise ValidationError(field, f"{level!r} is not a level", "use info, warn or error")
    return frozenset().union(*(LEVELS[name] for name in LEVEL_ORDER[LEVEL_ORDER.index(level):]))


def kind_types(kinds: Iterable[str], field: str = "kinds") -> tuple[str, ...]:
    """Event kinds (install, upgrade, remove, validation, outdated) as their event types."""
    types: list[str] = []
    for kind in kinds:
        if kind not in KINDS:
            raise ValidationError(field, f"{kind!r} is not an event kind", f"use one of {', '.join(KINDS)}")
        types.extend(KINDS[kind])
    return tuple(types)


def log_filter(names: Sequence[str] = (), kinds: Sequence[str] = (), level: str | None = None,
               since: str | None = None, until: str | None = None) -> LogFilter:
    """A filter from words as a person writes them; times as RFC 3339, a date or an age (2h)."""
    if level is not None:
        level_types(level)
    return LogFilter(names=tuple(names), types=kind_types(kinds), level=level,
                     since=bound_from_text(since, "since"), until=bound_from_text(until, "until"))


def with_liveness(status: Status) -> Status:
    """A started operation whose runner process is gone is shown as interrupted."""
    from chronik.domains.extensions.runner import runner_alive

    if status.get("state") in ("installing", "removing") and runner_alive(status.get("runner")) is False:
        return {**status, "state": INTERRUPTED, "interrupted_from": status["state"]}
    return status


def visible(statuses: Iterable[Status], show_all: bool) -> list[Status]:
    rows = [with_liveness(s) for s in statuses]
    return sorted((s for s in rows if show_all or s["state"] not in HIDDEN_STATES), key=lambda s: s["name"])


class Listing(msgspec.Struct, frozen=True):
    statuses: list[Status]
    bad_lines: list[BadLine]


def list_statuses(backend: Backend, show_all: bool = False) -> Listing:
    """Every extension's status, sorted by name; removed ones only with `show_all`."""
    rows = visible(backend.statuses(), show_all)
    return Listing(rows, list(backend.bad_lines()))


class Timeline(msgspec.Struct, frozen=True):
    status: Status
    events: list[Record]
    bad_lines: list[BadLine]


def timeline(backend: Backend, name: str, limit: int | None = None, since: str | None = None) -> Timeline:
    """One extension's status and events in ledger order: those at or after `since`, then the
    last `limit`. NotFound when it has none."""
    events_filter = log_filter(names=(name,), since=since)
    current = backend.status(name)
    if current is None:
        raise NotFound(f"no events for extension {name!r}")
    return Timeline(with_liveness(current), matching(backend, events_filter, limit), list(backend.bad_lines()))


def matching(backend: Backend, log_filter: LogFilter, limit: int | None) -> list[Record]:
    """Matching records in ledger order; the time filters apply first, then the last `limit`."""
    names = log_filter.names
    records = (r for r in backend.records(names[0] if len(names) == 1 else None) if log_filter.matches(r))
    return list(deque(records, maxlen=limit) if limit else records)


class LogView:
    """`log`'s answer: the last matching records, and `follow()` for those recorded after."""

    def __init__(self, records: list[Record], bad_lines: list[BadLine], tail: Iterator[Record],
                 log_filter: LogFilter) -> None:
        self.records = records
        self.bad_lines = bad_lines
        self._tail = tail
        self._filter = log_filter

    def follow(self) -> Iterator[Record]:
        """New matching records as they are recorded (same filters; none skipped, none
        repeated, even with equal timestamps), until the caller stops iterating."""
        shown = {record.id for record in self.records}  # a record both read and tailed is shown once
        return (r for r in self._tail if r.id not in shown and self._filter.matches(r))


def log(backend: Backend, log_filter: LogFilter, limit: int | None = None) -> LogView:
    """Matching records in ledger order (time filters first, then the last `limit`)."""
    tail = backend.tail()  # its starting point is now, before the read below
    return LogView(matching(backend, log_filter, limit), list(backend.bad_lines()), tail, log_filter)


def stats(backend: Backend) -> dict[str, Any]:
    """Totals: events, oldest and newest timestamps, counts per type (and where)."""
    return backend.stats()


def export(backend: Backend, out: IO[bytes], format: str = "sindri") -> int:
    """Every extension event in ledger order as Sindri lines or Sindri's JSON array; how many."""
    from chronik.domains.extensions.compat.transfer import write_export

    return write_export(backend.records(), out, format)


def import_sindri(ledger: Ledger, sindri_path: str | os.PathLike[str],
                  progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Import a Sindri file into the chronik ledger (ids and timestamps kept; idempotent);
    `progress(done, total)` after each committed chunk."""
    from chronik.domains.extensions.compat.transfer import import_sindri as run_import
    from chronik.domains.extensions.native import LedgerBackend

    return run_import(LedgerBackend(ledger), sindri_path, progress)


def compact(sindri_path: str | os.PathLike[str] | None, days: int = DEFAULT_COMPACT_DAYS,
            now: str | None = None) -> dict[str, Any]:
    """Sindri's compaction of a Sindri file, under its lock (a chronik ledger uses retention)."""
    from chronik.domains.extensions.compat.file import SindriFile

    if sindri_path is None:
        raise ValidationError("sindri_path", "compact works on a Sindri ledger",
                              "name the Sindri file; chronik ledgers use retention and archives")
    if days < 0:
        raise ValidationError("days", f"{days} is negative", "keep 0 or more days")
    return SindriFile(sindri_path).compact(days, now)


def verify(backend: Backend, catalog_path: str | os.PathLike[str], names: list[str] | None = None,
           workers: int | None = None, timeout_s: float | None = None) -> list[dict[str, Any]]:
    """Run the catalog's validation commands for `names` (default: every installed extension)
    concurrently and record validation_succeeded or validation_failed for each."""
    from chronik.domains.extensions import catalog

    return catalog.verify(backend, catalog.load_catalog(catalog_path), names,
                          catalog.DEFAULT_WORKERS if workers is None else workers,
                          catalog.DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s)


def outdated(backend: Backend, catalog_path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Record outdated_detected for each installed extension the catalog has a newer version of."""
    from chronik.domains.extensions import catalog

    return catalog.outdated(backend, catalog.load_catalog(catalog_path))


class Doctor(msgspec.Struct, frozen=True):
    bad_lines: list[BadLine]
    quarantined: int = 0
    side_file: str | None = None


def doctor(sindri_path: str | os.PathLike[str] | None, quarantine: bool = False) -> Doctor:
    """A Sindri file's malformed lines; with `quarantine`, moved to PATH.quarantine."""
    from chronik.domains.extensions.compat.backend import SindriBackend

    backend = SindriBackend(sindri_path or SINDRI_DEFAULT_PATH)
    bad = backend.bad_lines()
    if not (quarantine and bad):
        return Doctor(bad)
    moved = backend.file.quarantine()
    return Doctor(bad, moved["quarantined"], moved["side_file"])


# ---------------------------------------------------------------- lifecycle operations


def run_operation(backend: Backend, operation: str, name: str, argv: Sequence[str], version: str | None = None,
                  timeout_s: float | None = None) -> dict[str, Any]:
    """Record the start, run `argv`, record completion or failure (with duration, exit code,
    log file and the tail of stderr). Returns the final status with `exit_code` (None when the
    command did not start) and `interrupted`."""
    from chronik.domains.extensions import runner

    if operation not in OPERATIONS:
        raise ValidationError("operation", f"{operation!r} is not one of {', '.join(OPERATIONS)}")
    if not argv:
        raise ValidationError("command", "is missing", "give the command to run and its arguments")
    current = backend.status(name) or {}
    current_state, current_version = current.get("state"), current.get("version") or "unknown"
    version = version or "latest"
    started: ExtensionEvent
    if operation == "install":
        started, busy = InstallStarted(name, version, "chronik", "Script"), "installing"
    elif operation == "upgrade":
        started, busy = UpgradeStarted(name, current_version, version), "installing"
    else:
        started, busy = RemoveStarted(name, current_version), "removing"
    started_id = backend.record(started, current_state, busy, runner=runner.runner_identity())
    stamp = now_text()[:19].replace("-", "").replace(":", "")
    log_path = backend.log_dir() / name / f"{stamp}Z-{operation}.log"
    outcome = runner.run(argv, log_path, timeout_s)
    ok = outcome.exit_code == 0 and outcome.interrupted is None
    log_file, duration, error = outcome.log_file, outcome.duration_s, outcome.error or ""
    finished: ExtensionEvent
    if operation == "install":
        finished = (InstallCompleted(name, version, duration, [], log_file) if ok
                    else InstallFailed(name, version, error, 0, duration, log_file))
    elif operation == "upgrade":
        finished = (UpgradeCompleted(name, current_version, version, duration, log_file) if ok
                    else UpgradeFailed(name, current_version, version, error, duration, log_file))
    else:
        finished = (RemoveCompleted(name, current_version, duration, log_file) if ok
                    else RemoveFailed(name, current_version, error, duration, log_file))
    after = ("removed" if operation == "remove" else "installed") if ok else "failed"
    backend.record(finished, busy, after, extra={"exit_code": outcome.exit_code})
    backend.finish_run(started_id)
    return {**(backend.status(name) or {}), "exit_code": outcome.exit_code, "interrupted": outcome.interrupted,
            "ok": ok}

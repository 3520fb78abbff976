"""Extensions on a real Sindri status ledger (service.Backend), read with Sindri's semantics
and written as Sindri's own call sites write.

Sindri writes each state pair per call site, not from the previous state (REFERENCE.md
section 1): install_started is always `null -> installing`, even on a reinstall. So this backend
writes exactly those pairs; a chronik ledger keeps the real previous state instead.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from chronik.domains.extensions import reducer as status_fold
from chronik.domains.extensions.compat.file import SindriFile
from chronik.domains.extensions.compat.lines import DEFAULT_PATH, BadLine, Contents, Entry, new_envelope
from chronik.domains.extensions.compat.queries import scan_latest, stats
from chronik.domains.extensions.events import ExtensionEvent, State, event_fields, type_of
from chronik.domains.extensions.reducer import Record, Status
from chronik.domains.extensions.timekeys import key_to_text

FOLLOW_POLL_S = 0.2

# (state_before, state_after) as Sindri's call sites write them, by event type: install
# null -> installing, then installing -> installed | failed; upgrade installed -> installing,
# then installing -> installed | failed; remove installed -> removing, then removing -> removed |
# failed; the outdated check installed -> outdated; verify installed -> installed | failed.
CALL_SITE_PAIRS: dict[str, tuple[State | None, State]] = {
    "install_started": (None, "installing"),
    "install_completed": ("installing", "installed"),
    "install_failed": ("installing", "failed"),
    "upgrade_started": ("installed", "installing"),
    "upgrade_completed": ("installing", "installed"),
    "upgrade_failed": ("installing", "failed"),
    "remove_started": ("installed", "removing"),
    "remove_completed": ("removing", "removed"),
    "remove_failed": ("removing", "failed"),
    "outdated_detected": ("installed", "outdated"),
    "validation_succeeded": ("installed", "installed"),
    "validation_failed": ("installed", "failed"),
}


def record_from_entry(entry: Entry) -> Record:
    envelope = entry.envelope
    return Record(name=envelope.extension_name, type=entry.type, id=envelope.event_id,
                  at=key_to_text(entry.key), key=entry.key, by_time=True,
                  state_before=envelope.state_before, state_after=envelope.state_after,
                  fields=event_fields(envelope.event))


class SindriBackend:
    """A real Sindri status ledger file."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.file = SindriFile(path or DEFAULT_PATH)
        self._contents: Contents | None = None
        self._scan_bad: list[BadLine] | None = None

    def contents(self, fresh: bool = False) -> Contents:
        if self._contents is None or fresh:
            self._contents = self.file.read()
        return self._contents

    def log_dir(self) -> Path:
        return self.file.path.parent / "logs"

    def runs_dir(self) -> Path:
        return self.file.path.parent / "chronik-runs"

    def statuses(self) -> list[Status]:
        latest = scan_latest(self.file.read_bytes())
        self._scan_bad = latest.bad
        return [self._status_of(entry, latest.counts[name]) for name, entry in latest.entries.items()]

    def status(self, name: str) -> Status | None:
        return next((s for s in self.statuses() if s["name"] == name), None)

    def _status_of(self, entry: Entry, count: int) -> Status:
        record = record_from_entry(entry)
        if record.type.endswith("_started"):
            record = msgspec.structs.replace(record, runner=self._runner_of(record.id))
        return {**status_fold.apply(status_fold.initial(), record), "events": count}

    def _runner_of(self, event_id: str) -> dict[str, Any] | None:
        try:
            runner: dict[str, Any] = msgspec.json.decode((self.runs_dir() / f"{event_id}.json").read_bytes())
        except (OSError, msgspec.DecodeError):
            return None
        return runner

    def record(self, event: ExtensionEvent, state_before: str | None, state_after: str, *,
               extra: dict[str, Any] | None = None, runner: dict[str, Any] | None = None) -> str:
        """Append one line with Sindri's call-site state pair for the event's type (the pair the
        caller saw is not written: Sindri's readers expect its own). `extra` has no room in a
        Sindri line and is dropped; `runner` goes to a side file removed when the run ends."""
        before, after = CALL_SITE_PAIRS[type_of(event)]
        envelope = new_envelope(event, before, after)
        if runner:
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

    def records(self, name: str | None = None) -> Iterator[Record]:
        for entry in self.contents().entries:
            if name is None or entry.name == name:
                yield record_from_entry(entry)

    def bad_lines(self) -> list[BadLine]:
        if self._contents is None and self._scan_bad is not None:
            return self._scan_bad  # status read only what it needed
        return self.contents().bad

    def tail(self, stop: Callable[[], bool] | None = None) -> Iterator[Record]:
        """Lines appended from now on, by event id, so a compaction (which renumbers lines)
        neither repeats nor skips one, and events sharing a timestamp are all shown."""
        seen = {entry.envelope.event_id for entry in self.contents(fresh=True).entries}
        return self._new_lines(seen, stop)

    def _new_lines(self, seen: set[str], stop: Callable[[], bool] | None) -> Iterator[Record]:
        while stop is None or not stop():
            time.sleep(FOLLOW_POLL_S)
            for entry in self.contents(fresh=True).entries:
                if entry.envelope.event_id not in seen:
                    seen.add(entry.envelope.event_id)
                    yield record_from_entry(entry)

    def stats(self) -> dict[str, Any]:
        return {"path": str(self.file.path), **stats(self.contents())}

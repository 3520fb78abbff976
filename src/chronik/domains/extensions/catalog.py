"""The extension catalog (TOML) and the checks run from it: `verify` and `outdated`.

    [extensions.python]
    version = "3.13.0"            # the version the catalog installs
    install_method = "mise"
    validate = ["python3 --version", "pip --version"]
    latest_version = "3.14.0"     # what `outdated` compares with

Validation commands run concurrently on a bounded pool, each with a timeout; no shell.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import msgspec

from chronik.domains.extensions.events import (
    ExtensionEvent,
    OutdatedDetected,
    ValidationFailed,
    ValidationSucceeded,
)
from chronik.domains.extensions.runner import error_tail
from chronik.errors import NotFound, ValidationError


class Recorder(Protocol):
    """What the catalog checks need of a backend (service.Backend has it)."""

    def statuses(self) -> list[dict[str, Any]]: ...

    def record(self, event: ExtensionEvent, state_before: str | None, state_after: str, *,
               extra: dict[str, Any] | None = None, runner: dict[str, Any] | None = None) -> str: ...

DEFAULT_WORKERS = 4
MAX_WORKERS = 32
DEFAULT_TIMEOUT_S = 30.0


class CatalogEntry(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    version: str | None = None
    install_method: str | None = None
    validate: list[str] = msgspec.field(default_factory=list)
    latest_version: str | None = None


def load_catalog(path: str | os.PathLike[str]) -> dict[str, CatalogEntry]:
    """The catalog file at `path`; errors name the field `catalog`."""
    try:
        raw = tomllib.loads(Path(os.fspath(path)).expanduser().read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"{path}: no such catalog file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError("catalog", f"{path} is not valid TOML: {exc}") from None
    table = raw.get("extensions", {})
    if not isinstance(table, dict):
        raise ValidationError("catalog", "[extensions] must be a table of tables",
                              "write [extensions.NAME] sections")
    try:
        return {name: msgspec.convert({**fields, "name": name}, CatalogEntry) for name, fields in table.items()}
    except msgspec.ValidationError as exc:
        raise ValidationError("catalog", str(exc), "see docs/extensions.md for the catalog format") from None


def check_one(entry: CatalogEntry, timeout_s: float) -> str | None:
    """Run the entry's validation commands in order; None when all succeed, else why not."""
    for command in entry.validate:
        argv = shlex.split(command)
        try:
            done = subprocess.run(argv, capture_output=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            return f"Command '{command}' not found"
        except subprocess.TimeoutExpired:
            return f"Command '{command}' timed out after {timeout_s:g} s"
        except OSError as exc:
            return f"Command '{command}' could not run: {exc.strerror or exc}"
        if done.returncode != 0:
            tail = error_tail(done.stderr or done.stdout)
            return f"Command '{command}' failed with exit code {done.returncode}" + (f": {tail}" if tail else "")
    return None


def verify(backend: Recorder, catalog: dict[str, CatalogEntry], names: list[str] | None = None,
           workers: int = DEFAULT_WORKERS, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[dict[str, Any]]:
    """Validate installed extensions (or `names`) concurrently; record each result."""
    if not 1 <= workers <= MAX_WORKERS:
        raise ValidationError("workers", f"{workers} is not from 1 to {MAX_WORKERS}")
    statuses = {s["name"]: s for s in backend.statuses()}
    targets = names or sorted(n for n, s in statuses.items() if s["state"] in ("installed", "failed", "outdated"))
    missing = [n for n in targets if n not in catalog]
    if missing:
        raise NotFound(f"not in the catalog: {', '.join(missing)}")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        reasons = list(pool.map(lambda n: check_one(catalog[n], timeout_s), targets))
    results = []
    for name, reason in zip(targets, reasons, strict=True):
        status = statuses.get(name, {})
        version = status.get("version") or catalog[name].version or "unknown"
        if reason is None:
            event: ExtensionEvent = ValidationSucceeded(name, version, "manual")
        else:
            event = ValidationFailed(name, version, "manual", reason)
        backend.record(event, status.get("state"), "installed" if reason is None else "failed")
        results.append({"name": name, "ok": reason is None, "error": reason})
    return results


def outdated(backend: Recorder, catalog: dict[str, CatalogEntry]) -> list[dict[str, Any]]:
    """Record outdated_detected for each installed extension whose catalog has a newer version."""
    found = []
    for status in sorted(backend.statuses(), key=lambda s: s["name"]):
        entry = catalog.get(status["name"])
        if entry is None or entry.latest_version is None or status["state"] != "installed":
            continue
        if status["version"] != entry.latest_version:
            backend.record(OutdatedDetected(status["name"], status["version"] or "unknown", entry.latest_version),
                           "installed", "outdated")
            found.append({"name": status["name"], "current_version": status["version"],
                          "latest_version": entry.latest_version})
    return found

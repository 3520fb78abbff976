"""The typed errors of chronik.

Every error a caller can act on is a subclass of `ChronikError`. Errors about input name the
field at fault and how to fix it, so an interface can show them verbatim; the CLI maps each
class to an exit code (see `exit_code`).
"""

from __future__ import annotations


class ChronikError(Exception):
    """Base class of every error chronik raises on purpose."""

    exit_code = 1

    def to_dict(self) -> dict:
        return {"error": type(self).__name__, "message": str(self)}


class ValidationError(ChronikError, ValueError):
    """Bad input: names the field and the fix. Nothing was written."""

    exit_code = 2

    def __init__(self, field: str, problem: str, fix: str = "") -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        message = f"{field}: {problem}"
        if fix:
            message += f" ({fix})"
        super().__init__(message)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "field": self.field, "problem": self.problem, "fix": self.fix}


class LimitExceeded(ValidationError):
    """Input over a documented limit (event size, depth, batch size, page size)."""

    def __init__(self, field: str, limit_name: str, limit: int, actual: int, fix: str = "") -> None:
        self.limit_name = limit_name
        self.limit = limit
        self.actual = actual
        super().__init__(field, f"{actual} exceeds the limit {limit_name}={limit}", fix)


class DuplicateIdError(ValidationError):
    """An event id is already recorded with different content (idempotency violation)."""


class ConcurrencyError(ChronikError):
    """The stream's version did not match the expectation. Nothing was written."""

    exit_code = 4

    def __init__(self, stream: str, expected: object, actual: int | None) -> None:
        self.stream = stream
        self.expected = expected
        self.actual = actual  # the stream's current version; None when it has no events
        self.problem, self.fix = conflict_words(expected, actual)
        super().__init__(f"{stream}: {self.problem} ({self.fix})")

    def to_dict(self) -> dict:
        return {**super().to_dict(), "stream": self.stream, "expected": str(self.expected),
                "actual": self.actual, "fix": self.fix}


def conflict_words(expected: object, actual: int | None) -> tuple[str, str]:
    """What a ConcurrencyError says (every store raises it, so this is its one wording): the
    expectation, the stream's current version, and how to retry against it."""
    wanted = {"no-stream": "no stream", "exists": "the stream to exist"}.get(str(expected))
    if wanted is None:
        wanted = f"version {expected}" if isinstance(expected, int) else str(expected)
    if actual is None:
        return (f"expected {wanted}, but the stream has no events yet",
                "re-read it and decide again; to create it, retry expecting no stream")
    return (f"expected {wanted}, but the stream is at version {actual}",
            f"re-read it and decide again, then retry expecting version {actual}")


class IntegrityError(ChronikError):
    """Stored data is inconsistent: a broken chain, a corrupt record, a bad signature."""

    exit_code = 3


class StorageError(ChronikError):
    """The store could not do what was asked (I/O error, lost connection, closed ledger)."""


class StoreBusy(StorageError):
    """The store stayed locked by other writers for longer than the configured timeout."""


class LeaseHeld(StoreBusy):
    """A named lease (a projection's: only one runner applies its events) stayed held by another
    holder for longer than the wait. Names the holder (pid, host, since) when the store knows."""

    def __init__(self, message: str, name: str, pid: int | None = None, host: str | None = None,
                 since: str | None = None) -> None:
        self.name = name
        self.pid = pid
        self.host = host
        self.since = since
        super().__init__(message)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "lease": self.name, "pid": self.pid, "host": self.host,
                "since": self.since}


class NotFound(ChronikError):
    """A stream, event or file that was named does not exist."""

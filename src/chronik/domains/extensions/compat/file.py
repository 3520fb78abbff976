"""A Sindri ledger file shared with Sindri itself: same lock, same line format.

Where Sindri loses appends, this does not: appends and compaction take the same `flock` on the
ledger file itself, compaction holds it while it rewrites, and an appender that finds the file
replaced (another inode) after locking reopens it. Lines are written with one `write` of
complete lines and fsynced before returning.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from chronik.domains.extensions.compat.lines import (
    DEFAULT_PATH,
    Contents,
    Envelope,
    encode,
    encode_line,
    parse_lines,
)
from chronik.domains.extensions.compat.queries import compact_keep, minus_days
from chronik.domains.extensions.timekeys import key_to_text, now_text, time_key
from chronik.errors import ValidationError
from chronik.fileio import write_file_durably

Result = TypeVar("Result")


class SindriFile:
    """The file at `path` (default ~/.sindri/status_ledger.jsonl)."""

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_PATH) -> None:
        self.path = Path(os.path.expanduser(os.fspath(path))).absolute()

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> Contents:
        """Every line, without a lock (appends are single complete writes; a torn last line
        without its newline is left for its writer and not reported, but counted in the size)."""
        data = self._read_all()
        complete = _complete_lines(data)
        contents = parse_lines(complete)
        return contents if len(complete) == len(data) else Contents(contents.entries, contents.bad, len(data))

    def read_bytes(self) -> bytes:
        """The file up to its last complete line (b"" when it does not exist)."""
        return _complete_lines(self._read_all())

    def _read_all(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""

    def append(self, envelopes: Sequence[Envelope]) -> None:
        """Append lines under flock on the file itself; reopen if compaction replaced it."""
        payload = b"".join(encode_line(envelope) for envelope in envelopes)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if not self._still_current(fd):
                    continue  # renamed over while we waited: the lines go into the new file
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    payload = b"\n" + payload.lstrip(b"\n")  # never glue a line onto a torn one
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
                return
            finally:
                os.close(fd)  # releases the lock

    def _still_current(self, fd: int) -> bool:
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (on_disk.st_ino, on_disk.st_dev) == (mine.st_ino, mine.st_dev)

    def rewrite(self, decide: Callable[[Contents, bytes], tuple[bytes, Result]]) -> Result:
        """Under the ledger's lock: read the file, let `decide(contents, data)` return (the bytes
        to keep, result), write them to a temp file, fsync, rename over, fsync the directory.
        Appenders block on the lock meanwhile and then find the new inode."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if not self._still_current(fd):
                    continue
                data = _read_fd(fd)
                if data and not data.endswith(b"\n"):
                    data += b"\n"  # a torn tail is kept, as a line of its own, for doctor to report
                kept, result = decide(parse_lines(data), data)
                # Rewritten under the same flock appenders take; they re-check the inode.
                write_file_durably(self.path, kept)
                return result
            finally:
                os.close(fd)

    def compact(self, retention_days: int = 90, now: str | None = None) -> dict[str, Any]:
        """compact(days) with a pinned `now` (RFC 3339) or the clock; bad lines are kept."""
        now_key = time_key(now if now is not None else now_text())
        if now_key is None:
            raise ValidationError("now", f"{now!r} is not an RFC 3339 time", "write e.g. 2026-11-22T01:15:09Z")

        def decide(contents: Contents, data: bytes) -> tuple[bytes, dict[str, Any]]:
            keep = compact_keep(contents.entries, retention_days, now_key)
            kept_lines = {entry.line for entry, kept in zip(contents.entries, keep, strict=True) if kept}
            kept_lines.update(bad.line for bad in contents.bad)
            lines = [raw for number, raw in enumerate(data.split(b"\n")[:-1], 1) if number in kept_lines]
            removed = len(contents.entries) - sum(keep)
            return b"".join(raw + b"\n" for raw in lines), {
                "removed": removed, "lines_before": len(contents.entries) + len(contents.bad),
                "lines_after": len(lines), "cutoff": key_to_text(minus_days(now_key, retention_days)),
                "bad_lines_kept": len(contents.bad)}

        return self.rewrite(decide)

    def quarantine(self, side_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """Move every bad line into a side file (appended, with its line number), keep the rest."""
        side = Path(side_path) if side_path else self.path.with_name(self.path.name + ".quarantine")

        def decide(contents: Contents, data: bytes) -> tuple[bytes, dict[str, Any]]:
            bad_numbers = {bad.line for bad in contents.bad}
            lines = data.split(b"\n")[:-1]
            if bad_numbers:
                with open(side, "ab") as out:
                    for number in sorted(bad_numbers):
                        out.write(encode({"line": number, "text": lines[number - 1].decode("utf-8", "replace")})
                                  + b"\n")
                    out.flush()
                    os.fsync(out.fileno())
            kept = [raw for number, raw in enumerate(lines, 1) if number not in bad_numbers and raw.strip()]
            return b"".join(raw + b"\n" for raw in kept), {"quarantined": len(bad_numbers),
                                                          "side_file": str(side)}

        return self.rewrite(decide)


def _complete_lines(data: bytes) -> bytes:
    return data if not data or data.endswith(b"\n") else data[:data.rfind(b"\n") + 1]


def _read_fd(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks: list[bytes] = []
    offset = 0
    while True:
        chunk = os.pread(fd, max(size - offset, 1 << 16), offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)

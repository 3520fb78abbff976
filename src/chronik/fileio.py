"""The file operations chronik's writers use, behind one object so tests can inject faults.

Every writer that must be crash- and fault-safe (the JSON Lines store's appends, archive
segments, exports) calls these instead of `os` directly and takes a `FileSystem` (default
`REAL`). A test passes a subclass that fails the N-th write, fsync or rename with ENOSPC or
EIO, once or persistently, and checks that nothing acknowledged is lost and nothing partial is
visible. Errors are OSError here; callers turn them into StorageError naming the path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime

from chronik.errors import StorageError


class FileSystem:
    """The real thing: thin wrappers over os, one method per operation a fault may hit."""

    def open(self, path: str, flags: int, mode: int = 0o644) -> int:
        return os.open(path, flags | os.O_CLOEXEC, mode)

    def write(self, fd: int, data: bytes | memoryview) -> int:
        return os.write(fd, data)

    def write_all(self, fd: int, data: bytes) -> None:
        """Write every byte (os.write may write fewer than asked)."""
        view = memoryview(data)
        while view:
            written = self.write(fd, view)
            view = view[written:]

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def ftruncate(self, fd: int, size: int) -> None:
        os.ftruncate(fd, size)

    def rename(self, source: str, target: str) -> None:
        os.replace(source, target)

    def unlink(self, path: str) -> None:
        os.unlink(path)

    def close(self, fd: int) -> None:
        os.close(fd)

    def fsync_directory(self, path: str) -> None:
        """fsync the directory holding `path`'s entry, so a create or rename survives power loss."""
        fd = os.open(os.path.dirname(os.path.abspath(path)) or ".", os.O_RDONLY | os.O_DIRECTORY)
        try:
            self.fsync(fd)
        finally:
            os.close(fd)


REAL = FileSystem()

QUARANTINE_INFIX = ".quarantine-"


class QuarantineFailed(Exception):
    """The quarantine file could not be written: `cause` (an OSError) at `target`."""

    def __init__(self, target: str, cause: OSError) -> None:
        super().__init__(f"{target}: {os_reason(cause)}")
        self.target = target
        self.cause = cause


def quarantine(path: str, payload: bytes, files: FileSystem = REAL) -> str:
    """Append `payload` to `<path>.quarantine-<UTC time>` durably (file fsynced, directory
    fsynced); its name. Called before anything is cut from a ledger's files, so a crash in
    between leaves the bytes in both places, never in neither."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    target = f"{path}{QUARANTINE_INFIX}{stamp}"
    try:
        fd = files.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            files.write_all(fd, payload)
            files.fsync(fd)
        finally:
            files.close(fd)
        files.fsync_directory(target)
    except OSError as exc:
        raise QuarantineFailed(target, exc) from exc
    return target


def write_file_durably(path: str | os.PathLike[str], payload: bytes, files: FileSystem = REAL,
                       before_fsync: Callable[[], None] | None = None, mode: int = 0o644) -> None:
    """`path` holds exactly `payload`, durably, or is untouched: temporary file (created with
    `mode`), write, fsync, rename, fsync of the directory. On failure the temporary file is
    removed and StorageError names the path. Used for archive segments and manifests, anchors
    and keyrings."""
    path = str(path)
    temporary = path + ".tmp"
    _remove_quietly(temporary, files)  # a leftover would keep its old permissions
    step = "create"
    try:
        fd = files.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            step = "write"
            files.write_all(fd, payload)
            if before_fsync is not None:
                before_fsync()
            step = "fsync"
            files.fsync(fd)
        finally:
            files.close(fd)
        step = "rename"
        files.rename(temporary, path)
    except OSError as exc:
        _remove_quietly(temporary, files)
        raise StorageError(f"cannot {step} {temporary if step != 'rename' else path}: "
                           f"{os_reason(exc)}; nothing was written") from exc
    try:
        files.fsync_directory(path)
    except OSError as exc:
        raise StorageError(f"cannot fsync the directory of {path}: {os_reason(exc)}") from exc


def os_reason(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _remove_quietly(path: str, files: FileSystem) -> None:
    try:
        files.unlink(path)
    except OSError:
        pass  # it may never have been created

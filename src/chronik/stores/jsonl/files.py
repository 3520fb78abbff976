"""The operating-system side of the JSON Lines store: opening, locking, writing durably,
quarantining, and turning every OSError into a StorageError that names the path and the errno.

Everything that writes or fsyncs goes through a `chronik.fileio.FileSystem`, so tests can count
fsyncs and inject faults.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat as stat_module
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chronik import fileio
from chronik.errors import NotFound, StorageError
from chronik.fileio import FileSystem
from chronik.stores.base import environment_error

LOCK_SUFFIX = ".lock"
# FileChangeSignal: how often it stats the file for growth or replacement.
CHANGE_POLL_S = 0.002


def os_error(exc: OSError, doing: str, path: str) -> StorageError:
    """`cannot open /x/l.jsonl: Permission denied [EACCES]`: one line naming the path (also when
    the OSError carries none, as from pread or fsync), never a traceback."""
    if exc.errno == errno.EBADF:
        return StorageError(f"{doing} {path}: the ledger is closed; open it again")
    return environment_error(exc, doing if exc.filename else f"{doing} {path}")


def make_folders(path: str, files: FileSystem) -> None:
    """Create the missing folders above `path`; each new folder's entry is fsynced in its
    parent, so the ledger created inside survives a power loss."""
    missing: list[Path] = []
    folder = Path(path).parent
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        try:
            created.mkdir(exist_ok=True)
            files.fsync_directory(str(created))
        except OSError as exc:
            raise os_error(exc, "cannot create the folder", str(created)) from None


def open_lock_file(path: str, read_only: bool) -> int:
    """The descriptor of `<path>.lock`, created unless `read_only`; -1 when read-only and it
    does not exist (no writer ever opened the ledger, so there is nothing to wait for)."""
    lock_path = path + LOCK_SUFFIX
    try:
        if read_only:
            return os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC)
        return os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except FileNotFoundError:
        if read_only:
            return -1
        raise StorageError(f"cannot open {lock_path}: its folder does not exist [ENOENT]") from None
    except OSError as exc:
        if read_only and exc.errno in (errno.EACCES, errno.EPERM):
            return -1  # readable ledger, unreadable lock: read without waiting for writers
        raise os_error(exc, "cannot open", lock_path) from None


@contextmanager
def locked(fd: int, path: str, shared: bool = False) -> Iterator[None]:
    """flock on the lock file: exclusive for writers, shared for a storage check (it only has
    to wait until no write is in flight). A descriptor of -1 locks nothing."""
    if fd < 0:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
    except OSError as exc:
        raise os_error(exc, "cannot lock", path + LOCK_SUFFIX) from None
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def open_data_file(path: str, files: FileSystem, read_only: bool) -> int:
    """Open the data file: read-only, or for appending (created if need be; a new file's
    directory entry is fsynced so the file itself survives a crash)."""
    try:
        if read_only:
            try:
                fd = files.open(path, os.O_RDONLY)
            except (FileNotFoundError, NotADirectoryError):
                raise NotFound(f"no ledger at {path}; append creates one") from None
            return _regular_file(fd, path)
        flags = os.O_RDWR | os.O_APPEND
        try:
            fd = files.open(path, flags | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            return _regular_file(files.open(path, flags), path)
        files.fsync_directory(path)
        return fd
    except OSError as exc:
        raise os_error(exc, "cannot open", path) from None


def _regular_file(fd: int, path: str) -> int:
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        raise os_error(exc, "cannot stat", path) from None
    if not stat_module.S_ISREG(mode):
        os.close(fd)
        raise StorageError(f"cannot open {path}: it is not a file (give the path of a .jsonl ledger)")
    return fd


def write_all(fd: int, payload: bytes, path: str, files: FileSystem) -> None:
    """One write for the whole payload; a short write (disk full, >2 GiB) continues, and the
    framing keeps the commit atomic for readers meanwhile."""
    try:
        files.write_all(fd, payload)
    except OSError as exc:
        raise os_error(exc, "cannot write to", path) from exc


def pread(fd: int, size: int, offset: int, path: str) -> bytes:
    try:
        return os.pread(fd, size, offset)
    except OSError as exc:
        raise os_error(exc, "cannot read", path) from exc


def file_state(fd: int, path: str) -> tuple[int, int]:
    """(size, mtime_ns) of the open file."""
    try:
        stat = os.fstat(fd)
    except OSError as exc:
        raise os_error(exc, "cannot stat", path) from exc
    return stat.st_size, stat.st_mtime_ns


def path_stat(path: str) -> os.stat_result:
    try:
        return os.stat(path)
    except OSError as exc:
        raise os_error(exc, "cannot stat", path) from exc


def quarantine(path: str, payload: bytes, files: FileSystem) -> str:
    """`chronik.fileio.quarantine`, its OSError as the StorageError of this store."""
    try:
        return fileio.quarantine(path, payload, files)
    except fileio.QuarantineFailed as exc:
        raise os_error(exc.cause, "cannot quarantine the torn tail into", exc.target) from exc.cause


class FileChangeSignal:
    """The JSON Lines change signal: the file's (inode, size, mtime), taken when armed and
    stat'ed every CHANGE_POLL_S. It changes on an append and on a compaction that replaced the
    file; a partial commit changes it too (a spurious wake-up costs one head read, never an
    event)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._identity = self._now()

    def _now(self) -> tuple[int, int, int]:
        stat = path_stat(self._path)
        return stat.st_ino, stat.st_size, stat.st_mtime_ns

    def wait(self, known_position: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(CHANGE_POLL_S, remaining))
            current = self._now()
            if current != self._identity:
                self._identity = current
                return True

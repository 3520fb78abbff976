"""Helpers for the JSON Lines store tests: real ledgers written by the store itself, and file
systems (chronik.fileio seams) that record every durable operation or fail one of them."""

from __future__ import annotations

import errno as errnos
import os
import uuid
from pathlib import Path

from chronik import codec
from chronik.fileio import FileSystem
from chronik.model import Expect
from chronik.stores.base import PendingEvent, StreamBatch
from chronik.stores.jsonl import JsonlStore


def jsonl_url(path: Path | str) -> str:
    return "jsonl:///" + str(path).lstrip("/")


def pending(n: int, pad: int = 40) -> PendingEvent:
    return PendingEvent("wrote", str(uuid.uuid4()), "2026-11-22T01:15:09.000000Z",
                        codec.encode_json({"n": n, "pad": "x" * pad}), b"{}", False)


def batch(stream: str, *numbers: int) -> list[StreamBatch]:
    return [StreamBatch(stream, Expect.ANY, [pending(n) for n in numbers])]


def target_of(fd: int) -> str:
    """The path an open descriptor refers to (for telling the ledger from its folder)."""
    return os.readlink(f"/proc/self/fd/{fd}")


class RecordingFileSystem(FileSystem):
    """The real file system, recording (operation, path) for every write, fsync, truncate and
    rename that goes through the seam, in order. A directory fsync is recorded as
    ("fsync_directory", folder) and its inner fsync is not recorded twice."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self._in_directory = False

    def write(self, fd: int, data: bytes | memoryview) -> int:
        self.log.append(("write", target_of(fd)))
        return super().write(fd, data)

    def fsync(self, fd: int) -> None:
        if not self._in_directory:
            self.log.append(("fsync", target_of(fd)))
        super().fsync(fd)

    def fsync_directory(self, path: str) -> None:
        self.log.append(("fsync_directory", os.path.dirname(os.path.abspath(path))))
        self._in_directory = True
        try:
            super().fsync_directory(path)
        finally:
            self._in_directory = False

    def ftruncate(self, fd: int, size: int) -> None:
        self.log.append(("ftruncate", target_of(fd)))
        super().ftruncate(fd, size)

    def rename(self, source: str, target: str) -> None:
        self.log.append(("rename", target))
        super().rename(source, target)

    def take(self) -> list[tuple[str, str]]:
        """The operations recorded since the last take."""
        taken, self.log = self.log, []
        return taken


class FailingFileSystem(FileSystem):
    """Fails every call of `operation` whose target path ends with `suffix` (the ledger file by
    default) from the `at_call`-th on, with `error`, while `armed`; counts what it injected, so
    a test can assert that the fault really happened."""

    def __init__(self, operation: str, at_call: int = 1, error: int = errnos.EIO, suffix: str = ".jsonl",
                 persistent: bool = False) -> None:
        self.operation, self.at_call, self.error, self.suffix = operation, at_call, error, suffix
        self.persistent = persistent
        self.armed = True
        self.calls = 0
        self.injected = 0

    def _maybe_fail(self, operation: str, fd: int) -> None:
        if not self.armed or operation != self.operation or not target_of(fd).endswith(self.suffix):
            return
        self.calls += 1
        if self.calls == self.at_call or (self.persistent and self.calls > self.at_call):
            self.injected += 1
            raise OSError(self.error, f"injected {errnos.errorcode[self.error]}")

    def write(self, fd: int, data: bytes | memoryview) -> int:
        self._maybe_fail("write", fd)
        return super().write(fd, data)

    def fsync(self, fd: int) -> None:
        self._maybe_fail("fsync", fd)
        super().fsync(fd)


def write_ledger(path: Path, appends: int, per_append: int = 1) -> JsonlStore:
    """A ledger of `appends` commits of `per_append` events each, through the store; open."""
    store = JsonlStore(jsonl_url(path), str(path))
    for k in range(appends):
        store.append(batch(f"order:{k % 3}", *range(k * per_append, (k + 1) * per_append)))
    return store

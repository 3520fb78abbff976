"""A FileSystem that fails the N-th call of one operation with an errno, once or persistently."""

from __future__ import annotations

import errno as errnos

from chronik.fileio import FileSystem


class FaultyFileSystem(FileSystem):
    def __init__(self, operation: str, at_call: int, error: int = errnos.EIO, persistent: bool = False) -> None:
        self.operation, self.at_call, self.error, self.persistent = operation, at_call, error, persistent
        self.calls = 0
        self.failed = 0
        self.armed = True

    def _maybe_fail(self, operation: str, path: str = "") -> None:
        if not self.armed or operation != self.operation:
            return
        self.calls += 1
        if self.calls == self.at_call or (self.persistent and self.calls > self.at_call):
            self.failed += 1
            raise OSError(self.error, f"injected {errnos.errorcode[self.error]}", path)

    def write(self, fd, data):
        self._maybe_fail("write")
        return super().write(fd, data)

    def fsync(self, fd):
        self._maybe_fail("fsync")
        return super().fsync(fd)

    def rename(self, source, target):
        self._maybe_fail("rename", target)
        return super().rename(source, target)

"""Repairing the tail of a JSON Lines ledger, under the write lock, never destroying a byte.

Only `JsonlStore.repair()` and a write (which must start at the end of a complete commit) call
this; reading never does. Under the write lock no write is in flight, so what follows the last
complete commit was left by a writer that died, a power loss, or a cut outside chronik:

- a complete last commit lacking only its final newline: the newline is added (fsynced) and its
  records are kept;
- anything else (a torn tail): its exact bytes are first appended to `<file>.quarantine-<UTC
  time>` beside the ledger and fsynced (file and folder), then cut from the ledger (`ftruncate`
  + fsync). The quarantine file can be inspected, and its complete lines appended back by hand
  if they turn out to be events someone needs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from chronik.errors import StorageError
from chronik.fileio import FileSystem
from chronik.stores.base import StorageFinding
from chronik.stores.jsonl.files import os_error, pread, quarantine, write_all
from chronik.stores.jsonl.index import Index, Tail

log = logging.getLogger("chronik")


def repair_tail(index: Index, tail: Tail, path: str, files: FileSystem,
                fsync: Callable[[int], None]) -> StorageFinding | None:
    """Repair `tail` (found by the last scan of `index`'s file); the repair done, or None when
    the file ended cleanly. `fsync` is the store's (it remembers a failure)."""
    found = tail.finding(path)
    if found is None:
        return None
    detail = dict(found.detail, repaired=True)
    if tail.unterminated_commit:
        write_all(index.fd, b"\n", path, files)
        fsync(index.fd)
        for record, line_end in tail.unterminated_commit:
            index.add(record, line_end)
        message = (f"{path}: added the missing newline at the end of line {index.count}, keeping the "
                   f"last commit ({len(tail.unterminated_commit)} event(s))")
    else:
        payload = pread(index.fd, tail.size_bytes, tail.boundary, path)
        if len(payload) != tail.size_bytes:
            raise StorageError(f"{path} changed while its tail was being repaired (nothing was cut); "
                               f"is a writer without the lock at work?")
        target = quarantine(path, payload, files)
        try:
            files.ftruncate(index.fd, tail.boundary)
        except OSError as exc:
            raise os_error(exc, f"cannot cut the torn tail (saved in {target}) from", path) from exc
        fsync(index.fd)
        detail["quarantine"] = target
        message = (f"{path}: moved bytes {tail.boundary}..{tail.size} ({tail.size_bytes} bytes, "
                   f"{tail.lines} line(s), not a complete commit) after line {tail.last_line} "
                   f"(position {tail.head_position}) to {target}")
    index.tail, index.tail_seen = None, None
    log.warning("chronik: repaired %s", message)
    return StorageFinding(code=found.code, message=message, detail=detail)

"""Rewriting a JSON Lines ledger without the events retention archived (compaction).

A new file is written beside the old one (`<file>.rewrite`), fsynced, renamed over it and the
directory fsynced, all under the store's write lock, so other processes wait and then reload it
(the inode changes). Positions are kept; the first line after removed positions carries `skip`;
every line becomes a single-event commit (the commits were complete, so framing has done its job).
"""

from __future__ import annotations

import os

from chronik.fileio import FileSystem
from chronik.stores.base import READ_PAGE_ROWS
from chronik.stores.jsonl.files import os_error, write_all
from chronik.stores.jsonl.format import decode_records, record_line
from chronik.stores.jsonl.index import Index
from chronik.stores.jsonl.read import READ_CHUNK_BYTES, changed_on_disk, line_runs

REWRITE_SUFFIX = ".rewrite"


def rewrite_without(index: Index, doomed: set[int], path: str, files: FileSystem) -> None:
    """Replace the file at `path` (indexed by `index`) with one lacking the lines of `doomed`."""
    temporary = path + REWRITE_SUFFIX
    try:
        fd = files.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as exc:
        raise os_error(exc, "cannot create", temporary) from exc
    try:
        try:
            _write_kept_lines(index, doomed, fd, path, temporary, files)
            try:
                files.fsync(fd)
            except OSError as exc:
                raise os_error(exc, "cannot fsync", temporary) from exc
        finally:
            files.close(fd)
        try:
            files.rename(temporary, path)
        except OSError as exc:
            # Named here, not by the OSError (which names the source): both paths matter.
            raise os_error(OSError(exc.errno, exc.strerror), f"cannot rename {temporary} to", path) from exc
    except BaseException:
        try:
            files.unlink(temporary)
        except OSError:
            pass  # best effort: a leftover is truncated by the next rewrite
        raise
    try:
        files.fsync_directory(path)
    except OSError as exc:
        raise os_error(exc, "cannot fsync the folder after replacing (the archive holds the "
                            "removed events)", path) from exc


def _write_kept_lines(index: Index, doomed: set[int], fd: int, path: str, target: str,
                      files: FileSystem) -> None:
    kept_before = 0
    buffer: list[bytes] = []
    size = 0
    for first, last, chunk in line_runs(index, READ_PAGE_ROWS, path):
        with changed_on_disk(path, [index.line_positions[first], index.line_positions[last]]):
            records = decode_records(chunk)
        for record in records:
            if record.position in doomed:
                continue
            record.more = 0
            record.skip = record.position - kept_before - 1
            kept_before = record.position
            line = record_line(record)
            buffer.append(line)
            size += len(line)
        if size >= READ_CHUNK_BYTES:
            write_all(fd, b"".join(buffer), target, files)
            buffer, size = [], 0
    write_all(fd, b"".join(buffer), target, files)

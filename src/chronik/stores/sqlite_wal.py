"""Commits in a SQLite -wal file that SQLite itself will never read: damage SQLite does not report.

SQLite reads a write-ahead log frame by frame from the start and stops, without an error, at the
first frame whose salts (copied from the WAL header) or cumulative checksum do not match; the
database is then as of the last commit frame before that point (the format:
https://www.sqlite.org/fileformat2.html#the_write_ahead_log). So a few damaged bytes in the
middle of a -wal, or a damaged WAL header, silently roll a ledger back by every commit after
them, and neither `PRAGMA quick_check` nor the hash chain can see it: what is left is a sound
database and an intact chain, only shorter.

What is left behind is visible, though: frames after the point where SQLite stops that carry this
WAL's salts and mark a commit (a non-zero "database size after commit") are commits SQLite will
not read. `wal_findings` repeats SQLite's own recovery walk over the file (read-only) and reports
them. A writer in mid-commit can leave such a frame for a moment (the commit frame written
before the reader got there, an earlier frame not yet), so a finding counts only when it is
there in each of WAL_SCANS scans.

One case is a crash, not damage: a writer killed (or a machine losing power) in the middle of a
commit. SQLite writes a frame's header and its page in two writes, so the commit frame can be
there with this WAL's salts while its page (or an earlier frame of the same commit) is not:
exactly one commit, the last, left unread, its frames one contiguous run from the point where
SQLite stops. That commit never returned to its caller (SQLite acknowledges after the whole
commit is written), so nothing acknowledged is lost: it is reported as a torn tail, as a JSON
Lines ledger reports a torn last line, and `repair_torn_commit` moves its bytes to a quarantine
file and checkpoints the -wal. Damage confined to the last commit looks the same; the message
names both readings. More than one commit left unread, or a damaged header, is never a crash.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import time
from collections import Counter
from dataclasses import dataclass
from typing import BinaryIO

from chronik import fileio
from chronik.errors import StorageError
from chronik.stores.base import StorageFinding

WAL_HEADER_BYTES = 32
FRAME_HEADER_BYTES = 24
WAL_MAGIC = 0x377F0682  # the low bit says whether checksums read words big-endian
MASK = 0xFFFFFFFF
# A finding must be there in this many scans, WAL_SCAN_PAUSE_S apart (a writer in mid-commit).
WAL_SCANS = 3
WAL_SCAN_PAUSE_S = 0.02


@dataclass(frozen=True)
class WalScan:
    """What SQLite reads of a -wal, and which commits it leaves out."""

    frames: int  # whole frames in the file
    read_frames: int  # frames up to and including the last commit SQLite reads
    header_ok: bool
    unread_commits: int  # commit frames of this WAL after the point where SQLite stops
    first_unread_byte: int | None  # where the first of them starts
    torn_commit: bool  # the one unread commit is the last, one run of frames: a crash mid-commit
    frame_bytes: int

    @property
    def loses_commits(self) -> bool:
        return self.unread_commits > 0

    @property
    def stop_byte(self) -> int:
        """Where what SQLite reads ends: the header and the frames up to its last commit."""
        return WAL_HEADER_BYTES + self.read_frames * self.frame_bytes


def scan_wal(file: BinaryIO, page_size_hint: int, size: int | None = None) -> WalScan:
    """SQLite's recovery walk (walIndexRecover in its wal.c) over the first `size` bytes (default:
    all) of a -wal opened for reading, frame by frame, then on to `size` for the commits left
    out. A writer only appends past what it has written, so bytes below a size taken before the
    scan are complete; bytes appended during the scan are not looked at."""
    bounded = _Bounded(file, size)
    header_ok, salts, endian, page_size, checksum = _header(bounded.read(WAL_HEADER_BYTES), page_size_hint)
    frame_bytes = FRAME_HEADER_BYTES + page_size
    frames = read_frames = 0
    walking = header_ok  # still inside what SQLite reads
    unread: list[int] = []
    foreign_before_unread = False  # a frame of another WAL generation between the stop and a commit
    if not header_ok:
        # A damaged header hides the whole WAL: its frames still agree on the salts.
        salts = _common_salts(bounded, frame_bytes)
    offset = WAL_HEADER_BYTES
    while len(frame := bounded.read(frame_bytes)) >= FRAME_HEADER_BYTES:
        whole = len(frame) == frame_bytes
        frames += whole
        page_number, commit = struct.unpack(">II", frame[:8])
        if walking:
            walking = whole and frame[8:16] == salts and page_number != 0
            if walking:
                checksum = _checksum(endian, frame[:8], checksum)
                checksum = _checksum(endian, frame[FRAME_HEADER_BYTES:], checksum)
                walking = checksum == struct.unpack(">II", frame[16:24])
            if walking and commit:
                read_frames = frames  # frames after it without a commit: one still open
        if not walking:
            if commit and frame[8:16] == salts:
                unread.append(offset)
            elif frame[8:16] != salts and not unread:
                foreign_before_unread = True
        offset += len(frame)
    torn = header_ok and len(unread) == 1 and not foreign_before_unread
    return WalScan(frames, read_frames, header_ok, len(unread), unread[0] if unread else None, torn,
                   frame_bytes)


def wal_findings(db_path: str) -> list[StorageFinding]:
    """Commits in `<db_path>-wal` that SQLite will not read, as one finding; [] for a sound,
    empty or missing -wal. Reads the files only."""
    wal = db_path + "-wal"
    page_size = _page_size(db_path)
    scan = None
    for attempt in range(WAL_SCANS):
        if attempt:
            time.sleep(WAL_SCAN_PAUSE_S)
        try:
            with open(wal, "rb") as file:
                header = file.read(WAL_HEADER_BYTES)
                file.seek(0)
                scan = scan_wal(file, page_size, os.fstat(file.fileno()).st_size)
                # SQLite restarts a checkpointed WAL from its start with new salts: a scan that
                # a restart overtook mixes two generations, and proves nothing either way.
                file.seek(0)
                restarted = file.read(WAL_HEADER_BYTES) != header
        except OSError:
            return []  # no -wal (or none readable here: SQLite's own open reports that)
        if restarted or not scan.loses_commits:
            return []
    assert scan is not None
    return [_torn_commit(wal, scan) if scan.torn_commit else _lost_commits(wal, scan)]


def _detail(wal: str, scan: WalScan) -> dict[str, object]:
    return {"check": "wal_frames", "path": wal, "frames": scan.frames, "read_frames": scan.read_frames,
            "header_ok": scan.header_ok, "unread_commits": scan.unread_commits,
            "first_unread_byte": scan.first_unread_byte}


def _lost_commits(wal: str, scan: WalScan) -> StorageFinding:
    where = ("its header is damaged, so SQLite reads none of it" if not scan.header_ok else
             f"SQLite reads its first {scan.read_frames} frame(s) and stops at a frame whose checksum or "
             f"salt does not match")
    message = (f"{wal}: {where}; {scan.unread_commits} commit(s) after that point (from byte "
               f"{scan.first_unread_byte}) will never be read: committed transactions lost to damage in "
               f"the -wal. Copy the ledger with its -wal before anything writes to it; compare with an "
               f"anchor or a backup")
    return StorageFinding(code="wal_unread", message=message, detail=_detail(wal, scan))


def _torn_commit(wal: str, scan: WalScan) -> StorageFinding:
    assert scan.first_unread_byte is not None
    end = scan.first_unread_byte + scan.frame_bytes
    message = (f"{wal}: bytes {scan.stop_byte}..{end} are one commit SQLite does not read (it reads the "
               f"first {scan.read_frames} frame(s)): a commit torn by a crash while it was written, which "
               f"never returned to its writer (or damage to the last commit: compare with an anchor or "
               f"a backup when no crash happened); reads serve the ledger as of the commit before it; "
               f"`chronik repair` moves these bytes to a quarantine file beside the ledger")
    detail = _detail(wal, scan) | {"start": scan.stop_byte, "end": end}
    return StorageFinding(code="torn_tail", message=message, detail=detail)


def repair_torn_commit(conn: sqlite3.Connection, db_path: str) -> list[StorageFinding]:
    """Move a torn commit out of `<db_path>-wal` (the `torn_tail` of `wal_findings`): its bytes,
    from where SQLite stops reading to the end of the file, are first written durably to
    `<db_path>-wal.quarantine-<UTC time>`; then SQLite checkpoints the -wal and truncates it
    (PRAGMA wal_checkpoint(TRUNCATE)), which removes them, since SQLite never reads them and
    copies only what it reads. What was repaired, with the quarantine file; [] when the -wal
    holds no torn commit. Lost commits (`wal_unread`) are never touched: they are evidence.

    Safe while other connections write: a commit that lands between the copy and the checkpoint
    overwrites the torn bytes and is checkpointed like any other; the quarantine keeps the copy."""
    findings = [finding for finding in wal_findings(db_path) if finding.code == "torn_tail"]
    if not findings:
        return []
    wal = db_path + "-wal"
    start = int(findings[0].detail["start"])
    with open(wal, "rb") as file:
        file.seek(start)
        target = fileio.quarantine(wal, file.read())
    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        raise StorageError(f"{wal}: the torn commit is copied to {target}, but another connection is "
                           f"reading the ledger, so SQLite could not checkpoint the -wal; close the "
                           f"other readers and run `chronik repair` again")
    return [StorageFinding(code="torn_tail", message=f"{findings[0].message}; moved to {target}",
                           detail=findings[0].detail | {"quarantine": target})]


def _header(data: bytes, page_size_hint: int) -> tuple[bool, bytes | None, str, int, tuple[int, int]]:
    """(valid, salts, checksum word order, page size, checksum so far) of the WAL header."""
    if len(data) < WAL_HEADER_BYTES:
        return False, None, ">", page_size_hint, (0, 0)
    magic, _version, page_size = struct.unpack(">III", data[:12])
    if magic & ~1 & MASK != WAL_MAGIC or not _is_page_size(page_size):
        return False, None, ">", page_size_hint, (0, 0)
    endian = ">" if magic & 1 else "<"
    checksum = _checksum(endian, data[:24], (0, 0))
    if checksum != struct.unpack(">II", data[24:32]):
        return False, None, endian, page_size, (0, 0)
    return True, data[16:24], endian, page_size, checksum


def _checksum(endian: str, data: bytes, start: tuple[int, int]) -> tuple[int, int]:
    """SQLite's WAL checksum (walChecksumBytes), continued from `start`."""
    s0, s1 = start
    words = iter(struct.unpack(f"{endian}{len(data) // 4}I", data))
    for first, second in zip(words, words, strict=True):
        s0 = (s0 + first + s1) & MASK
        s1 = (s1 + second + s0) & MASK
    return s0, s1


class _Bounded:
    """Reads of a file that stop `size` bytes after where it was (None: at its end)."""

    def __init__(self, file: BinaryIO, size: int | None) -> None:
        self._file = file
        self._end = None if size is None else file.tell() + size

    def read(self, count: int) -> bytes:
        if self._end is not None:
            count = max(0, min(count, self._end - self._file.tell()))
        return self._file.read(count)

    def seek(self, offset: int) -> None:
        self._file.seek(offset)


def _common_salts(file: _Bounded, frame_bytes: int) -> bytes | None:
    """The salts most frames of the file carry; the file is left after the header again."""
    seen: Counter[bytes] = Counter()
    while len(frame := file.read(frame_bytes)) >= FRAME_HEADER_BYTES:
        seen[frame[8:16]] += 1
    file.seek(WAL_HEADER_BYTES)
    return seen.most_common(1)[0][0] if seen else None


def _is_page_size(size: int) -> bool:
    return 512 <= size <= 65536 and size & (size - 1) == 0


def _page_size(db_path: str) -> int:
    """The page size in the database header (bytes 16-17, 1 meaning 65536), else SQLite's default."""
    try:
        with open(db_path, "rb") as file:
            header = file.read(18)
    except OSError:
        return 4096
    if len(header) < 18:
        return 4096
    size = struct.unpack(">H", header[16:18])[0]
    size = 65536 if size == 1 else size
    return size if _is_page_size(size) else 4096

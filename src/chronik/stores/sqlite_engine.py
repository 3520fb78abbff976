"""How chronik uses the SQLite engine, for the ledger file and the JSON Lines aux sidecar alike:
opening a file (read-write, read-only, or immutable on read-only media), the write transaction,
the engine's own check of its file, its change signal, and what its errors mean for the caller.

Error mapping: a lock held past the busy timeout is StoreBusy; a file SQLite itself calls
corrupt ("database disk image is malformed", "file is not a database") is IntegrityError (exit
3) in SQLite's own words; everything else (permissions, a missing folder, a full disk) is
StorageError naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import time
from collections.abc import Iterator

from chronik.errors import ChronikError, IntegrityError, StorageError, StoreBusy
from chronik.stores.base import StorageFinding
from chronik.stores.sqlite_wal import wal_findings

# SQLite's primary result codes (the low byte of an extended code).
SQLITE_READONLY = 8
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_CORRUPT = 11
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26

# How a file is opened: "rw" creates it; "ro" reads it with SQLite's WAL protocol (which needs
# the -shm file, created if missing); "immutable" reads the main file only, without locks or the
# WAL, for media where not even the -shm file can be created.
MODES = ("rw", "ro", "immutable")
# wait_for_change: how often it asks SQLite whether another connection committed.
CHANGE_POLL_S = 0.002
# Rows of PRAGMA quick_check / integrity_check reported at most (SQLite's own default).
MAX_CHECK_ROWS = 100


def connect(path: str, mode: str, busy_timeout_ms: int) -> sqlite3.Connection:
    """A connection in autocommit mode (chronik issues BEGIN itself), usable from any thread."""
    assert mode in MODES, mode
    target, uri = path, False
    if mode != "rw":
        # A URI path starting "//" would be read as an authority: give it exactly one root.
        absolute = "/" + os.path.abspath(path).lstrip("/")
        target = f"file:{_uri_path(absolute)}?mode=ro" + ("&immutable=1" if mode == "immutable" else "")
        uri = True
    return sqlite3.connect(target, uri=uri, isolation_level=None, check_same_thread=False,
                           timeout=busy_timeout_ms / 1000, cached_statements=256)


def read_only_mode(path: str, busy_timeout_ms: int) -> str:
    """"ro" when SQLite can read `path` with its WAL protocol here, else "immutable" (a
    read-only folder or mount, where the -shm file cannot be created). Raises sqlite3.Error
    for a file that cannot be read either way, and StorageError when only immutable would do
    but the WAL holds commits that immutable reading would silently leave out."""
    for mode in ("ro", "immutable"):
        conn = connect(path, mode, busy_timeout_ms)
        try:
            # The first read opens the WAL and -shm files (or fails to).
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return mode
        except sqlite3.OperationalError as exc:
            if mode == "immutable" or primary_code(exc) not in (SQLITE_CANTOPEN, SQLITE_READONLY):
                raise
        finally:
            conn.close()
        wal = path + "-wal"
        if _size(wal) > 0:
            raise StorageError(f"cannot read {path} read-only here: {wal} holds commits that are not in the "
                               f"main file yet, and SQLite can read them only with {path}-shm beside it, "
                               f"which cannot be created in this folder; copy the ledger with its -wal "
                               f"file to a writable folder and read it there")
    raise AssertionError("unreachable")


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection, path: str, what: str, undone: str) -> Iterator[None]:
    """BEGIN IMMEDIATE (SQLite's single write lock, taken before anything is read), then COMMIT,
    or ROLLBACK on any error: `what` failed and `undone` ("nothing was written") holds."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise sqlite_error(exc, f"cannot start {what}", path) from exc
    try:
        yield
        conn.execute("COMMIT")
    except BaseException as exc:
        rollback(conn)
        if isinstance(exc, sqlite3.Error):
            raise sqlite_error(exc, f"{what} failed; {undone}", path) from exc
        raise


def _uri_path(path: str) -> str:
    """`path` as the path of a SQLite file: URI. SQLite decodes %HH escapes and ends the path at
    "?" or "#" (https://www.sqlite.org/uri.html), so those three are escaped; everything else
    passes as is. (Not urllib.parse.quote: importing urllib.parse costs 2 ms of every start.)"""
    return path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")


def rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            # The transaction is gone either way; the original error is the one to report.
            conn.execute("ROLLBACK")


def engine_check(conn: sqlite3.Connection, path: str, thorough: bool) -> list[StorageFinding]:
    """SQLite's own check of the file, read-only: PRAGMA quick_check (O(N), no index contents
    compared), or integrity_check when `thorough`. One finding per problem, in SQLite's words;
    then the commits SQLite silently leaves out of a damaged -wal (sqlite_wal.py), which no
    pragma reports."""
    pragma = "integrity_check" if thorough else "quick_check"
    detail = {"check": pragma, "path": path}
    try:
        rows = conn.execute(f"PRAGMA {pragma}({MAX_CHECK_ROWS})").fetchall()
    except sqlite3.DatabaseError as exc:
        if not is_corrupt(exc):
            raise sqlite_error(exc, f"PRAGMA {pragma} failed", path) from exc
        rows = [(str(exc),)]
    return [StorageFinding(code="engine_check", message=str(row[0]), detail=detail)
            for row in rows if row[0] != "ok"] + wal_findings(path)


class DataVersionSignal:
    """`PRAGMA data_version` on a connection that never writes changes when any other
    connection (process or thread) commits: a few microseconds per poll, no file I/O. Read at
    construction, before the head, so a commit between the two is never missed."""

    def __init__(self, watcher: sqlite3.Connection, path: str) -> None:
        self._watcher = watcher
        self._path = path
        self._version = self._read()

    def wait(self, known_position: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(CHANGE_POLL_S, remaining))
            current = self._read()
            if current != self._version:
                self._version = current
                return True

    def _read(self) -> int:
        try:
            return self._watcher.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise sqlite_error(exc, "watching for changes failed", self._path) from exc


# ---------------------------------------------------------------- what an error means


def primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def is_busy(exc: sqlite3.Error) -> bool:
    code = primary_code(exc)
    if code is not None:
        return code in (SQLITE_BUSY, SQLITE_LOCKED)
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def is_corrupt(exc: sqlite3.Error) -> bool:
    """SQLite's own verdict that the file is damaged (never a permission or locking problem)."""
    return primary_code(exc) in (SQLITE_CORRUPT, SQLITE_NOTADB)


def sqlite_error(exc: sqlite3.Error, context: str, path: str) -> ChronikError:
    if is_busy(exc):
        return StoreBusy(f"{context}: {path} stayed locked by other writers beyond the busy timeout; "
                         f"retry, or raise busy_timeout_ms")
    if is_corrupt(exc):
        # SQLite cannot tell a damaged ledger from a file that never was one: say both.
        return IntegrityError(f"{context}: SQLite reports {path} as corrupt: {exc} (a damaged "
                              f"ledger, or a file that is not a chronik ledger)")
    if primary_code(exc) == SQLITE_CANTOPEN:
        return StorageError(f"{context}: cannot open {path}: {exc}{_why_cannot_open(path)}")
    return StorageError(f"{context}: {exc}")


def _why_cannot_open(path: str) -> str:
    """The operating system's reason behind SQLite's bare "unable to open database file"."""
    try:
        os.close(os.open(path, os.O_RDONLY))
    except FileNotFoundError:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            return f" (folder {folder} does not exist)"
        if not os.access(folder, os.W_OK | os.X_OK):
            code = errno.EROFS if _read_only_mount(folder) else errno.EACCES
            return f" (folder {folder} is not writable: {os.strerror(code)} [{errno.errorcode[code]}])"
        return ""
    except OSError as exc:
        return f" ({exc.strerror} [{errno.errorcode.get(exc.errno or 0, exc.errno)}])"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.access(folder, os.W_OK | os.X_OK):
        return f" (its folder {folder} is not writable, so its -wal and -shm files cannot be created)"
    return ""


def _read_only_mount(folder: str) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0

"""Connections to PostgreSQL: the URL's options, a small pool, retries, and error meanings.

Why chronik keeps its own pool rather than psycopg_pool's: connections are made in the caller's
thread, so the first failure surfaces at once in the server's own words (`database "x" does not
exist`, `Connection refused`) instead of a pool timeout after background retries that log to
stderr; and an idle connection is checked before use without a round trip.

Stale connections (after a server restart, `pg_terminate_backend`, `idle_session_timeout`): the
server closes an idle connection by sending a final message and closing its socket, so an idle
connection whose socket is readable is dead. `Pool.connection` polls the socket (no round
trip) and replaces such a connection before a statement is sent on it: an append that gets a
checked connection and fails afterwards is the only case whose outcome is unknown.
"""

from __future__ import annotations

import contextlib
import select
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus

from chronik.errors import StorageError, StoreBusy, ValidationError

T = TypeVar("T")

# chronik's own URL options, removed before the URL reaches libpq.
OPTIONS = ("schema", "lock_timeout_ms", "statement_timeout_ms", "pool_max")
# libpq's connect_timeout when the URL gives none: a server that does not answer is reported
# after this, not never.
DEFAULT_CONNECT_TIMEOUT_S = 5


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """libpq conninfo (chronik's own options removed) and those options."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = {k: v for k, v in query if k in OPTIONS}
    rest = [(k, v) for k, v in query if k not in OPTIONS]
    scheme = "postgresql" if parts.scheme in ("postgres", "postgresql") else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(rest), parts.fragment)), options


def redact(conninfo: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(conninfo)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return conninfo


def connect_timeout_s(conninfo: str) -> int:
    """The URL's `connect_timeout` (libpq's own parameter, in seconds), or the default."""
    try:
        given = conninfo_to_dict(conninfo).get("connect_timeout")
    except psycopg.ProgrammingError as exc:
        raise ValidationError("url", f"not a PostgreSQL URL: {one_line(exc)}",
                              "use postgresql://user@host:port/database") from None
    if given is None:
        return DEFAULT_CONNECT_TIMEOUT_S
    try:
        seconds = int(str(given))
    except ValueError:
        seconds = -1
    if seconds < 0:
        raise ValidationError("connect_timeout", f"{given!r} is not a number of seconds",
                              "use e.g. ?connect_timeout=5 (0 waits forever)")
    return seconds


def one_line(exc: BaseException) -> str:
    """libpq's message on one line (it spreads one reason over several, indented)."""
    return " ".join(str(exc).split())


def translate(exc: psycopg.Error, context: str, unknown: str | None = None) -> StorageError:
    """A psycopg error as chronik's. `unknown` is what to say when the connection was lost after
    the statement was sent (a write whose outcome cannot be known)."""
    if isinstance(exc, (pg_errors.LockNotAvailable, pg_errors.QueryCanceled)):
        return StoreBusy(f"{context}: the ledger stayed locked beyond lock_timeout/statement_timeout; "
                         f"retry, or raise lock_timeout_ms")
    if isinstance(exc, psycopg.OperationalError):
        outcome = f"; {unknown}" if unknown else ""
        return StorageError(f"{context}: lost the connection to PostgreSQL ({one_line(exc)}){outcome}")
    return StorageError(f"{context}: {one_line(exc)}")


def roll_back(conn: psycopg.Connection) -> None:
    """End a transaction left open by an error (ROLLBACK, never prepared); the original error is
    the one to report, so a failing ROLLBACK is ignored."""
    if not conn.closed and conn.pgconn.transaction_status != TransactionStatus.IDLE:
        with contextlib.suppress(psycopg.Error):
            conn.execute("ROLLBACK", prepare=False)


def lost(conn: psycopg.Connection, exc: psycopg.Error) -> bool:
    """The error was the connection going away (not the statement failing on a live one)."""
    return isinstance(exc, psycopg.OperationalError) and (conn.closed or conn.broken)


def is_idle_and_alive(conn: psycopg.Connection) -> bool:
    """Whether an idle connection may be used, without a round trip: nothing may be waiting on
    its socket (a server's goodbye, or end of file) and it must be outside any transaction."""
    if conn.closed or conn.broken or conn.pgconn.transaction_status != TransactionStatus.IDLE:
        return False
    try:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)
        return not poller.poll(0)
    except (OSError, ValueError, psycopg.Error):
        return False


class Pool:
    """Up to `max_size` connections, each used by one caller at a time; idle ones are kept."""

    def __init__(self, conninfo: str, max_size: int, settings: dict[str, str], wait_s: float | None) -> None:
        self.conninfo = conninfo
        self.where = redact(conninfo)
        self.connect_timeout_s = connect_timeout_s(conninfo)
        self.max_size = max_size
        self._settings = settings
        self._wait_s = wait_s
        self._slots = threading.BoundedSemaphore(max_size)
        self._idle: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def connect(self, configure: bool = True) -> psycopg.Connection:
        """A new connection (autocommit, chronik's session settings), or StorageError with the
        server's own reason at once."""
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=self.connect_timeout_s)
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL at {self.where}: {one_line(exc)}") from None
        if configure and self._settings:
            try:
                # One round trip for every setting.
                names = list(self._settings)
                calls = ", ".join("set_config(%s, %s, false)" for _ in names)
                conn.execute(f"SELECT {calls}", [x for name in names for x in (name, self._settings[name])])
            except psycopg.Error as exc:
                conn.close()
                raise translate(exc, f"cannot configure the connection to {self.where}") from None
        return conn

    @contextlib.contextmanager
    def connection(self, fresh: bool = False) -> Iterator[psycopg.Connection]:
        """A connection for one operation: an idle one that passes the local check, else a new
        one (always new when `fresh`). Broken or mid-transaction connections are not kept."""
        if self._closed:
            raise StorageError("the ledger is closed; open it again")
        if not self._slots.acquire(timeout=self._wait_s):
            raise StoreBusy(f"all {self.max_size} connections to PostgreSQL stayed busy for "
                            f"{self._wait_s or 0:g} s; retry, or raise pool_max")
        conn = None
        try:
            conn = None if fresh else self._take_idle()
            if conn is None:
                conn = self.connect()
            yield conn
        finally:
            if conn is not None:
                self._give_back(conn)
            self._slots.release()

    def read(self, work: Callable[[psycopg.Connection], T], context: str) -> T:
        """Run a read; when the connection is lost under it, once more on a fresh connection
        (a read has no outcome to lose)."""
        for attempt in (1, 2):
            with self.connection(fresh=attempt == 2) as conn:
                try:
                    return work(conn)
                except psycopg.Error as exc:
                    if attempt == 2 or not lost(conn, exc):
                        raise translate(exc, context) from exc
        raise AssertionError("unreachable")

    def _take_idle(self) -> psycopg.Connection | None:
        while True:
            with self._lock:
                if not self._idle:
                    return None
                conn = self._idle.pop()  # the most recently used: the likeliest to be warm
            if is_idle_and_alive(conn):
                return conn
            close_quietly(conn)

    def _give_back(self, conn: psycopg.Connection) -> None:
        keep = not self._closed and not conn.closed and not conn.broken \
            and conn.pgconn.transaction_status == TransactionStatus.IDLE
        if keep:
            with self._lock:
                if not self._closed:
                    self._idle.append(conn)
                    return
        close_quietly(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            close_quietly(conn)


class Listeners:
    """One LISTEN connection per waiting thread, outside the pool (it must stay listening)."""

    def __init__(self, pool: Pool, channel: str) -> None:
        self._pool = pool
        self._channel = channel
        self._local = threading.local()
        self._all: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def get(self) -> psycopg.Connection | None:
        """This thread's listening connection, or None while the server cannot be reached."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed:
            return conn
        if self._closed:
            raise StorageError("the ledger is closed; open it again")
        try:
            conn = self._pool.connect(configure=False)
            conn.execute(f'LISTEN "{self._channel}"')
        except (StorageError, psycopg.Error):
            return None  # the waiting loop polls until the server takes connections again
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    def drop(self, conn: psycopg.Connection) -> None:
        self._local.conn = None
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        close_quietly(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            listeners, self._all = self._all, []
        for conn in listeners:
            close_quietly(conn)


def close_quietly(conn: psycopg.Connection) -> None:
    """Close a connection that is being discarded: an error closing it changes nothing."""
    with contextlib.suppress(psycopg.Error):
        conn.close()

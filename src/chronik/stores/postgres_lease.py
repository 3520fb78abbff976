"""Leases on a PostgreSQL ledger: a session advisory lock on a connection of the lease's own.

The lock (`pg_advisory_lock` on a key hashed from the schema and the lease name) belongs to a
session, so the lease holds one dedicated connection for its whole life, made outside the pool
(it must not be handed to another caller, nor count against `pool_max`). The server releases
the lock when that session ends, however it ends: the holder's process dying closes the socket.

Writes under the lease (`Lease.write`) run on that same session, in one transaction. A write can
therefore only commit while the session, and so the lock, is alive: if the connection is lost,
the lock and the write are lost together, and a second holder that took the lock since can never
see its writes interleaved with ours. The holder's pid, host and time are kept as the auxiliary
record `chronik.lease`/NAME, written when the lock is taken, for the message of whoever waits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import msgspec
import psycopg

from chronik.errors import StorageError
from chronik.stores.base import AuxChange
from chronik.stores.leases import Lease, LeaseHolder, check_lease_name, wait_for_lease
from chronik.stores.postgres_pool import Pool, close_quietly, translate
from chronik.stores.postgres_writes import Writes

HOLDER_KIND = "chronik.lease"


def lease_key(schema: str, name: str) -> int:
    """The advisory lock key of lease `name` in `schema`: a stable signed 64-bit hash (distinct
    from the ordering lock's, which hashes "chronik.order:<schema>")."""
    digest = hashlib.sha256(f"chronik.lease:{schema}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def take_lease(pool: Pool, writes: Writes, name: str, wait_s: float) -> Lease:
    """The lease `name`, waiting up to `wait_s` seconds (chronik.stores.leases.wait_for_lease)."""
    name = check_lease_name(name)
    key = lease_key(writes.schema, name)
    holder_sql = f'SELECT value FROM "{writes.schema}".aux WHERE kind = %s AND key = %s'
    conn = pool.connect()

    def try_take() -> Lease | None:
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        except psycopg.Error as exc:
            raise translate(exc, f"taking the lease {name} failed") from exc
        if not (row and row[0]):
            return None
        holder = LeaseHolder.this_process()
        lease = PostgresLease(name, holder, conn, writes, key)
        lease.write([AuxChange(HOLDER_KIND, name, msgspec.json.encode(holder))])
        return lease

    def holder_of() -> LeaseHolder | None:
        try:
            row = conn.execute(holder_sql, (HOLDER_KIND, name)).fetchone()
            return None if row is None else msgspec.json.decode(bytes(row[0]), type=LeaseHolder)
        except (psycopg.Error, msgspec.DecodeError):
            return None

    try:
        return wait_for_lease(name, wait_s, try_take, holder_of)
    except BaseException:
        close_quietly(conn)  # ends the session, and with it any lock it took
        raise


class PostgresLease(Lease):
    def __init__(self, name: str, holder: LeaseHolder, conn: psycopg.Connection, writes: Writes,
                 key: int) -> None:
        super().__init__(name, holder, self._write_on_session)
        self._conn = conn
        self._writes = writes
        self._key = key

    def _write_on_session(self, changes: Sequence[Any]) -> None:
        try:
            self._writes.aux_write(self._conn, changes)
        except StorageError as exc:
            if self._conn.closed or self._conn.broken:
                self.release()
                raise StorageError(f"{exc}; the lease {self.name} was lost with its connection, so "
                                   f"another holder may have it now: take it again") from exc
            raise

    def _let_go(self) -> None:
        if not (self._conn.closed or self._conn.broken):
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
            except psycopg.Error:
                pass  # closing the session below releases it anyway
        close_quietly(self._conn)

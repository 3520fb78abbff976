"""Writing to a PostgreSQL ledger: appends through the server-side `append_events` (one round
trip; with a signer one as well while the head this process expects holds, else two), groups of
appends in one pipeline, import by COPY, removal of archived events, auxiliary records.

Each method runs on a connection the store hands it (see postgres_pool.py for why that
connection is known to be alive before anything is sent) and raises chronik's errors: a failed
statement wrote nothing; a connection lost after the statement was sent leaves the outcome of a
write unknown, and the error says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import psycopg
from psycopg import errors as pg_errors
from psycopg.copy import QueuedLibpqWriter

from chronik import codec
from chronik.errors import ConcurrencyError, DuplicateIdError, IntegrityError, StorageError
from chronik.model import AppendResult, Event, Expect, Expectation, Head
from chronik.stores import postgres_schema
from chronik.stores.base import AuxChange, Signer, StreamBatch, check_import, check_removal_rows, link_batch
from chronik.stores.postgres_pool import lost, roll_back, translate

# Events per COPY chunk built and sent at a time by import_events.
COPY_CHUNK_EVENTS = 1_000
UNKNOWN = "whether it was recorded is unknown: retry it with the same event ids (a retry of recorded events changes nothing)"


class Writes:
    """The write statements of one schema."""

    def __init__(self, schema: str) -> None:
        s = f'"{schema}"'
        self.schema = schema
        self.channel = f"chronik_{schema}"
        arguments = "%s, %s, %s, %s, %s, %s, %s, %s, %s"
        self.append_sql = f"SELECT * FROM {s}.append_events({arguments})"
        # With a signer: the same append, returning each stream's unsigned hashes to sign.
        self.append_for_signing = f"SELECT * FROM {s}.append_events_for_signing({arguments})"
        # With a signer and a head to link from: the events, their hashes and signatures at once.
        self.append_signed = f"SELECT * FROM {s}.append_events_signed({arguments}, %s, %s)"
        # The head and stream versions this process's last signed append left (None: unknown).
        # Only a prediction: the server checks it (CK003), so a stale one costs a round trip.
        self.expected: ExpectedHead | None = None
        self.set_sigs = (f"UPDATE {s}.events AS e SET sig = v.sig FROM unnest(%s::bigint[], %s::text[]) "
                         f"AS v(position, sig) WHERE e.position = v.position")
        self.head = f"SELECT position, hash FROM {s}.events ORDER BY position DESC LIMIT 1"
        # import_events (under the ordering lock of append_events): COPY, then the streams' heads.
        self.stream_versions = (f"SELECT stream, version FROM {s}.streams "
                                f"WHERE stream IN (SELECT json_array_elements_text(%s::json))")
        self.copy_events = (f"COPY {s}.events (position, stream, version, type, id, time, data, meta, "
                            f"prev, hash, sig) FROM STDIN")
        self.upsert_streams = (
            f"INSERT INTO {s}.streams AS st (stream, version, last_position, last_type, last_time) "
            f"SELECT * FROM json_to_recordset(%s::json) AS x(stream text, version bigint, "
            f"last_position bigint, last_type text, last_time text) "
            f"ON CONFLICT ON CONSTRAINT streams_pkey DO UPDATE SET version = excluded.version, "
            f"last_position = excluded.last_position, last_type = excluded.last_type, "
            f"last_time = excluded.last_time")
        self.removal_check = (f"WITH reach AS (SELECT stream, max(version) AS v FROM {s}.events "
                              f"WHERE position = ANY(%s) GROUP BY stream) "
                              f"SELECT count(*) FROM {s}.events e JOIN reach r ON e.stream = r.stream "
                              f"WHERE e.version < r.v AND NOT e.position = ANY(%s)")
        self.remove = f"DELETE FROM {s}.events WHERE position = ANY(%s)"
        self.aux_upsert = (f"INSERT INTO {s}.aux (kind, key, value) VALUES (%s, %s, %s) "
                           f"ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value")
        self.aux_delete = f"DELETE FROM {s}.aux WHERE kind = %s AND key = %s"

    def append(self, conn: psycopg.Connection, batches: Sequence[StreamBatch],
               signer: Signer | None) -> dict[str, AppendResult]:
        params = append_params(batches)
        try:
            if signer is None:
                self.expected = None
                rows = conn.execute(self.append_sql, params, prepare=True).fetchall()
            else:
                at_once = self._append_signed_at_once(conn, batches, params, signer)
                if at_once is None:
                    rows = self._append_signed(conn, params, signer)
                    self.expected = _expected_after(rows, self.expected)
                else:
                    rows = at_once
        except psycopg.Error as exc:
            if exc.sqlstate in ("CK001", "CK002"):
                raise _raised(exc, batches) from None
            raise _write_error(conn, exc, "append") from exc
        return _results(batches, rows)

    def append_pipelined(self, conn: psycopg.Connection, appends: Sequence[Sequence[StreamBatch]]
                         ) -> list[dict[str, AppendResult]]:
        """A group of unsigned appends (stores/group_commit.py) in one round trip: BEGIN, each
        append, COMMIT, sent as one pipeline. Any error, an append's own included, aborts the
        whole transaction (nothing is committed: the server skips the rest of the pipeline, its
        COMMIT too) and is raised as is; the caller then runs the group with a savepoint per
        append. Only an error without a SQLSTATE (the connection lost) leaves the outcome
        unknown; the caller must not run such a group again."""
        self.expected = None
        cursors = []
        with conn.pipeline():
            conn.execute("BEGIN", prepare=False)
            for batches in appends:
                # Not prepared: a statement aborted in a pipeline can leave psycopg's cache of
                # prepared statements naming one the server never prepared ("prepared statement
                # _pg3_N does not exist" on the next use, seen in the group commit contract test).
                cursors.append(conn.execute(self.append_sql, append_params(batches), prepare=False))
            conn.execute("COMMIT", prepare=False)
        return [_results(batches, cursor.fetchall()) for batches, cursor in zip(appends, cursors, strict=True)]

    def append_in_transaction(self, conn: psycopg.Connection, batches: Sequence[StreamBatch],
                              signer: Signer | None) -> dict[str, AppendResult]:
        """`append` as one request of a group commit: inside the caller's open transaction
        (and savepoint), which the caller commits; signatures are set in the same transaction."""
        self.expected = None
        params = append_params(batches)
        try:
            if signer is None:
                rows = conn.execute(self.append_sql, params, prepare=True).fetchall()
            else:
                rows = conn.execute(self.append_for_signing, params, prepare=True).fetchall()
                positions = [position for row in rows for position in row[4]]
                if positions:
                    sigs = [signer(digest) for row in rows for digest in row[5]]
                    conn.execute(self.set_sigs, ("{" + ",".join(map(str, positions)) + "}",
                                                 _plain_array(sigs)), prepare=True)
        except psycopg.Error as exc:
            if exc.sqlstate in ("CK001", "CK002"):
                raise _raised(exc, batches) from None
            raise _write_error(conn, exc, "append") from exc
        return _results(batches, rows)

    def _append_signed_at_once(self, conn: psycopg.Connection, batches: Sequence[StreamBatch],
                               params: tuple[str, ...], signer: Signer) -> list[tuple] | None:
        """A signed append in one round trip (migration 6), linked and signed here from the head
        the last signed append left; None when there is no such head to link from, or the
        server found another (CK003: nothing was written), and the caller appends the
        two-round-trip way."""
        expected = self.expected
        if expected is None or any(batch.stream not in expected.versions for batch in batches):
            return None
        position, prev = expected.position + 1, expected.hash
        hashes, sigs = [], []
        for batch in batches:
            for link in link_batch(batch.stream, batch.events, position, expected.versions[batch.stream] + 1,
                                   prev, signer):
                hashes.append(link.hash)
                sigs.append(link.sig or "")
                position, prev = link.position + 1, link.hash
        try:
            rows = conn.execute(self.append_signed, (*params, _plain_array(hashes), _plain_array(sigs)),
                                prepare=True).fetchall()
        except psycopg.Error as exc:
            self.expected = None
            if exc.sqlstate == "CK003":
                return None
            raise
        # In place: appends reach this one at a time (the group commit), and copying up to
        # MAX_EXPECTED_STREAMS versions per append would cost more than the round trip saved.
        expected.versions.update((row[0], row[3]) for row in rows)
        self.expected = ExpectedHead(position - 1, prev, _bounded(expected.versions))
        return rows

    def _append_signed(self, conn: psycopg.Connection, params: tuple[str, ...], signer: Signer) -> list[tuple]:
        """append_events computes the hashes server-side; the MACs are computed here, from the
        hashes it returns, and set before COMMIT in the same transaction (whose ordering lock
        append_events holds until then), so no reader ever sees an unsigned event that will
        be signed. The key never leaves this process (docs/adr/0009). Events already recorded
        (an idempotent retry) keep their sig; unsigned ones get one.

        Two round trips: BEGIN and the append are pipelined, then the signatures and COMMIT.
        (psycopg's transaction() block would sync after BEGIN and COMMIT too: five.)"""
        try:
            with conn.pipeline():
                conn.execute("BEGIN", prepare=False)
                rows = conn.execute(self.append_for_signing, params, prepare=True).fetchall()
                positions = [position for row in rows for position in row[4]]
                if positions:
                    sigs = [signer(digest) for row in rows for digest in row[5]]
                    conn.execute(self.set_sigs, ("{" + ",".join(map(str, positions)) + "}", _plain_array(sigs)),
                                 prepare=True)
                conn.execute("COMMIT", prepare=False)
        except BaseException:
            roll_back(conn)
            raise
        return rows

    def import_events(self, conn: psycopg.Connection, events: Sequence[Event]) -> None:
        """COPY the events in, in one transaction under the ordering lock of append_events."""
        self.expected = None
        streams = codec.encode_json(sorted({event.stream for event in events})).decode()
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (postgres_schema.order_lock_key(self.schema),))
                row = conn.execute(self.head).fetchone()
                head = Head(*row) if row else Head(0, codec.GENESIS_HASH)
                versions: dict[str, int] = dict(conn.execute(self.stream_versions, (streams,)).fetchall())
                last_of_stream = check_import(events, head, lambda stream: versions.get(stream, 0))
                # The rows are built a chunk at a time while a writer thread sends the
                # previous chunk, so the client's encoding overlaps the server's inserting.
                with conn.cursor() as cur, cur.copy(self.copy_events, writer=QueuedLibpqWriter(cur)) as copy:
                    for start in range(0, len(events), COPY_CHUNK_EVENTS):
                        copy.write(_copy_text(events[start:start + COPY_CHUNK_EVENTS]))
                conn.execute(self.upsert_streams, (_stream_heads_json(last_of_stream),))
                conn.execute("SELECT pg_notify(%s, %s)", (self.channel, str(events[-1].position)))
        except pg_errors.UniqueViolation as exc:
            # The events' ids (or stream versions) are recorded already: the UNIQUE
            # constraints of the events table check that, inside the COPY.
            raise IntegrityError(f"import: {exc.diag.message_detail or exc}; nothing was imported") from None
        except psycopg.Error as exc:
            raise _write_error(conn, exc, "import", "nothing was imported") from exc

    def remove_events(self, conn: psycopg.Connection, positions: Sequence[int]) -> int:
        """DELETE the archived rows in one transaction; the streams table keeps each stream's
        version and the head (never removed) keeps the next position."""
        self.expected = None
        doomed = sorted({int(p) for p in positions})
        try:
            with conn.transaction():
                row = conn.execute(self.head).fetchone()
                found = conn.execute(self.removal_check, (doomed, doomed)).fetchone()
                check_removal_rows(row[0] if row else 0, found[0] if found else 0, doomed)
                return conn.execute(self.remove, (doomed,)).rowcount
        except psycopg.Error as exc:
            raise _write_error(conn, exc, "removing archived events", "nothing was removed") from exc

    def aux_write(self, conn: psycopg.Connection, changes: Sequence[AuxChange]) -> None:
        upserts = [(c.kind, c.key, c.value) for c in changes if c.value is not None]
        deletes = [(c.kind, c.key) for c in changes if c.value is None]
        try:
            with conn.transaction(), conn.cursor() as cur:
                if upserts:
                    cur.executemany(self.aux_upsert, upserts)
                if deletes:
                    cur.executemany(self.aux_delete, deletes)
        except psycopg.Error as exc:
            raise _write_error(conn, exc, "writing auxiliary records") from exc


# Stream versions remembered for the one-round-trip signed append, at most (the rest: two trips).
MAX_EXPECTED_STREAMS = 10_000


class ExpectedHead(NamedTuple):
    position: int
    hash: str
    versions: dict[str, int]  # stream -> its version after the last signed append


def _expected_after(rows: list[tuple], before: ExpectedHead | None) -> ExpectedHead | None:
    """The head a two-round-trip signed append left, from its rows (stream, first, last, version,
    unsigned positions, unsigned hashes); None when a stream was an idempotent retry (its
    events may lie anywhere before the head)."""
    if not rows or any(not row[4] for row in rows):
        return None
    last = max(rows, key=lambda row: row[4][-1])
    versions = before.versions if before is not None else {}
    versions.update((row[0], row[3]) for row in rows)
    return ExpectedHead(last[4][-1], last[5][-1], _bounded(versions))


def _bounded(versions: dict[str, int]) -> dict[str, int]:
    if len(versions) <= MAX_EXPECTED_STREAMS:
        return versions
    return dict(list(versions.items())[-MAX_EXPECTED_STREAMS // 2:])  # the most recently updated


def _results(batches: Sequence[StreamBatch], rows: list[tuple]) -> dict[str, AppendResult]:
    by_stream = {row[0]: row for row in rows}
    results = {}
    for batch in batches:
        _, first, last, version = by_stream[batch.stream][:4]
        results[batch.stream] = AppendResult(first, last, version, [p.id for p in batch.events])
    return results


def _write_error(conn: psycopg.Connection, exc: psycopg.Error, what: str,
                 undone: str = "nothing was written") -> StorageError:
    if lost(conn, exc):
        return translate(exc, f"{what} failed", UNKNOWN)
    return translate(exc, f"{what} failed; {undone}")


def append_params(batches: Sequence[StreamBatch]) -> tuple[str, ...]:
    """The arguments of `append_events`: per stream, then per event flattened in stream order.

    Each is one PostgreSQL array literal (`{"a","b"}`) sent as a string, which the server casts to
    the parameter's array type. psycopg's own adaptation of Python lists inspects every element in
    Python and cost ~0.3 ms of the ~1 ms of a single-event append; this is a few string joins.
    Every element is double-quoted with its `"` and `\\` escaped (canonical JSON has them; the
    ledger's streams, types, ids and times do not)."""
    streams, expects, counts = [], [], []
    types, ids, given, times, data, meta = [], [], [], [], [], []
    for batch in batches:
        streams.append(batch.stream)
        expects.append(str(_expect_code(batch.expect)))
        counts.append(str(len(batch.events)))
        for pending in batch.events:
            types.append(pending.type)
            ids.append(pending.id)
            given.append("t" if pending.id_given else "f")
            times.append(pending.time)
            data.append(_array_element(pending.data))
            meta.append(_array_element(pending.meta))
    return (_plain_array(streams), _plain_array(expects), _plain_array(counts), _plain_array(types),
            _plain_array(ids), _plain_array(given), _plain_array(times),
            "{" + ",".join(data) + "}", "{" + ",".join(meta) + "}")


def _plain_array(values: list[str]) -> str:
    """An array literal of text values, every element double-quoted (so `{`, `}`, `,`, spaces and
    the word NULL need nothing); `"` and `\\` are escaped, though the ledger's names have none."""
    if not values:
        return "{}"
    if '"' in (joined := "".join(values)) or "\\" in joined:
        return "{" + ",".join(_array_element(value.encode()) for value in values) + "}"
    return '{"' + '","'.join(values) + '"}'


def _array_element(json_bytes: bytes) -> str:
    """One double-quoted array element holding canonical JSON text."""
    text = json_bytes.decode()
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'




# COPY text format: fields separated by tabs, rows by newlines, NULL written \\N, and a backslash,
# tab, newline or carriage return inside a field escaped with a backslash.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_COPY_FIELDS = 11


def _copy_text(events: Sequence[Event]) -> bytes:
    """The events as COPY text rows, data and meta in canonical form.

    Canonical JSON holds no raw tab, newline or carriage return, and the ledger's names, ids,
    times and hashes hold none either, so the rows are joined first and their backslashes
    escaped in one pass; a count of tabs and newlines proves that nothing needed more. NUL
    (which PostgreSQL text cannot hold, so no field has it) stands for a null sig meanwhile."""
    encode = codec.encode_json
    null = "\0"
    text = "".join([
        f"{e.position}\t{e.stream}\t{e.version}\t{e.type}\t{e.id}\t{e.time}\t{encode(e.data).decode()}"
        f"\t{encode(e.meta).decode()}\t{e.prev}\t{e.hash}\t{null if e.sig is None else e.sig}\n"
        for e in events])
    nulls = sum(1 for e in events if e.sig is None)
    if (text.count("\t") != len(events) * (_COPY_FIELDS - 1) or text.count("\n") != len(events)
            or "\r" in text or text.count(null) != nulls):
        return _copy_text_escaped(events)
    return text.replace("\\", "\\\\").replace(null, "\\N").encode()


def _copy_text_escaped(events: Sequence[Event]) -> bytes:
    """The slow, general form of `_copy_text`: every field escaped on its own."""
    encode = codec.encode_json
    rows = []
    for e in events:
        fields = [str(e.position), e.stream, str(e.version), e.type, e.id, e.time,
                  encode(e.data).decode(), encode(e.meta).decode(), e.prev, e.hash]
        escaped = [field.translate(_COPY_ESCAPES) for field in fields]
        escaped.append("\\N" if e.sig is None else e.sig.translate(_COPY_ESCAPES))
        rows.append("\t".join(escaped) + "\n")
    return "".join(rows).encode()


def _stream_heads_json(last_of_stream: dict[str, Event]) -> str:
    """Each stream's last imported event as the rows of the streams table, as JSON text."""
    return codec.encode_json([
        {"stream": e.stream, "version": e.version, "last_position": e.position, "last_type": e.type,
         "last_time": e.time} for e in last_of_stream.values()]).decode()


def _expect_code(expect: Expectation) -> int:
    if expect is Expect.ANY:
        return postgres_schema.EXPECT_ANY
    if expect is Expect.NO_STREAM:
        return postgres_schema.EXPECT_NO_STREAM
    if expect is Expect.EXISTS:
        return postgres_schema.EXPECT_EXISTS
    return int(expect)




def _raised(exc: psycopg.Error, batches: Sequence[StreamBatch]) -> ConcurrencyError | DuplicateIdError | StorageError:
    diag = exc.diag
    if diag.sqlstate == "CK002":
        stream = diag.message_primary or ""
        expected_code, actual = (int(x) for x in (diag.message_detail or "0 0").split())
        expect: Expectation = next((b.expect for b in batches if b.stream == stream), expected_code)
        return ConcurrencyError(stream, expect, actual or None)
    if diag.sqlstate == "CK001":
        return DuplicateIdError(diag.message_primary or "id", diag.message_detail or "duplicate id",
                                "retry the original call unchanged, or use fresh ids")
    return StorageError(f"append failed: {exc}")



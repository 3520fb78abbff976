"""A group runs without savepoints, and again with one per append when an append failed after
writing (stores/group_commit.py): what each request sees and what is committed is the same as
with savepoints all along."""

from __future__ import annotations

import sqlite3

import pytest

from chronik.ledger import Ledger
from chronik.model import NO_FILTER, Expect
from chronik.stores import open_store
from chronik.stores.base import StreamBatch
from chronik.stores.group_commit import Failed, Regroup, run_each, run_unguarded
from stores.sqlite_files import pending, sqlite_url


class Refused(Exception):
    pass


def _insert(value: str):
    def request(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO t VALUES (?)", (value,))
        return value
    return request


def _refuse_before_writing(conn: sqlite3.Connection) -> str:
    raise Refused("checked first, wrote nothing")


def _refuse_after_writing(conn: sqlite3.Connection) -> str:
    conn.execute("INSERT INTO t VALUES ('half')")
    raise Refused("wrote, then failed")


@pytest.fixture
def conn(tmp_path):
    connection = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    connection.execute("CREATE TABLE t (v TEXT)")
    yield connection
    connection.close()


def _values(conn: sqlite3.Connection) -> list[str]:
    return [v for (v,) in conn.execute("SELECT v FROM t ORDER BY rowid")]


def test_a_request_that_wrote_nothing_fails_alone_without_savepoints(conn):
    conn.execute("BEGIN")
    outcomes = run_unguarded([_insert("a"), _refuse_before_writing, _insert("b")], lambda request: request(conn),
                             lambda: conn.total_changes,
                             lambda: conn.in_transaction)
    conn.execute("COMMIT")
    assert outcomes[0] == "a" and outcomes[2] == "b"
    assert isinstance(outcomes[1], Failed) and isinstance(outcomes[1].error, Refused)
    assert _values(conn) == ["a", "b"]


def _end_the_transaction(conn: sqlite3.Connection) -> str:
    conn.execute("ROLLBACK")  # as SQLite does by itself after some I/O errors
    raise sqlite3.OperationalError("disk I/O error")


def test_an_error_that_ended_the_transaction_stops_the_group(conn):
    # The requests after it would otherwise run in autocommit mode, each statement committed on
    # its own, while the group is reported as failed.
    conn.execute("BEGIN")
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        run_unguarded([_insert("a"), _end_the_transaction, _insert("b")], lambda request: request(conn),
                      lambda: conn.total_changes, lambda: conn.in_transaction)
    assert not conn.in_transaction and _values(conn) == []


def test_a_request_that_failed_after_writing_makes_the_group_run_again_with_savepoints(conn):
    requests = [_insert("a"), _refuse_after_writing, _insert("b")]
    conn.execute("BEGIN")
    with pytest.raises(Regroup):
        run_unguarded(requests, lambda request: request(conn), lambda: conn.total_changes,
                             lambda: conn.in_transaction)
    conn.execute("ROLLBACK")
    assert _values(conn) == []
    conn.execute("BEGIN")
    outcomes = run_each(requests, lambda request: request(conn), conn.execute)
    conn.execute("COMMIT")
    assert outcomes[0] == "a" and outcomes[2] == "b" and isinstance(outcomes[1], Failed)
    assert _values(conn) == ["a", "b"]  # nothing of the failed request, nothing twice


def test_a_sqlite_group_with_an_append_that_fails_after_writing(tmp_path):
    """Three appends in one group; the second writes its first stream, then its signer fails on
    the second: the store runs the group again with savepoints. The first and third are
    committed with contiguous positions and a chain that links them; nothing of the second."""
    store = open_store(sqlite_url(tmp_path / "ledger.db"))
    try:
        store.append([StreamBatch("order:0", Expect.ANY, [pending(0)])])
        calls = {"n": 0}
        refused: set[str] = set()

        def signer_failing_on_its_second_event(digest: str) -> str:
            calls["n"] += 1
            if calls["n"] == 2 or digest in refused:  # the same event, every time it is signed
                refused.add(digest)
                raise Refused("the key went away")
            return f"k:{digest[:8]}"

        first = [StreamBatch("order:1", Expect.ANY, [pending(1)])]
        failing = [StreamBatch("order:2", Expect.ANY, [pending(2)]), StreamBatch("order:3", Expect.ANY, [pending(3)])]
        third = [StreamBatch("order:4", Expect.ANY, [pending(4)])]
        outcomes = store._run_group([lambda conn: store._append_locked(conn, first, None),
                                     lambda conn: store._append_locked(conn, failing, signer_failing_on_its_second_event),
                                     lambda conn: store._append_locked(conn, third, None)])
        assert isinstance(outcomes[1], Failed) and isinstance(outcomes[1].error, Refused)
        assert outcomes[0]["order:1"].first_position == 2 and outcomes[2]["order:4"].first_position == 3
        events = list(store.read_all(0, None, NO_FILTER))
        assert [(e.position, e.stream) for e in events] == [(1, "order:0"), (2, "order:1"), (3, "order:4")]
        assert events[2].prev == events[1].hash and events[1].prev == events[0].hash
        assert Ledger(store, keyring=None).verify().ok
        assert calls["n"] == 4  # the failing append ran twice: once unguarded, once in its savepoint
    finally:
        store.close()

"""A signed append on PostgreSQL in one round trip (migration 6, stores/postgres_writes.py): the
client links and signs from the head its last signed append left, and the server takes the
signatures only when its own hashes are the client's. Another writer moving the head, an
unknown stream or an idempotent retry make the server refuse (CK003, nothing written), and the
append goes the two-round-trip way: every event signed, the chain whole, nothing lost or twice.

Needs a PostgreSQL server (tests/support/postgres_server.py)."""

from __future__ import annotations

import chronik
from chronik import Expect, NewEvent
from chronik.integrity.keys import Keyring, new_key
from chronik.stores.postgres_writes import Writes

from support.postgres_server import shared_server


def _keyring() -> Keyring:
    return Keyring([new_key("k1")], "k1")


def _count_two_trip_appends(monkeypatch) -> list[int]:
    calls = [0]
    original = Writes._append_signed

    def counting(self, conn, params, signer):
        calls[0] += 1
        return original(self, conn, params, signer)

    monkeypatch.setattr(Writes, "_append_signed", counting)
    return calls


def _all_signed_and_whole(ledger: chronik.Ledger) -> list[chronik.Event]:
    events = list(ledger.read_all())
    assert [e.position for e in events] == list(range(1, len(events) + 1))
    assert all(e.sig and e.sig.startswith("k1:") for e in events)
    report = ledger.verify()
    assert report.ok and report.checked == len(events), report.problems[:3]
    return events


def test_a_lone_signing_writer_appends_in_one_round_trip(monkeypatch):
    two_trips = _count_two_trip_appends(monkeypatch)
    keyring = _keyring()
    with chronik.open_ledger(shared_server().schema_url("signed"), keyring=keyring) as ledger:
        ledger.append("order:1", [NewEvent("placed", {"n": 0})])
        assert two_trips[0] == 1  # nothing to link from yet
        for n in range(1, 11):
            ledger.append("order:1", [NewEvent("placed", {"n": n})], n)
        ledger.append_many({"order:1": ([NewEvent("paid", {})], Expect.ANY),
                            "order:2": ([NewEvent("placed", {"n": 0})], Expect.NO_STREAM)})
        assert two_trips[0] == 2  # order:2 was a stream it had not written: linked by the server
        ledger.append("order:2", [NewEvent("paid", {}), NewEvent("shipped", {})])
        # Two known streams at once: the general path of the function, signatures set in it.
        ledger.append_many({"order:1": ([NewEvent("closed", {})], Expect.ANY),
                            "order:2": ([NewEvent("closed", {})], 3)})
        assert two_trips[0] == 2
        events = _all_signed_and_whole(ledger)
    assert len(events) == 17


def test_two_signing_writers_taking_turns_never_lose_or_double_an_event(monkeypatch):
    two_trips = _count_two_trip_appends(monkeypatch)
    url = shared_server().schema_url("signed")
    keyring = _keyring()
    with chronik.open_ledger(url, keyring=keyring) as first, chronik.open_ledger(url, keyring=keyring) as second:
        for n in range(6):
            first.append("acct:1", [NewEvent("moved", {"by": "first", "n": n})])
            second.append("acct:1", [NewEvent("moved", {"by": "second", "n": n})])
        # Each found the head moved by the other (CK003), so each append went two trips.
        assert two_trips[0] == 12
        events = _all_signed_and_whole(first)
    assert [(e.data["by"], e.data["n"]) for e in events] == [
        (by, n) for n in range(6) for by in ("first", "second")]
    assert [e.version for e in events] == list(range(1, 13))


def test_an_idempotent_retry_answers_the_first_result_and_writes_nothing(monkeypatch):
    two_trips = _count_two_trip_appends(monkeypatch)
    with chronik.open_ledger(shared_server().schema_url("signed"), keyring=_keyring()) as ledger:
        ledger.append("order:1", [NewEvent("placed", {})])
        retried = [NewEvent("paid", {"amount": 5}, id="pay-1")]
        first = ledger.append("order:1", retried)
        again = ledger.append("order:1", retried)
        assert (again.first_position, again.version) == (first.first_position, first.version) == (2, 2)
        assert two_trips[0] == 2  # the first append, and the retry the server refused to link
        ledger.append("order:1", [NewEvent("shipped", {})])
        events = _all_signed_and_whole(ledger)
    assert [e.type for e in events] == ["placed", "paid", "shipped"]

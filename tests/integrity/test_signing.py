"""Signatures on every store (PostgreSQL included), key rotation, and removed keys."""

from __future__ import annotations

import pytest

from chronik.integrity.keys import Keyring, new_key
from chronik.integrity.verify import verify_ledger
from chronik.ledger import Ledger, open_ledger
from chronik.model import Expect, NewEvent
from chronik.stores import open_store


def _url(kind: str, tmp_path) -> str:
    if kind == "memory":
        return "memory:"
    if kind == "postgres":
        from support.postgres_server import shared_server

        return shared_server().schema_url("integrity")
    suffix = {"sqlite": "db", "jsonl": "jsonl"}[kind]
    return f"{kind}:///" + str(tmp_path / f"ledger.{suffix}").lstrip("/")


@pytest.fixture(params=["memory", "sqlite", "jsonl", "postgres"])
def url(request, tmp_path) -> str:
    return _url(request.param, tmp_path)


_MEMORY_STORES: dict[str, object] = {}


def _reopen(url: str, keyring: Keyring) -> Ledger:
    """Open `url` again with another keyring; for memory: the same store, as a process would."""
    if url != "memory:":
        return open_ledger(url, keyring=keyring)
    store = _MEMORY_STORES.setdefault("current", open_store(url))

    class _KeepOpen(Ledger):
        def close(self) -> None:
            pass

    return _KeepOpen(store, keyring=keyring)


@pytest.fixture(autouse=True)
def fresh_memory_store():
    _MEMORY_STORES.clear()


def _events(n: int, start: int = 0) -> list[NewEvent]:
    return [NewEvent("noted", {"n": start + i}) for i in range(n)]


def test_every_appended_event_is_signed_and_verifies(url):
    keyring = Keyring([new_key("k1")], "k1")
    with open_ledger(url, keyring=keyring) as ledger:
        ledger.append("order:1", _events(3))
        ledger.append_many({"order:2": (_events(2), Expect.ANY), "order:3": (_events(1), Expect.NO_STREAM)})
        events = list(ledger.read_all())
        assert [e.sig.split(":")[0] for e in events] == ["k1"] * 6
        assert all(e.sig == keyring.sign(e.hash) for e in events)
        report = verify_ledger(ledger, keyring=ledger.keyring)
        assert report.ok and report.check("signatures").status == "ok"
        assert report.signatures["signed"] == 6
    # An idempotent retry returns the original result and changes no signature.
    with open_ledger(url, keyring=keyring) as ledger:
        first = list(ledger.read_all())
        retry = [NewEvent("noted", {"n": 99}, id="fixed-id-1")]
        ledger.append("order:9", retry)
        assert ledger.append("order:9", retry).first_position == ledger.head().position
        assert list(ledger.read_all())[: len(first)] == first


def test_without_a_keyring_signatures_are_not_checked_and_the_report_says_so(url):
    with open_ledger(url, keyring=Keyring([new_key("k1")], "k1")) as ledger:
        ledger.append("order:1", _events(2))
    with open_ledger(url) as ledger:
        report = verify_ledger(ledger, keyring=ledger.keyring)
    assert report.ok and report.check("signatures").status == "not_checked"
    assert any("signatures were not checked" in note for note in report.notes)


def test_rotation_keeps_old_events_verifying_and_new_ones_use_the_new_kid(url):
    k1, k2 = new_key("k1"), new_key("k2")
    old = Keyring([k1], "k1")
    with _reopen(url, keyring=old) as ledger:
        ledger.append("order:1", _events(4))
    rotated = old.with_key(k2, activate=True)
    with _reopen(url, keyring=rotated) as ledger:
        ledger.append("order:1", _events(3, 4))
        kids = [e.sig.split(":")[0] for e in ledger.read_all()]
        assert kids == ["k1"] * 4 + ["k2"] * 3
        report = verify_ledger(ledger, keyring=ledger.keyring)
        assert report.ok and report.signatures["by_kid"] == {"k1": 4, "k2": 3}


def test_a_removed_old_key_is_reported_per_event_not_as_a_crash(url):
    k1, k2 = new_key("k1"), new_key("k2")
    with _reopen(url, keyring=Keyring([k1], "k1")) as ledger:
        ledger.append("order:1", _events(5))
    with _reopen(url, keyring=Keyring([k1, k2], "k2")) as ledger:
        ledger.append("order:1", _events(2, 5))
        report = verify_ledger(ledger, keyring=Keyring([k1, k2], "k2").without("k1"))
    assert not report.ok and report.first_bad_position == 1 and report.first_bad_kind == "unknown_key"
    assert [(p.position, p.kind) for p in report.problems] == [(n, "unknown_key") for n in range(1, 6)]
    assert "'k1'" in report.problems[0].detail
    assert report.check("signatures").status == "failed" and report.check("chain").status == "ok"


def test_an_unsigned_event_after_signed_ones_is_missing_its_signature(tmp_path):
    url = _url("sqlite", tmp_path)
    keyring = Keyring([new_key("k1")], "k1")
    with open_ledger(url) as ledger:  # a ledger that got a keyring later
        ledger.append("order:1", _events(2))
    with open_ledger(url, keyring=keyring) as ledger:
        ledger.append("order:1", _events(2, 2))
    with Ledger(open_store(url)) as ledger:  # someone appends without the key
        ledger.append("order:1", _events(1, 4))
        report = verify_ledger(ledger, keyring=keyring)
        assert (report.first_bad_position, report.first_bad_kind) == (5, "missing_signature")
        assert report.signatures["unsigned"] == 3
        strict = verify_ledger(ledger, keyring=keyring, require_signatures=True)
        assert [p.position for p in strict.problems] == [1, 2, 5]

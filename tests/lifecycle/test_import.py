"""import_events: strict parsing, the chain re-verified, refusals that name the position, --rechain."""

from __future__ import annotations

import io
import json

import pytest
from lifecycle_testing import STORE_KINDS, fill

import chronik
from chronik.errors import IntegrityError, ValidationError
from chronik.lifecycle import export_events, import_events
from chronik.stores.base import NO_FILTER


def _exported(ledger: chronik.Ledger, **options) -> bytes:
    out = io.BytesIO()
    export_events(ledger, out, **options)
    return out.getvalue()


@pytest.fixture
def source(open_ledger) -> chronik.Ledger:
    ledger = open_ledger("memory:")
    fill(ledger)
    return ledger


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_import_round_trip_is_verbatim(kind, source, make_url, open_ledger):
    destination = open_ledger(make_url(kind))
    report = import_events(destination, io.BytesIO(_exported(source)), chunk_events=4)
    assert (report.read, report.imported, report.skipped, report.rechained) == (source.head().position,) * 2 + (0, 0)
    assert list(destination.read_all()) == list(source.read_all())
    assert _exported(destination) == _exported(source)


def test_importing_the_same_export_again_skips_it(source, open_ledger, tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_bytes(_exported(source))
    destination = open_ledger("memory:")
    import_events(destination, path)
    again = import_events(destination, path)
    assert (again.imported, again.skipped) == (0, source.head().position)
    assert destination.head() == source.head()


def test_a_suffix_exported_with_after_continues_a_prefix(source, open_ledger):
    destination = open_ledger("memory:")
    lines = _exported(source).splitlines(keepends=True)
    import_events(destination, io.BytesIO(b"".join(lines[:10])))
    report = import_events(destination, io.BytesIO(_exported(source, after=10)))
    assert report.imported == len(lines) - 10 and destination.head() == source.head()


def test_json_array_and_jsonl_store_files_import_too(source, open_ledger, tmp_path):
    destination = open_ledger("memory:")
    import_events(destination, io.BytesIO(_exported(source, format="json")))
    assert destination.head() == source.head()
    jsonl_store = open_ledger("jsonl:///" + str(tmp_path / "store.jsonl").lstrip("/"))
    jsonl_store.store.import_events(list(source.read_all()))  # multi-event commit: `more` framing
    other = open_ledger("memory:")
    import_events(other, tmp_path / "store.jsonl")
    assert other.head() == source.head()


def _tampered(source: chronik.Ledger, how: str) -> bytes:
    lines = _exported(source).splitlines(keepends=True)
    if how == "edit":
        record = json.loads(lines[5])
        record["data"]["n"] = 999
        lines[5] = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    elif how == "delete":
        del lines[5]
    elif how == "swap":
        lines[5], lines[6] = lines[6], lines[5]
    elif how == "duplicate":
        lines.insert(6, lines[5])
    return b"".join(lines)


@pytest.mark.parametrize(("how", "position"), [("edit", 6), ("delete", 6), ("swap", 6), ("duplicate", 7)])
def test_a_broken_chain_is_refused_naming_the_first_bad_position(how, position, source, open_ledger):
    destination = open_ledger("memory:")
    with pytest.raises(IntegrityError, match=rf"broken at position {position}\b.*nothing was imported"):
        import_events(destination, io.BytesIO(_tampered(source, how)))
    assert destination.head().position == 0


def test_rechain_imports_up_to_the_break_and_re_appends_the_rest(source, open_ledger):
    destination = open_ledger("memory:")
    report = import_events(destination, io.BytesIO(_tampered(source, "delete")), rechain=True)
    total = source.head().position - 1
    assert (report.imported, report.rechained) == (5, total - 5)
    # Input position 7 (after the deleted 6) was re-appended at position 6.
    assert (report.rechained_from_position, report.rechained_to_position) == (7, 6)
    assert any("re-chained" in note for note in report.notes)
    assert destination.verify().ok and destination.head().position == total
    originals = list(source.read_all())
    imported = list(destination.read_all())
    assert imported[:5] == originals[:5]
    # Content, ids and times kept; stream versions closed up over the deleted event.
    content = [(e.id, e.time, e.type, e.data, e.meta, e.stream) for e in originals if e.position != 6]
    assert [(e.id, e.time, e.type, e.data, e.meta, e.stream) for e in imported] == content


def test_rechain_onto_an_unrelated_ledger_appends_everything(source, open_ledger):
    destination = open_ledger("memory:")
    destination.append("note:1", [chronik.NewEvent("noted")])
    report = import_events(destination, io.BytesIO(_exported(source)), rechain=True)
    assert report.rechained == source.head().position and report.rechained_from_position == 1
    assert report.rechained_to_position == 2 and destination.verify().ok
    with pytest.raises(IntegrityError, match="does not hold the destination's 22 events"):
        import_events(destination, io.BytesIO(_exported(source)))


@pytest.mark.parametrize(("line", "field"), [
    (b'{"position":1}', "line 1"),
    (b"not json", "line 1"),
    (b'{"position":1,"position":1}', "line 1"),
])
def test_bad_input_is_a_validation_error_naming_the_line(line, field, open_ledger):
    with pytest.raises(ValidationError, match=field):
        import_events(open_ledger("memory:"), io.BytesIO(line + b"\n"))


def test_bad_fields_are_named(source, open_ledger):
    record = json.loads(_exported(source).splitlines()[0])
    for name, value in [("stream", "no colon"), ("time", "2026-11-22T01:15:09Z"), ("hash", "ABC"),
                        ("type", "9bad")]:
        line = json.dumps({**record, name: value}).encode()
        with pytest.raises(ValidationError, match=rf"line 1\.{name}"):
            import_events(open_ledger("memory:"), io.BytesIO(line))
    duplicate_key = _exported(source).splitlines()[0].replace(b'"data":{', b'"data":{"n":1,', 1)
    with pytest.raises(ValidationError, match="duplicate key"):
        import_events(open_ledger("memory:"), io.BytesIO(duplicate_key))


def test_rechained_and_later_events_of_a_signed_ledger_are_signed(source, open_ledger):
    # Regression: re-chaining built a second Ledger without the keyring, and the store kept
    # that ledger's (absent) signer, so the re-chained events and every later append were unsigned.
    from chronik.integrity.keys import Keyring, new_key

    keyring = Keyring([new_key("k1")], "k1")
    destination = chronik.Ledger(open_ledger("memory:").store, keyring=keyring)
    destination.append("note:1", [chronik.NewEvent("noted")])  # so the whole input is re-chained
    report = import_events(destination, io.BytesIO(_exported(source)), rechain=True)
    destination.append("note:1", [chronik.NewEvent("noted")])
    events = list(destination.read_all())
    assert report.rechained == source.head().position
    assert all(e.sig is not None and e.sig.startswith("k1:") for e in events)
    assert destination.verify(require_signatures=True).ok


def test_two_ledgers_over_one_store_each_sign_with_their_own_key(open_ledger):
    from chronik.integrity.keys import Keyring, new_key

    store = open_ledger("memory:").store
    first = chronik.Ledger(store, keyring=Keyring([new_key("a")], "a"))
    second = chronik.Ledger(store, keyring=Keyring([new_key("b")], "b"))
    unsigned = chronik.Ledger(store)
    first.append("s:1", [chronik.NewEvent("one")])
    second.append("s:1", [chronik.NewEvent("two")])
    first.append("s:1", [chronik.NewEvent("three")])
    unsigned.append("s:2", [chronik.NewEvent("four")])
    assert [(e.sig or "").split(":")[0] for e in store.read_all(0, None, NO_FILTER)] == [
        "a", "b", "a", ""]

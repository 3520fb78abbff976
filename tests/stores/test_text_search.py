"""The text index of the SQLite store (ADR 0013): it answers `Filter.text` exactly as the scan
does (a property test over random data), stays in sync on every write path, and is created by
migration 3 on existing ledgers while read-only opens of older ones keep scanning. The total
count of `Ledger.query` is computed only when asked for.

The PostgreSQL half is tests/stores/test_text_search_postgres.py."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chronik
from chronik import Expect, Filter, NewEvent, ValidationError, codec
from chronik.errors import ConcurrencyError, StorageError
from chronik.stores import sqlite_schema, sqlite_text
from chronik.stores.filters import text_haystack

# Characters that make text search hard: LIKE and JSON metacharacters, the FTS5 quote, case
# pairs whose lower-casing is special (İ -> i + combining dot, final sigma, ß, titlecase ǅ,
# the Kelvin sign), other scripts, and control characters (escaped in JSON; \x00 and \x01 are
# the field separators of the SQLite and PostgreSQL definitions).
HARD = list("aAbBzZ09 %_\\\"'{}:,.-*()ÄäÖößẞİıIiΣσςǅǄǆﬁKkÅåЖжΩω日本語🙂\x00\x01\n\t\x1f")
text = st.text(alphabet=st.sampled_from(HARD) | st.characters(codec="utf-8", categories=("L", "N", "P", "S")),
               max_size=10)
json_value = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | text,
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                          max_leaves=6)
event = st.builds(NewEvent, type=st.from_regex(r"[A-Za-z][A-Za-z0-9_.-]{0,8}", fullmatch=True),
                  data=st.dictionaries(text, json_value, max_size=4),
                  meta=st.dictionaries(text, json_value, max_size=2))
CASES = [str.lower, str.upper, str.swapcase, str.casefold, lambda s: s]


def sqlite_url(path: Path) -> str:
    return "sqlite:///" + str(path).lstrip("/")


def scanned(events: list[chronik.Event], needle: str) -> list[int]:
    """The text filter's definition (ADR 0005), applied to every event."""
    lowered = needle.lower()
    return [e.position for e in events
            if lowered in text_haystack(e.type, codec.encode_json(e.data), codec.encode_json(e.meta))]


@st.composite
def ledger_and_needles(draw: st.DrawFn, separator: str = "\x00", max_events: int = 12, max_needles: int = 4,
                       max_pieces: int = 6, max_piece: int = 12) -> tuple[list[NewEvent], list[str]]:
    events = draw(st.lists(event, min_size=1, max_size=max_events))
    needles = draw(st.lists(text, max_size=max_needles))
    for _ in range(draw(st.integers(0, max_pieces))):
        # A piece of an event's haystack (fields joined by `separator`: NUL, as the definition
        # does, or what a store joins them with), in another case: a needle that matches, or
        # nearly does, and one across two fields that must still not match.
        chosen = draw(st.sampled_from(events))
        haystack = (f"{chosen.type}{separator}{codec.encode_json(chosen.data).decode()}{separator}"
                    f"{codec.encode_json(chosen.meta).decode()}")
        start = draw(st.integers(0, len(haystack)))
        piece = haystack[start:start + draw(st.integers(1, max_piece))]
        needles.append(draw(st.sampled_from(CASES))(piece))
    return events, needles


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=ledger_and_needles())
def test_the_index_finds_what_the_scan_finds(tmp_path_factory: pytest.TempPathFactory,
                                             case: tuple[list[NewEvent], list[str]]) -> None:
    events, needles = case
    url = sqlite_url(tmp_path_factory.mktemp("p") / "l.db") + "?durability=relaxed"  # no fsync needed here
    with chronik.open_ledger(url) as ledger:
        assert ledger.store.set_text_index(True)  # the index answers every needle of 3+ characters
        ledger.append_many({f"s:{index}": ([new], Expect.ANY) for index, new in enumerate(events)})
        recorded = list(ledger.read_all())
        for needle in needles:
            expected = scanned(recorded, needle)
            found = [e.position for e in ledger.read_all(filter=Filter(text=needle))]
            assert found == expected, needle
            assert ledger.query(Filter(text=needle), limit=1000).total == len(expected), needle


# ---------------------------------------------------------------- the semantics, by example


@pytest.fixture
def ledger(tmp_path: Path):
    with chronik.open_ledger(sqlite_url(tmp_path / "ledger.db")) as opened:
        opened.store.set_text_index(True)
        yield opened


def positions(ledger: chronik.Ledger, needle: str, **read: int) -> list[int]:
    return [e.position for e in ledger.read_all(filter=Filter(text=needle), **read)]


def test_lower_casing_is_str_lower_not_casefold(ledger):
    ledger.append("c:1", [NewEvent("noted", {"street": "Hauptstraße"})])
    ledger.append("c:2", [NewEvent("noted", {"city": "İstanbul"})])
    ledger.append("c:3", [NewEvent("noted", {"word": "ΟΔΟΣ"})])
    assert positions(ledger, "STRASSE") == []  # casefold would match: it is lower()
    assert positions(ledger, "hauptstraSSe") == [] and positions(ledger, "HAUPTSTRASSE") == []
    assert positions(ledger, "haupTSTRAßE") == [1]
    assert positions(ledger, "İSTANBUL") == [2] and positions(ledger, "istanbul") == []
    # "ΟΔΟΣ".lower() ends in a final sigma; lower() keeps a lone "σ" as it is.
    assert positions(ledger, "ΟΔΟΣ") == [3] and positions(ledger, "οδος") == [3] and positions(ledger, "οδοσ") == []


def test_metacharacters_and_json_escapes_match_literally(ledger):
    ledger.append("m:1", [NewEvent("noted", {"q": '50%_off "now" C:\\dir'})])
    ledger.append("m:2", [NewEvent("noted", {"q": "500 off now"})])
    assert positions(ledger, "50%_off") == [1] and positions(ledger, "%_o") == [1]
    assert positions(ledger, '\\"now\\"') == [1]  # a quote matches its JSON escape
    assert positions(ledger, "c:\\\\dir") == [1] and positions(ledger, "c:\\dir") == []
    assert positions(ledger, "0 off") == [2]


def test_short_needles_and_nul_fall_back_to_the_scan(ledger):
    ledger.append("n:1", [NewEvent("ab", {"k": "xy"})])
    ledger.append("n:2", [NewEvent("other", {"k": "zz"})])
    assert sqlite_text.phrase("xy") is None and sqlite_text.phrase("ab\x00") is None
    assert positions(ledger, "XY") == [1] and positions(ledger, '"K') == [1, 2]
    # NUL joins the fields in the definition, so a needle holding it may span two of them.
    assert positions(ledger, 'ab\x00{"k"') == [1] and positions(ledger, "other\x00{") == [2]


def test_a_match_never_spans_two_fields(ledger):
    ledger.append("f:1", [NewEvent("abc", {"d": 1}, {"e": 2})])
    assert positions(ledger, 'abc{"d"') == [] and positions(ledger, '1}{"e"') == []
    assert positions(ledger, 'c\x00{"d') == [1]


def test_the_index_answers_long_needles(ledger):
    """Emptying the index hides events from needles of 3+ characters only: they are not tested
    row by row. (A ledger is never left like this; it shows which path answered.)"""
    ledger.append("i:1", [NewEvent("noted", {"word": "pineapple"})])
    assert positions(ledger, "apple") == [1] and positions(ledger, "pp") == [1]
    ledger.store._connection().execute(f"INSERT INTO {sqlite_text.TABLE} ({sqlite_text.TABLE}) VALUES ('delete-all')")
    assert positions(ledger, "apple") == [] and positions(ledger, "pp") == [1]


# ---------------------------------------------------------------- every write path keeps it in sync


def indexed_positions(ledger: chronik.Ledger, needle: str) -> list[int]:
    """What the index itself holds for a needle (its rowids are positions)."""
    rows = ledger.store._connection().execute(
        f"SELECT rowid FROM {sqlite_text.TABLE} WHERE {sqlite_text.TABLE} MATCH ? ORDER BY rowid",
        (sqlite_text.phrase(needle),)).fetchall()
    return [rowid for (rowid,) in rows]


def test_import_and_retention_keep_the_index_in_sync(tmp_path, ledger):
    with chronik.open_ledger("memory:") as source:
        for n in range(6):
            source.append(f"order:{n % 2}", [NewEvent("placed", {"note": f"marker-{n} shared"})])
        ledger.store.import_events(list(source.read_all()))
    assert indexed_positions(ledger, "shared") == [1, 2, 3, 4, 5, 6]
    assert positions(ledger, "MARKER-3") == [4]
    # Retention removes a prefix of each stream, never the head.
    assert ledger.store.remove_events([1, 2, 3]) == 3
    assert indexed_positions(ledger, "shared") == [4, 5, 6]
    assert positions(ledger, "shared") == [4, 5, 6] and positions(ledger, "marker-1") == []
    assert ledger.query(Filter(text="shared")).total == 3


def test_a_rejected_append_leaves_nothing_in_the_index(ledger):
    ledger.append("r:1", [NewEvent("placed", {"note": "kept"})])
    with pytest.raises(ConcurrencyError):
        ledger.append_many({"r:2": ([NewEvent("placed", {"note": "dropped"})], Expect.ANY),
                            "r:1": ([NewEvent("placed", {"note": "dropped"})], Expect.NO_STREAM)})
    assert indexed_positions(ledger, "dropped") == [] and indexed_positions(ledger, "kept") == [1]


def test_grouped_appends_index_exactly_what_they_commit(ledger):
    """Threads' appends share commits (ADR 0012); a stale expectation fails its append alone,
    and its rows leave the index with it."""
    outcomes: list[str] = []

    def writer(n: int) -> None:
        for i in range(20):
            expect = Expect.NO_STREAM if i % 7 == 3 else Expect.ANY  # stale after the first
            try:
                ledger.append(f"g:{n}", [NewEvent("placed", {"note": f"grouped <w{n}i{i}>"})], expect)
                outcomes.append(f"<w{n}i{i}>")
            except ConcurrencyError:
                pass

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorded = {e.data["note"].split()[1]: e.position for e in ledger.read_all()}
    assert sorted(recorded) == sorted(outcomes)
    assert indexed_positions(ledger, "grouped") == sorted(recorded.values())
    for tag, position in recorded.items():
        assert positions(ledger, f"grouped {tag}") == [position]


# ---------------------------------------------------------------- the switch, migration 3, read-only opens


def has_index(ledger: chronik.Ledger) -> bool:
    return sqlite_schema.has_text_index(ledger.store._connection())


def test_the_index_is_off_until_switched_on_and_then_covers_every_event(tmp_path):
    path = tmp_path / "ledger.db"
    with chronik.open_ledger(sqlite_url(path)) as ledger:
        for n in range(5):
            ledger.append(f"o:{n}", [NewEvent("noted", {"word": f"legacy{n}"})])
        assert not has_index(ledger) and positions(ledger, "LEGACY3") == [4]  # answered by the scan
        assert ledger.store.set_text_index(True) and not ledger.store.set_text_index(True)
        assert indexed_positions(ledger, "legacy") == [1, 2, 3, 4, 5]
    with chronik.open_ledger(sqlite_url(path), read_only=True) as reader:
        assert has_index(reader) and positions(reader, "legacy") == [1, 2, 3, 4, 5]


def test_a_writer_opened_before_the_switch_keeps_the_index(tmp_path):
    # The switch is read by every write transaction: a writer that was already open when
    # another process switched the index on must index its appends too (else a search would
    # silently miss them).
    path = tmp_path / "ledger.db"
    with chronik.open_ledger(sqlite_url(path)) as early, chronik.open_ledger(sqlite_url(path)) as switcher:
        early.append("o:1", [NewEvent("noted", {"word": "before"})])
        switcher.store.set_text_index(True)
        early.append("o:2", [NewEvent("noted", {"word": "after"})])
        assert indexed_positions(early, "after") == [2] and positions(early, "before") == [1]
        switcher.store.set_text_index(False)
        early.append("o:3", [NewEvent("noted", {"word": "after"})])
        assert not has_index(early) and positions(early, "after") == [2, 3]


def test_an_older_ledger_is_migrated_to_3_and_scanned(tmp_path):
    path = tmp_path / "old.db"
    with chronik.open_ledger(sqlite_url(path)) as ledger:
        ledger.append("o:1", [NewEvent("noted", {"word": "legacy"})])
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 2")
    with chronik.open_ledger(sqlite_url(path), read_only=True) as reader:
        assert positions(reader, "LEGACY") == [1]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2  # a read-only open writes nothing
    with chronik.open_ledger(sqlite_url(path)) as writer:
        upgraded = writer.store.upgrade()
        assert upgraded.applied == [3] and upgraded.schema_version == 3 and not has_index(writer)


def test_without_the_trigram_tokenizer_the_index_cannot_be_switched_on_or_written(tmp_path, monkeypatch):
    indexed = tmp_path / "indexed.db"
    with chronik.open_ledger(sqlite_url(indexed)) as ledger:
        ledger.store.set_text_index(True)
    monkeypatch.setattr(sqlite_text, "available", lambda: False)
    path = tmp_path / "plain.db"
    with chronik.open_ledger(sqlite_url(path)) as ledger:
        ledger.append("p:1", [NewEvent("noted", {"word": "scanned"})])
        assert positions(ledger, "SCANNED") == [1]
        with pytest.raises(ValidationError, match="trigram"):
            ledger.store.set_text_index(True)
    with pytest.raises(StorageError, match="cannot update"):
        chronik.open_ledger(sqlite_url(indexed))
    with chronik.open_ledger(sqlite_url(indexed), read_only=True) as reader:
        assert not has_index(reader) and positions(reader, "anything") == []


def test_the_cli_switches_the_index(tmp_path):
    from click.testing import CliRunner

    from chronik.cli.main import cli

    path = tmp_path / "ledger.db"
    chronik.open_ledger(sqlite_url(path)).close()
    runner = CliRunner()
    on = runner.invoke(cli, ["--ledger", str(path), "db", "text-index", "on", "--json"])
    assert on.exit_code == 0 and '"changed":true' in on.output
    with chronik.open_ledger(sqlite_url(path), read_only=True) as reader:
        assert has_index(reader)
    off = runner.invoke(cli, ["--ledger", "memory:", "db", "text-index", "off"])
    assert off.exit_code == 2 and "no text index to switch" in off.output


# ---------------------------------------------------------------- the total, on demand


def test_the_total_is_counted_only_when_asked_for(ledger, monkeypatch):
    for n in range(5):
        ledger.append("t:1", [NewEvent("noted", {"n": n, "word": "total"})])
    counted: list[object] = []
    count = ledger.store.count
    monkeypatch.setattr(ledger.store, "count", lambda *a, **k: counted.append(a) or count(*a, **k))
    page = ledger.query(Filter(text="total"), limit=2, include_total=False)
    assert page.total is None and counted == [] and page.has_more
    rest = ledger.query(Filter(text="total"), limit=2, cursor=page.next_cursor)
    assert rest.total == 5 and len(counted) == 1  # the default counts, as before
    assert [e.position for e in rest.events] == [3, 4]
    with pytest.raises(ValidationError) as caught:
        ledger.query(include_total="no")  # type: ignore[call-overload]
    assert caught.value.field == "include_total"

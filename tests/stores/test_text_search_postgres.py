"""Text search on the PostgreSQL store (ADR 0013): migration 5's search_text column (each field
lower-cased) and its pg_trgm GIN index. A property test compares, on random data, today's
condition (the ILIKE of each field) read by a scan, the new condition read through the index,
and what the store answers; text statements are planned per needle, never from a prepared
statement's generic plan.

Needs a PostgreSQL server (tests/support/postgres_server.py: $CHRONIK_TEST_PG_URL, else a
throwaway one)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chronik
from chronik import Expect, Filter, NewEvent
from chronik.stores.postgres import POSTGRES, POSTGRES_SEARCH_TEXT
from chronik.stores.postgres_pool import split_url
from chronik.stores.sql import SqlDialect
from stores.test_text_search import ledger_and_needles

from support.postgres_server import shared_server

TRGM_INDEX = "events_search_trgm"
# Session settings that leave the planner one way to answer a text filter: the GIN indexes
# (only bitmap scans use them), or the scan (no bitmap scans at all).
BY_INDEX = ("SET enable_seqscan = off", "SET enable_indexscan = off", "SET enable_bitmapscan = on")
BY_SCAN = ("SET enable_bitmapscan = off",)


@pytest.fixture(scope="module")
def url() -> str:
    return shared_server().schema_url("text")


@pytest.fixture(scope="module")
def ledger(url: str) -> Iterator[chronik.Ledger]:
    with chronik.open_ledger(url) as opened:
        yield opened


@pytest.fixture(scope="module")
def sessions(url: str) -> Iterator[dict[str, psycopg.Connection]]:
    conninfo, _ = split_url(url)
    opened = {name: psycopg.connect(conninfo, autocommit=True) for name in ("index", "scan")}
    for name, statements in (("index", BY_INDEX), ("scan", BY_SCAN)):
        for statement in statements:
            opened[name].execute(statement)
    yield opened
    for conn in opened.values():
        conn.close()


def schema_of(url: str) -> str:
    return f'"{split_url(url)[1]["schema"]}"'


def answer(conn: psycopg.Connection, url: str, needle: str, after: int, dialect: SqlDialect,
           explain: bool = False) -> list:
    condition, params = dialect.text_match(needle.lower())  # as the store builds it
    # No bound on position: on a small table the planner would rather read the primary key.
    sql = f"SELECT position FROM {schema_of(url)}.events WHERE {condition} ORDER BY position"
    if explain:
        return [line for (line,) in conn.execute(f"EXPLAIN {sql}", params)]
    return [position for (position,) in conn.execute(sql, params) if position > after]


def events_and_needles() -> st.SearchStrategy[tuple[list[NewEvent], list[str]]]:
    # Joined as search_text joins them (chr(1)); PostgreSQL text cannot hold NUL, so a needle
    # with one is rejected before SQL (see below) and is left out here.
    return ledger_and_needles(separator="\x01", max_events=10, max_needles=3, max_pieces=5, max_piece=10).map(
        lambda case: (case[0], [needle.replace("\x00", "") for needle in case[1]]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=events_and_needles())
def test_the_indexes_find_what_the_scan_finds(ledger, sessions, url, case) -> None:
    events, needles = case
    after = ledger.head().position
    ledger.append_many({f"s:{index}": ([new], Expect.ANY) for index, new in enumerate(events)})
    for needle in needles:
        by_scan = answer(sessions["scan"], url, needle, after, POSTGRES)  # before migration 5
        assert answer(sessions["index"], url, needle, after, POSTGRES_SEARCH_TEXT) == by_scan, needle
        assert [e.position for e in ledger.read_all(after=after, filter=Filter(text=needle))] == by_scan, needle


def test_the_forced_plan_reads_the_trigram_indexes(ledger, sessions, url):
    ledger.append("plan:1", [NewEvent("noted", {"word": "Ärgernis"})])
    plan = "\n".join(answer(sessions["index"], url, "ärgernis", 0, POSTGRES_SEARCH_TEXT, explain=True))
    assert TRGM_INDEX in plan, plan
    assert "trgm" not in "\n".join(answer(sessions["scan"], url, "ärgernis", 0, POSTGRES, explain=True))


def test_migration_5_creates_the_indexes_on_an_older_ledger(url):
    older = shared_server().schema_url("text_old")
    s = schema_of(older)
    conninfo, _ = split_url(older)
    with chronik.open_ledger(older) as ledger:
        ledger.append("o:1", [NewEvent("noted", {"word": "before the index"})])
    with psycopg.connect(conninfo, autocommit=True) as conn:  # as written by a chronik before 5
        conn.execute(f"DELETE FROM {s}.schema_version WHERE version >= 5")
        conn.execute(f"ALTER TABLE {s}.events DROP COLUMN search_text")  # and its index
    with chronik.open_ledger(older, read_only=True) as reader:  # no migration: the ILIKE of each field
        assert [e.position for e in reader.read_all(filter=Filter(text="BEFORE THE"))] == [1]
    with chronik.open_ledger(older) as writer:
        assert writer.store.upgrade().applied[0] == 5  # then 6 and later, which re-run harmlessly
        assert [e.position for e in writer.read_all(filter=Filter(text="BEFORE THE"))] == [1]
        writer.append("o:2", [NewEvent("noted", {"word": "AFTER the index"})])
        assert [e.position for e in writer.read_all(filter=Filter(text="the index"))] == [1, 2]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        found = {name for (name,) in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s",
                                                  (split_url(older)[1]["schema"],))}
        lowered = [row for (row,) in conn.execute(f"SELECT search_text FROM {s}.events ORDER BY position")]
        # Estimates from the default 100-entry histogram once picked a 130x slower plan.
        statistics = conn.execute("SELECT attstattarget FROM pg_attribute WHERE attname = 'search_text' "
                                  "AND attrelid = %s::regclass", (f"{s}.events",)).fetchone()[0]
    assert statistics == 1000
    assert TRGM_INDEX in found
    assert lowered == ['noted\x01{"word":"before the index"}\x01{}', 'noted\x01{"word":"after the index"}\x01{}']


def test_text_statements_are_not_prepared(url):
    """A prepared statement's generic plan cannot know whether a needle is rare: after five
    runs PostgreSQL switched every text query to walking the primary key, 500 ms for a needle
    the indexes answer in 1 ms over 100,000 events (benchmarks/bench_text_search.py)."""
    with chronik.open_ledger(f"{url}&pool_max=1") as ledger:
        ledger.append("prep:1", [NewEvent("noted", {"word": "prepared"})])
        for _ in range(8):
            assert [e.stream for e in ledger.read_all(filter=Filter(text="prepared"))] == ["prep:1"]
            assert ledger.query(Filter(text="prepared")).total == 1
        with ledger.store._pool.connection() as conn:
            prepared = [sql for (sql,) in conn.execute("SELECT statement FROM pg_prepared_statements")]
            planning = conn.execute("SHOW random_page_cost").fetchone()[0]
    assert prepared and not any("search_text" in sql for sql in prepared), prepared
    with psycopg.connect(split_url(url)[0]) as fresh:
        default = fresh.execute("SHOW random_page_cost").fetchone()[0]
    assert planning == default  # the text reads' own setting ended with their transaction


def _has_index(url: str) -> bool:
    conninfo, options = split_url(url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
                            (options["schema"], TRGM_INDEX)).fetchone() is not None


def test_the_index_switches_off_for_a_bulk_import_and_on_after_it():
    """`chronik db text-index off|on` on PostgreSQL (ADR 0018): off drops the GIN index, text
    filters answer the same from the search_text column; on builds it over every event."""
    from click.testing import CliRunner

    from chronik.cli.main import cli

    url = shared_server().schema_url("text_switch")
    with chronik.open_ledger(url) as ledger:
        for n, word in enumerate(["Straße", "grün", "straßenbahn", "Gruen"]):
            ledger.append("note:1", [NewEvent("noted", {"n": n, "word": word})])
    runner = CliRunner()
    assert _has_index(url)
    off = runner.invoke(cli, ["--ledger", url, "db", "text-index", "off", "--json"])
    assert off.exit_code == 0 and '"changed":true' in off.output, off.output
    assert not _has_index(url)
    with chronik.open_ledger(url) as ledger:
        ledger.store.import_events([])  # nothing to import is still fine without the index
        found_without = [e.data["n"] for e in ledger.read_all(filter=Filter(text="STRASS"))]
        ledger.append("note:2", [NewEvent("noted", {"n": 4, "word": "Strasse"})])
        assert [e.data["n"] for e in ledger.read_all(filter=Filter(text="strass"))] == [4]
    assert found_without == []  # "STRASS" is no substring of "straße" (ADR 0005: no casefold)
    again = runner.invoke(cli, ["--ledger", url, "db", "text-index", "off", "--json"])
    assert again.exit_code == 0 and '"changed":false' in again.output
    on = runner.invoke(cli, ["--ledger", url, "db", "text-index", "on", "--json"])
    assert on.exit_code == 0 and '"changed":true' in on.output, on.output
    assert _has_index(url)
    with chronik.open_ledger(url) as ledger:
        assert [e.data["n"] for e in ledger.read_all(filter=Filter(text="straß"))] == [0, 2]
        assert [e.data["n"] for e in ledger.read_all(filter=Filter(text="GRÜN"))] == [1]

"""The PostgreSQL schema of chronik, as numbered migrations.

Each migration is SQL run once, in order, in one transaction, under an advisory lock; the
`schema_version` table records what ran. `{s}` is the (validated, quoted) schema name.

The append function (`append_events`) does a whole append in one round trip: it takes the
schema's transaction-scoped advisory lock (the single ordering lock, so commit order equals
position order), reads the head from the events' primary key,
checks idempotency and expectations, links the hash chain exactly as `chronik.codec.event_hash`
does, inserts, moves the head and notifies listeners. Stream, type and id are validated by the
ledger to characters that need no JSON escaping, which is what lets SQL build the canonical
record by concatenation; time and hashes are fixed-format ASCII.
"""

from __future__ import annotations

import hashlib

import psycopg
from psycopg import sql

from chronik.codec import HASH_TAG
from chronik.errors import StorageError, ValidationError

# Any key that stays fixed identifies chronik's migration lock among other advisory locks.
MIGRATION_LOCK_KEY = 0x63_68_72_6F_6E_69_6B  # "chronik"

# Expectation codes passed to append_events (an exact version is passed as itself, >= 0).
EXPECT_ANY = -1
EXPECT_NO_STREAM = 0
EXPECT_EXISTS = -3

_TAG_HEX = HASH_TAG.hex()

MIGRATIONS: list[str] = [
    # 1: events, streams, head, meta, and the append function.
    """
    CREATE TABLE {s}.meta (
        key   text PRIMARY KEY,
        value text NOT NULL
    );
    CREATE TABLE {s}.events (
        position bigint PRIMARY KEY,
        stream   text   NOT NULL,
        version  bigint NOT NULL CHECK (version >= 1),
        type     text   NOT NULL,
        id       text   NOT NULL UNIQUE,
        time     text   NOT NULL,
        data     json   NOT NULL,
        meta     json   NOT NULL,
        prev     text   NOT NULL,
        hash     text   NOT NULL,
        sig      text,
        UNIQUE (stream, version)
    );
    CREATE TABLE {s}.streams (
        stream        text PRIMARY KEY,
        version       bigint NOT NULL,
        last_position bigint NOT NULL,
        last_type     text   NOT NULL,
        last_time     text   NOT NULL
    );
    INSERT INTO {s}.meta (key, value) VALUES ('ledger_id', gen_random_uuid()::text),
        ('created', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));

    CREATE FUNCTION {s}.append_events(
        p_streams text[], p_expects bigint[], p_counts int[],
        p_types text[], p_ids text[], p_given boolean[], p_times text[], p_data text[], p_meta text[])
    RETURNS TABLE (stream text, first_position bigint, last_position bigint, version bigint)
    LANGUAGE plpgsql AS $fn$
    DECLARE
        head_position bigint;
        head_hash     text;
        b int;
        i int;
        e int := 0;
        batch_start int;
        expect bigint;
        current bigint;
        recorded record;
        found_count int;
        fresh boolean[] := '{{}}';
        replayed_streams int := 0;
        record_text text;
        new_hash text;
        pos bigint;
        ver bigint;
        r_first bigint; r_last bigint; r_version bigint;
        -- Per event, indexed like p_types: where it lands and its chain links.
        out_positions bigint[]; out_streams text[]; out_versions bigint[];
        out_prev text[]; out_hash text[];
    BEGIN
        -- The global ordering lock: transaction-scoped, released only after COMMIT has made
        -- this append visible, so positions become visible in order, without gaps.
        PERFORM pg_advisory_xact_lock({order_lock});
        SELECT ev.position, ev.hash INTO head_position, head_hash
          FROM {s}.events ev ORDER BY ev.position DESC LIMIT 1;
        -- Retention always keeps the newest event (the chain's bridge), so an empty table is a
        -- new ledger and positions are never reused.
        IF NOT FOUND THEN
            head_position := 0;
            head_hash := repeat('0', 64);
        END IF;

        -- Pass 1: idempotent retries and expectations; nothing is written yet.
        e := 0;
        FOR b IN 1 .. array_length(p_streams, 1) LOOP
            batch_start := e;
            found_count := 0;
            r_first := NULL; r_last := NULL; r_version := NULL;
            FOR i IN 1 .. p_counts[b] LOOP
                e := e + 1;
                IF p_given[e] THEN
                    SELECT ev.position, ev.stream, ev.version, ev.type, ev.data::text AS data,
                           ev.meta::text AS meta
                      INTO recorded FROM {s}.events ev WHERE ev.id = p_ids[e];
                    IF FOUND THEN
                        IF recorded.stream <> p_streams[b] OR recorded.type <> p_types[e]
                           OR recorded.data <> p_data[e] OR recorded.meta <> p_meta[e] THEN
                            RAISE EXCEPTION USING ERRCODE = 'CK001',
                                MESSAGE = format('%s.events[%s].id', p_streams[b], i - 1),
                                DETAIL = format('id %L is already recorded at position %s with different content',
                                                p_ids[e], recorded.position);
                        END IF;
                        found_count := found_count + 1;
                        r_first := least(r_first, recorded.position);
                        r_last := greatest(r_last, recorded.position);
                        r_version := greatest(r_version, recorded.version);
                    END IF;
                END IF;
            END LOOP;
            IF found_count = p_counts[b] THEN
                replayed_streams := replayed_streams + 1;
                fresh := fresh || false;
                stream := p_streams[b]; first_position := r_first; last_position := r_last;
                version := r_version;
                RETURN NEXT;
                CONTINUE;
            ELSIF found_count > 0 THEN
                RAISE EXCEPTION USING ERRCODE = 'CK001',
                    MESSAGE = format('%s.events[0].id', p_streams[b]),
                    DETAIL = 'this batch mixes ids already recorded with new ones';
            END IF;
            fresh := fresh || true;
            SELECT st.version INTO current FROM {s}.streams st WHERE st.stream = p_streams[b];
            current := coalesce(current, 0);
            expect := p_expects[b];
            IF (expect = {any_} ) IS NOT TRUE AND NOT (
                   (expect = {no_stream} AND current = 0)
                OR (expect = {exists} AND current > 0)
                OR (expect > 0 AND current = expect)) THEN
                RAISE EXCEPTION USING ERRCODE = 'CK002', MESSAGE = p_streams[b],
                    DETAIL = format('%s %s', expect, current);
            END IF;
        END LOOP;
        IF replayed_streams > 0 AND replayed_streams < array_length(p_streams, 1) THEN
            RAISE EXCEPTION USING ERRCODE = 'CK001',
                MESSAGE = 'events[0].id',
                DETAIL = 'some streams of this call are already recorded with these ids and others are not';
        END IF;
        IF replayed_streams > 0 THEN
            RETURN;
        END IF;

        -- Pass 2: link the chain and write.
        e := 0;
        pos := head_position;
        FOR b IN 1 .. array_length(p_streams, 1) LOOP
            SELECT st.version INTO current FROM {s}.streams st WHERE st.stream = p_streams[b];
            ver := coalesce(current, 0);
            r_first := pos + 1;
            FOR i IN 1 .. p_counts[b] LOOP
                e := e + 1;
                pos := pos + 1;
                ver := ver + 1;
                record_text := '{{"data":' || p_data[e] || ',"id":"' || p_ids[e] || '","meta":' || p_meta[e]
                    || ',"position":' || pos || ',"prev":"' || head_hash || '","stream":"' || p_streams[b]
                    || '","time":"' || p_times[e] || '","type":"' || p_types[e] || '","version":' || ver || '}}';
                new_hash := encode(sha256('\\x{tag}'::bytea || convert_to(record_text, 'UTF8')
                    || '\\x00'::bytea || convert_to(head_hash, 'UTF8')), 'hex');
                out_positions[e] := pos; out_streams[e] := p_streams[b]; out_versions[e] := ver;
                out_prev[e] := head_hash; out_hash[e] := new_hash;
                head_hash := new_hash;
            END LOOP;
            INSERT INTO {s}.streams AS st (stream, version, last_position, last_type, last_time)
                VALUES (p_streams[b], ver, pos, p_types[e], p_times[e])
                ON CONFLICT ON CONSTRAINT streams_pkey DO UPDATE SET version = excluded.version,
                    last_position = excluded.last_position, last_type = excluded.last_type,
                    last_time = excluded.last_time;
            stream := p_streams[b]; first_position := r_first; last_position := pos; version := ver;
            RETURN NEXT;
        END LOOP;
        INSERT INTO {s}.events (position, stream, version, type, id, time, data, meta, prev, hash)
            SELECT * FROM unnest(out_positions, out_streams, out_versions, p_types, p_ids, p_times,
                                 p_data::json[], p_meta::json[], out_prev, out_hash);
        PERFORM pg_notify({channel}, pos::text);
    END
    $fn$;
    """,
    # 2: auxiliary records (snapshots, checkpoints, parked events, read models). "C" collation:
    # keys order by code point, as in every other store.
    """
    CREATE TABLE {s}.aux (
        kind  text COLLATE "C" NOT NULL,
        key   text COLLATE "C" NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (kind, key)
    );
    """,
]

# The single-stream fast path of append_events (migration 3), inserted before pass 1 of the general
# function of migration 1. A call with one stream and no caller-given ids (almost every append) does
# exactly what the general path does for it, in fewer statements: the stream's version is read once
# (the general path reads it in each pass), expectations are checked, the chain is linked, and the
# event rows are built by one INSERT ... SELECT over the argument arrays instead of being gathered
# into five more arrays first. Same rows, same hashes, same errors (the general path raises nothing for such a
# call that this one does not, in the same order), same notification.
_FAST_PATH = """
        IF cardinality(p_streams) = 1 AND p_counts[1] >= 1 AND p_counts[1] = cardinality(p_types)
           AND NOT (true = ANY(p_given)) THEN
            SELECT st.version INTO current FROM {s}.streams st WHERE st.stream = p_streams[1];
            current := coalesce(current, 0);
            expect := p_expects[1];
            IF (expect = {any_} ) IS NOT TRUE AND NOT (
                   (expect = {no_stream} AND current = 0)
                OR (expect = {exists} AND current > 0)
                OR (expect > 0 AND current = expect)) THEN
                RAISE EXCEPTION USING ERRCODE = 'CK002', MESSAGE = p_streams[1],
                    DETAIL = format('%s %s', expect, current);
            END IF;
            pos := head_position;
            ver := current;
            FOR e IN 1 .. p_counts[1] LOOP
                pos := pos + 1;
                ver := ver + 1;
                record_text := '{{"data":' || p_data[e] || ',"id":"' || p_ids[e] || '","meta":' || p_meta[e]
                    || ',"position":' || pos || ',"prev":"' || head_hash || '","stream":"' || p_streams[1]
                    || '","time":"' || p_times[e] || '","type":"' || p_types[e] || '","version":' || ver || '}}';
                out_prev[e] := head_hash;
                head_hash := encode(sha256('\\x{tag}'::bytea || convert_to(record_text, 'UTF8')
                    || '\\x00'::bytea || convert_to(head_hash, 'UTF8')), 'hex');
                out_hash[e] := head_hash;
            END LOOP;
            INSERT INTO {s}.streams AS st (stream, version, last_position, last_type, last_time)
                VALUES (p_streams[1], ver, pos, p_types[p_counts[1]], p_times[p_counts[1]])
                ON CONFLICT ON CONSTRAINT streams_pkey DO UPDATE SET version = excluded.version,
                    last_position = excluded.last_position, last_type = excluded.last_type,
                    last_time = excluded.last_time;
            INSERT INTO {s}.events (position, stream, version, type, id, time, data, meta, prev, hash)
                SELECT head_position + u.g, p_streams[1], current + u.g, u.t, u.i, u.tm, u.d::json, u.m::json,
                       u.pr, u.h
                  FROM unnest(p_types, p_ids, p_times, p_data, p_meta, out_prev, out_hash)
                       WITH ORDINALITY AS u(t, i, tm, d, m, pr, h, g);
            PERFORM pg_notify({channel}, pos::text);
            stream := p_streams[1]; first_position := head_position + 1; last_position := pos; version := ver;
            RETURN NEXT;
            RETURN;
        END IF;

"""
_PASS_1 = "        -- Pass 1: idempotent retries and expectations; nothing is written yet.\n"
assert MIGRATIONS[0].count(_PASS_1) == 1
# 3: append_events with the fast path (CREATE OR REPLACE keeps its signature and grants).
MIGRATIONS.append(MIGRATIONS[0][MIGRATIONS[0].index("    CREATE FUNCTION"):]
                  .replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
                  .replace(_PASS_1, _FAST_PATH + _PASS_1, 1))


# 4: the append of a signing ledger. The same append_events, then, per stream, the hashes of its
# events that have no sig yet, so that the client computes the MACs from what this call returns
# and sets them before COMMIT without another query (chronik.stores.postgres_writes).
MIGRATIONS.append("""
    CREATE FUNCTION {s}.append_events_for_signing(
        p_streams text[], p_expects bigint[], p_counts int[],
        p_types text[], p_ids text[], p_given boolean[], p_times text[], p_data text[], p_meta text[])
    RETURNS TABLE (stream text, first_position bigint, last_position bigint, version bigint,
                   unsigned_positions bigint[], unsigned_hashes text[])
    LANGUAGE plpgsql AS $fn$
    DECLARE
        appended record;
    BEGIN
        FOR appended IN SELECT * FROM {s}.append_events(p_streams, p_expects, p_counts, p_types, p_ids,
                                                         p_given, p_times, p_data, p_meta) LOOP
            stream := appended.stream; first_position := appended.first_position;
            last_position := appended.last_position; version := appended.version;
            -- By the primary key's range only (OFFSET 0 keeps the planner from scanning the
            -- whole stream through its (stream, version) index), then this stream's events.
            SELECT coalesce(array_agg(ev.position ORDER BY ev.position), '{{}}'),
                   coalesce(array_agg(ev.hash ORDER BY ev.position), '{{}}')
              INTO unsigned_positions, unsigned_hashes
              FROM (SELECT r.position, r.hash, r.stream FROM {s}.events r
                     WHERE r.position >= appended.first_position AND r.position <= appended.last_position
                       AND r.sig IS NULL OFFSET 0) ev
             WHERE ev.stream = appended.stream;
            RETURN NEXT;
        END LOOP;
    END
    $fn$;
    """)


# 5: text search (ADR 0013). `search_text`, a stored generated column: type, data and meta each
# lower-cased, joined by a character none of them can hold (types are [A-Za-z0-9_.-], JSON text
# escapes control characters), so the text filter's ILIKE of each field becomes one LIKE on it
# (chronik.stores.postgres._search_text_like) that lower-cases nothing per row; and a pg_trgm GIN
# index on it, which PostgreSQL rechecks with that LIKE, so what it finds is what the scan finds.
# Adding the column rewrites the table (about a minute per million events here, the ledger locked
# meanwhile). Its statistics target is 1,000: the planner estimates how many events hold a needle
# from the column's histogram, and with the default 100 entries a needle in 5% of the events
# was estimated at 0.01%, so PostgreSQL gathered all 50,000 through the index (260 ms) where
# walking the key found the first 100 in 2 ms; with 1,000, the estimates pick the right plan.
# The migration analyzes the column at once (a few seconds per million events). pg_trgm is created where it is missing (a trusted extension: a role with CREATE on
# the database may); where it cannot be, there is no index (a WARNING says so) and text search
# reads the column row by row. IF NOT EXISTS: a re-run after a partial manual repair is harmless.
SEARCH_TEXT_VERSION = 5
SEARCH_TEXT_SEPARATOR = "\x01"
MIGRATIONS.append("""
    ALTER TABLE {s}.events ADD COLUMN IF NOT EXISTS search_text text GENERATED ALWAYS AS
        (lower(type) || chr(1) || lower(data::text) || chr(1) || lower(meta::text)) STORED;
    ALTER TABLE {s}.events ALTER COLUMN search_text SET STATISTICS 1000;
    DO $text_index$
    DECLARE
        trgm name;
    BEGIN
        SELECT n.nspname INTO trgm FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
         WHERE x.extname = 'pg_trgm';
        IF trgm IS NULL THEN
            BEGIN
                CREATE EXTENSION IF NOT EXISTS pg_trgm;
            EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
                RAISE WARNING 'chronik: no text index on %: CREATE EXTENSION pg_trgm failed (%); text '
                    'search reads every event. Have an administrator run CREATE EXTENSION pg_trgm, '
                    'then see docs/adr/0013-indexed-text-search.md', '{s}', SQLERRM;
                RETURN;
            END;
            SELECT n.nspname INTO trgm FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
             WHERE x.extname = 'pg_trgm';
        END IF;
        -- The operator class named with the extension's schema, wherever it was installed.
        EXECUTE format('CREATE INDEX IF NOT EXISTS events_search_trgm ON {s}.events '
                       'USING gin (search_text %I.gin_trgm_ops)', trgm);
    END
    $text_index$;
    -- The rewritten table has no statistics on the new column until autovacuum comes by.
    ANALYZE {s}.events (search_text);
    """)
assert len(MIGRATIONS) == SEARCH_TEXT_VERSION


# 6: a signed append in one round trip. The client links the chain itself from the head it
# expects (the one its last append left), signs the hashes, and sends hashes and signatures with
# the events; the server appends under the ordering lock as append_events does, computing its
# own hashes, and takes the client's signatures only when its hashes are the client's. A
# different head (another writer came first), another stream version or an idempotent retry
# gives other hashes: CK003, the whole statement undone, and the client appends the
# two-round-trip way (chronik.stores.postgres_writes). The key never leaves the client (ADR 0009).
# The usual call (one stream, no caller-given ids) is append_events' own fast path, its rows
# inserted with their signatures; any other call is append_events_for_signing, then the
# signatures set in the same statement.
SIGNED_APPEND_VERSION = 6
_FUNCTION_HEAD = MIGRATIONS[0][MIGRATIONS[0].index("    CREATE FUNCTION {s}.append_events("):MIGRATIONS[0].index(_PASS_1)]
_SIGNED_HEAD = (_FUNCTION_HEAD
                .replace("CREATE FUNCTION {s}.append_events(", "CREATE OR REPLACE FUNCTION {s}.append_events_signed(", 1)
                .replace("p_data text[], p_meta text[])", "p_data text[], p_meta text[],\n        p_hashes text[], p_sigs text[])", 1)
                .replace("    DECLARE\n", "    DECLARE\n        appended record;\n        positions bigint[] := '{{}}';\n"
                         "        hashes text[] := '{{}}';\n", 1))
_HEAD_MOVED = """
                RAISE EXCEPTION USING ERRCODE = 'CK003', MESSAGE = 'the head moved',
                    DETAIL = 'the chain was linked from another head; nothing was written';"""
_SIGNED_FAST_PATH = (_FAST_PATH
                     .replace("AND NOT (true = ANY(p_given)) THEN",
                              "AND NOT (true = ANY(p_given)) AND cardinality(p_sigs) = p_counts[1] THEN", 1)
                     .replace("            INSERT INTO {s}.streams",
                              "            IF out_hash IS DISTINCT FROM p_hashes THEN" + _HEAD_MOVED
                              + "\n            END IF;\n            INSERT INTO {s}.streams", 1)
                     .replace("data, meta, prev, hash)\n", "data, meta, prev, hash, sig)\n", 1)
                     .replace("u.pr, u.h\n", "u.pr, u.h, u.sg\n", 1)
                     .replace("out_prev, out_hash)\n                       WITH ORDINALITY AS u(t, i, tm, d, m, pr, h, g)",
                              "out_prev, out_hash, p_sigs)\n                       WITH ORDINALITY AS u(t, i, tm, d, m, pr, h, sg, g)", 1))
assert _SIGNED_HEAD.count("append_events_signed") == 1 and "p_sigs text[]" in _SIGNED_HEAD
assert _SIGNED_FAST_PATH.count("CK003") == 1 and "u.sg" in _SIGNED_FAST_PATH and "AS u(t, i, tm, d, m, pr, h, sg, g)" in _SIGNED_FAST_PATH
MIGRATIONS.append(_SIGNED_HEAD + _SIGNED_FAST_PATH + """
        FOR appended IN SELECT * FROM {s}.append_events_for_signing(p_streams, p_expects, p_counts, p_types,
                                                                     p_ids, p_given, p_times, p_data, p_meta) LOOP
            positions := positions || appended.unsigned_positions;
            hashes := hashes || appended.unsigned_hashes;
            stream := appended.stream; first_position := appended.first_position;
            last_position := appended.last_position; version := appended.version;
            RETURN NEXT;
        END LOOP;
        IF hashes IS DISTINCT FROM p_hashes OR cardinality(p_sigs) <> cardinality(p_hashes) THEN""" + _HEAD_MOVED + """
        END IF;
        UPDATE {s}.events AS e SET sig = v.sig FROM unnest(positions, p_sigs) AS v(position, sig)
         WHERE e.position = v.position;
    END
    $fn$;
    """)
assert len(MIGRATIONS) == SIGNED_APPEND_VERSION


TEXT_INDEX = "events_search_trgm"


def switch_text_index(conn: psycopg.Connection, schema: str, enabled: bool) -> bool:
    """Drop or build the GIN index of migration 5 (in the caller's transaction); whether the
    index existed as asked already. Building needs pg_trgm, which migration 5 installed where
    it could."""
    s = f'"{schema}"'
    exists = conn.execute("SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
                          (schema, TEXT_INDEX)).fetchone() is not None
    if exists == enabled:
        return False
    if not enabled:
        conn.execute(f"DROP INDEX {s}.{TEXT_INDEX}")
        return True
    found = conn.execute("SELECT n.nspname FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace "
                         "WHERE x.extname = 'pg_trgm'").fetchone()
    if found is None:
        raise ValidationError("text_index", "the pg_trgm extension is not installed in this database",
                              "have an administrator run CREATE EXTENSION pg_trgm")
    conn.execute(sql.SQL("CREATE INDEX {} ON {}.events USING gin (search_text {}.gin_trgm_ops)").format(
        sql.Identifier(TEXT_INDEX), sql.Identifier(schema), sql.Identifier(found[0])))
    conn.execute(f"ANALYZE {s}.events (search_text)")
    return True


def order_lock_key(schema: str) -> int:
    """The advisory lock key that orders appends to one schema: a stable signed 64-bit hash."""
    digest = hashlib.sha256(f"chronik.order:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def migration_sql(index: int, schema: str) -> str:
    """Migration `index` (0-based) with the schema, lock key and notify channel filled in."""
    return MIGRATIONS[index].format(
        s=f'"{schema}"', tag=_TAG_HEX, channel=f"'chronik_{schema}'", order_lock=order_lock_key(schema),
        any_=EXPECT_ANY, no_stream=EXPECT_NO_STREAM, exists=EXPECT_EXISTS,
    )


# ---------------------------------------------------------------- applying them


def schema_version(conn: psycopg.Connection, schema: str) -> int | None:
    """The schema's version, or None when it holds no chronik ledger."""
    found = conn.execute("SELECT to_regclass(%s)", (f'"{schema}".schema_version',)).fetchone()
    if found is None or found[0] is None:
        return None
    row = conn.execute(f'SELECT coalesce(max(version), 0) FROM "{schema}".schema_version').fetchone()
    return int(row[0]) if row else 0


def check_version(version: int, schema: str) -> None:
    if version > len(MIGRATIONS):
        raise StorageError(f"schema {schema} has version {version}, newer than this chronik "
                           f"({len(MIGRATIONS)}); upgrade chronik")


def migrate(conn: psycopg.Connection, schema: str) -> list[int]:
    """Apply pending migrations in one transaction under the migration lock (safe to run twice,
    and from several processes at once); the versions applied."""
    s = f'"{schema}"'
    applied: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {s}.schema_version ("
                     "version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        current = schema_version(conn, schema) or 0
        check_version(current, schema)
        for index in range(current, len(MIGRATIONS)):
            conn.execute(migration_sql(index, schema))
            conn.execute(f"INSERT INTO {s}.schema_version (version) VALUES (%s)", (index + 1,))
            applied.append(index + 1)
    return applied

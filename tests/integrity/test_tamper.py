"""1,000 seeded mutations in 10 classes of a signed 200-event ledger, per store (SQLite, JSONL),
made by editing the real database or file directly: every one is detected and located.

Located means: `first_bad_position` is the mutated position (for a deletion, the position that
is missing; for an inserted event, the position it was inserted at). Tail truncation and rollback
leave a valid chain: verify passes without an anchor and says it cannot detect them; with the
anchor taken before the mutation it fails at the first removed position (truncation) or at the
anchored position (a rollback followed by new appends).

The seed is printed; rerun one with CHRONIK_TAMPER_SEED=<seed>.
"""

from __future__ import annotations

import collections
import json
import os
import random
import shutil
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chronik import codec
from chronik.chain import NO_ANCHOR_NOTE
from chronik.integrity.anchors import make_anchor
from chronik.integrity.keys import Keyring, new_key
from chronik.integrity.signing import signature_of
from chronik.integrity.verify import verify_url
from chronik.ledger import open_ledger
from chronik.model import Expect, NewEvent

EVENTS = 200
MUTATIONS_PER_CLASS = 100
STREAMS = ["order:1", "order:2", "cart:7", "user:ada", "user:bob"]
FIELDS = ("position", "stream", "version", "type", "id", "time", "data", "meta", "prev", "hash", "sig")

Record = dict


# ---------------------------------------------------------------- the pristine ledger


class Pristine:
    def __init__(self, url: str, path: Path, keyring: Keyring, records: list[Record], anchor) -> None:
        self.url, self.path, self.keyring, self.records, self.anchor = url, path, keyring, records, anchor


def _build(url: str, path: Path, seed: int) -> Pristine:
    rng = random.Random(seed)
    k1, k2 = new_key("k1"), new_key("k2")
    keyring = Keyring([k1], "k1")
    ledger = open_ledger(url, keyring=keyring)
    written = 0
    while written < EVENTS:
        if written >= EVENTS // 2 and ledger.keyring.active_kid == "k1":  # rotate half way
            ledger.close()
            keyring = keyring.with_key(k2, activate=True)
            ledger = open_ledger(url, keyring=keyring)
        if rng.random() < 0.15 and written + 3 <= EVENTS:  # a multi-stream commit (jsonl `more` framing)
            a, b = rng.sample(STREAMS, 2)
            ledger.append_many({a: ([_new(rng), _new(rng)], Expect.ANY), b: ([_new(rng)], Expect.ANY)})
            written += 3
        else:
            ledger.append(rng.choice(STREAMS), [_new(rng)])
            written += 1
    anchor = make_anchor(ledger, ledger.keyring)
    records = [_record(event) for event in ledger.read_all()]
    ledger.close()
    if url.startswith("jsonl:"):
        for record, line in zip(records, path.read_bytes().splitlines(), strict=True):
            record["more"] = json.loads(line).get("more", 0)
    assert len(records) == EVENTS and anchor.position == EVENTS
    return Pristine(url, path, keyring, records, anchor)


def _new(rng: random.Random) -> NewEvent:
    kind = rng.choice(["created", "paid", "shipped", "note-added"])
    return NewEvent(kind, {"n": rng.randrange(10**6), "who": rng.choice(["ada", "bob", "cy"]),
                           "items": [rng.randrange(100) for _ in range(rng.randrange(1, 4))]},
                    meta={"source": "tamper-test"} if rng.random() < 0.5 else {})


def _record(event) -> Record:
    return {"position": event.position, "stream": event.stream, "version": event.version,
            "type": event.type, "id": event.id, "time": event.time,
            "data": codec.encode_json(event.data).decode(), "meta": codec.encode_json(event.meta).decode(),
            "prev": event.prev, "hash": event.hash, "sig": event.sig, "more": 0}


def _rehash(record: Record) -> str:
    return codec.event_hash(record["position"], record["stream"], record["version"], record["type"],
                            record["id"], record["time"], record["data"].encode(), record["meta"].encode(),
                            record["prev"])


# ---------------------------------------------------------------- writing the real files


def _write_jsonl(path: Path, records: list[Record]) -> None:
    lines = []
    for r in records:
        head = ",".join(f'"{name}":{json.dumps(r[name])}' for name in ("position", "stream", "version",
                                                                        "type", "id", "time"))
        tail = f',"prev":{json.dumps(r["prev"])},"hash":{json.dumps(r["hash"])}'
        if r["sig"] is not None:
            tail += f',"sig":{json.dumps(r["sig"])}'
        if r.get("more"):
            tail += f',"more":{r["more"]}'
        lines.append(f'{{{head},"data":{r["data"]},"meta":{r["meta"]}{tail}}}\n')
    path.write_text("".join(lines), encoding="utf-8")


class SqliteWriter:
    """Rewrites the events table of a working copy (its unique indexes dropped, as a tamperer
    with the file would, so duplicates and swaps can be written)."""

    def __init__(self, pristine: Path, work: Path) -> None:
        shutil.copyfile(pristine, work)
        self.work = work
        with sqlite3.connect(work) as conn:
            conn.execute("DROP INDEX events_id")
            conn.execute("DROP INDEX events_stream_version")

    def __call__(self, records: list[Record]) -> None:
        conn = sqlite3.connect(self.work, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous = OFF")  # a scratch copy: no need to wait for the disk
            conn.execute("BEGIN")
            conn.execute("DELETE FROM events")
            conn.executemany(f"INSERT INTO events ({', '.join(FIELDS)}) VALUES ({', '.join('?' * len(FIELDS))})",
                             [tuple(r[name] for name in FIELDS) for r in records])
            conn.execute("COMMIT")
        finally:
            conn.close()


# ---------------------------------------------------------------- the mutation classes
# Each returns (mutated records, expected first bad position); positions are 1-based and
# records[i] is position i + 1 in the pristine ledger.


def _copy(records: list[Record]) -> list[Record]:
    return [dict(r) for r in records]


def bit_flip(records, rng, ctx):
    records = _copy(records)
    p = rng.randrange(1, EVENTS + 1)
    data = records[p - 1]["data"]
    i = rng.randrange(len(data))
    flipped = chr(ord(data[i]) ^ (1 << rng.randrange(7)))  # stays ASCII: a byte of the stored text
    records[p - 1]["data"] = data[:i] + flipped + data[i + 1:]
    return records, p


def field_edit(records, rng, ctx):
    records = _copy(records)
    p = rng.randrange(1, EVENTS + 1)
    r = records[p - 1]
    how = rng.choice(["data", "meta", "id", "stream", "version"])
    if how == "data":
        data = json.loads(r["data"])
        data["n"] = data["n"] + rng.randrange(1, 1000)
        r["data"] = codec.encode_json(data).decode()
    elif how == "meta":
        meta = json.loads(r["meta"])
        meta["edited"] = True
        r["meta"] = codec.encode_json(meta).decode()
    elif how == "id":
        r["id"] = codec.new_event_id()
    elif how == "stream":
        r["stream"] = rng.choice([s for s in STREAMS if s != r["stream"]])
    else:
        r["version"] += rng.choice([-1, 1]) if r["version"] > 1 else 1
    return records, p


def time_edit(records, rng, ctx):
    records = _copy(records)
    p = rng.randrange(1, EVENTS + 1)
    moment = codec.parse_time(records[p - 1]["time"])
    delta = timedelta(microseconds=rng.choice([1, -1, 1000, -86_400_000_000, 3_600_000_000]))
    records[p - 1]["time"] = codec.format_time(moment + delta)
    return records, p


def type_edit(records, rng, ctx):
    records = _copy(records)
    p = rng.randrange(1, EVENTS + 1)
    records[p - 1]["type"] = rng.choice([t for t in ("created", "paid", "shipped", "refunded", "note-added")
                                         if t != records[p - 1]["type"]])
    return records, p


def deletion(records, rng, ctx):
    records = _copy(records)
    p = rng.randrange(2, EVENTS)  # in the middle: not the first, not the head
    del records[p - 1]
    if rng.random() < 0.5:  # close the gap, as a careful tamperer would
        for r in records[p - 1:]:
            r["position"] -= 1
    return records, p


def swap(records, rng, ctx):
    records = _copy(records)
    i, j = sorted(rng.sample(range(1, EVENTS + 1), 2))
    a, b = records[i - 1], records[j - 1]
    if ctx["kind"] == "jsonl" and rng.random() < 0.5:  # move the lines as they are
        records[i - 1], records[j - 1] = b, a
    else:  # exchange the events, each keeping the other's position
        for name in FIELDS[1:]:
            a[name], b[name] = b[name], a[name]
    return records, i


def duplicate(records, rng, ctx):
    records = _copy(records)
    k = rng.randrange(1, EVENTS + 1)
    copy = dict(records[k - 1])
    copy["more"] = 0
    if ctx["kind"] == "jsonl" and rng.random() < 0.5:  # the line again, verbatim, right after it
        records.insert(k, copy)
    else:  # a copy at position k + 1, later events renumbered
        records.insert(k, copy)
        for r in records[k:]:
            r["position"] += 1
    return records, k + 1


def forged_insert(records, rng, ctx):
    """A well-formed event, correctly chained (and the chain after it recomputed), but signed with
    a key that is not the ledger's (same kid, guessed secret, or an unknown kid)."""
    records = _copy(records)
    k = rng.randrange(1, EVENTS + 2)
    prev = records[k - 2]["hash"] if k > 1 else codec.GENESIS_HASH
    forged = {"position": k, "stream": f"forged:{rng.randrange(10**6)}", "version": 1, "type": "paid",
              "id": codec.new_event_id(), "time": records[k - 2]["time"] if k > 1 else records[0]["time"],
              "data": '{"amount":1000000}', "meta": "{}", "prev": prev, "hash": "", "sig": None, "more": 0}
    forged["hash"] = _rehash(forged)
    kid = rng.choice(["k1", "k2", "k9"])
    forged["sig"] = signature_of(Keyring([new_key(kid)], kid), kid, forged["hash"])
    records.insert(k - 1, forged)
    _rechain(records, k, keep_sigs=True)
    return records, k


def rechain_without_key(records, rng, ctx):
    """Edit one event and recompute every hash after it: a valid chain that only the signatures
    (kept, stripped or guessed) give away."""
    records = _copy(records)
    p = rng.randrange(1, EVENTS + 1)
    data = json.loads(records[p - 1]["data"])
    data["n"] = -1
    records[p - 1]["data"] = codec.encode_json(data).decode()
    how = rng.choice(["keep", "strip", "guess"])
    _rechain(records, p - 1, keep_sigs=True)
    guessed = Keyring([new_key("k2")], "k2")
    for r in records[p - 1:]:
        if how == "strip":
            r["sig"] = None
        elif how == "guess":
            r["sig"] = guessed.sign(r["hash"])
    return records, p


def _rechain(records: list[Record], from_index: int, keep_sigs: bool) -> None:
    """Renumber positions from `from_index` on and recompute their prev/hash (sig untouched)."""
    for index in range(from_index, len(records)):
        r = records[index]
        r["position"] = index + 1
        r["prev"] = records[index - 1]["hash"] if index else codec.GENESIS_HASH
        r["hash"] = _rehash(r)


def _close_last_commit(records):
    """Renumber the `more` framing of the commit the cut ended in, so the file ends on a whole
    commit (what a rollback to an older, consistent copy looks like; a cut inside a commit is
    a torn or cut tail, which the store's own check reports)."""
    start = len(records) - 1
    while start > 0 and records[start - 1].get("more"):
        start -= 1
    for index in range(start, len(records)):
        records[index]["more"] = len(records) - 1 - index


def truncation_or_rollback(records, rng, ctx):
    """Cut the tail; half the time then append new, validly signed events (a restored backup
    that went on being used). Returns the expected position *with* the anchor."""
    records = _copy(records)
    cut = rng.randrange(1, 21)
    records = records[:EVENTS - cut]
    _close_last_commit(records)
    if rng.random() < 0.5:
        return records, EVENTS - cut + 1
    keyring: Keyring = ctx["keyring"]
    added = rng.randrange(1, cut + 11)
    versions = collections.Counter()
    for r in records:
        versions[r["stream"]] = max(versions[r["stream"]], r["version"])
    for _ in range(added):
        stream = rng.choice(STREAMS)
        versions[stream] += 1
        r = {"position": len(records) + 1, "stream": stream, "version": versions[stream], "type": "created",
             "id": codec.new_event_id(), "time": codec.format_time(datetime.now(UTC)),
             "data": codec.encode_json({"n": rng.randrange(10**6)}).decode(), "meta": "{}",
             "prev": records[-1]["hash"], "hash": "", "sig": None, "more": 0}
        r["hash"] = _rehash(r)
        r["sig"] = keyring.sign(r["hash"])
        records.append(r)
    head = len(records)
    return records, EVENTS if head >= EVENTS else head + 1


CLASSES: list[tuple[str, Callable]] = [
    ("bit_flip", bit_flip), ("field_edit", field_edit), ("time_edit", time_edit), ("type_edit", type_edit),
    ("deletion", deletion), ("swap", swap), ("duplicate", duplicate), ("forged_insert", forged_insert),
    ("rechain_without_key", rechain_without_key), ("truncation_rollback", truncation_or_rollback),
]


# ---------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def seed() -> int:
    value = int(os.environ.get("CHRONIK_TAMPER_SEED") or random.SystemRandom().randrange(2**32))
    print(f"\ntamper test seed: {value} (rerun with CHRONIK_TAMPER_SEED={value})")
    return value


@pytest.mark.parametrize("kind", ["sqlite", "jsonl"])
def test_every_mutation_is_detected_and_located(kind, seed, tmp_path):
    suffix = "db" if kind == "sqlite" else "jsonl"
    pristine_path = tmp_path / f"pristine.{suffix}"
    pristine = _build(f"{kind}:///" + str(pristine_path).lstrip("/") + "?durability=relaxed", pristine_path, seed)
    work = tmp_path / f"work.{suffix}"
    work_url = f"{kind}:///" + str(work).lstrip("/")
    write = SqliteWriter(pristine_path, work) if kind == "sqlite" else (lambda records: _write_jsonl(work, records))
    keyring = pristine.keyring
    ctx = {"kind": kind, "keyring": keyring}

    write(pristine.records)  # the unmutated copy verifies, with and without the anchor
    assert verify_url(work_url, keyring=keyring).ok
    assert verify_url(work_url, keyring=keyring, anchor=pristine.anchor).ok

    rng = random.Random(seed)
    failures: list[str] = []
    kinds: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    total = 0
    for name, mutate in CLASSES:
        for attempt in range(MUTATIONS_PER_CLASS):
            records, expected = mutate(pristine.records, rng, ctx)
            write(records)
            total += 1
            where = f"{kind} {name} #{attempt}"
            # Signed from position 1, so verified as an operator would: --require-signatures
            # (else stripping every signature and recomputing the whole chain would pass).
            if name == "truncation_rollback":
                plain = verify_url(work_url, keyring=keyring, require_signatures=True)
                if not plain.ok or NO_ANCHOR_NOTE not in plain.notes or plain.check("anchor").status != "not_checked":
                    failures.append(f"{where}: without an anchor: ok={plain.ok}, notes={plain.notes}")
                report = verify_url(work_url, keyring=keyring, anchor=pristine.anchor, require_signatures=True)
            else:
                report = verify_url(work_url, keyring=keyring, require_signatures=True)
            kinds[name][report.first_bad_kind] += 1
            if report.ok:
                failures.append(f"{where}: not detected")
            elif report.first_bad_position != expected:
                failures.append(f"{where}: located at {report.first_bad_position} "
                                f"({report.first_bad_kind}), mutated {expected}: {report.problems[:3]}")
    print(f"\n{kind}: {total} mutations, seed {seed}")
    for name, _ in CLASSES:
        print(f"  {name:22} first problem kinds: {dict(kinds[name])}")
    assert total == MUTATIONS_PER_CLASS * len(CLASSES) == 1000
    assert not failures, f"seed {seed}: {len(failures)} failures:\n" + "\n".join(failures[:20])

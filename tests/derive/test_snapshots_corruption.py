"""100 random aggregates with snapshots, 20 of them with snapshots corrupted in the store: every
corruption is detected (a warning naming the snapshot) and every replay is still right. On every
store, PostgreSQL included; on SQLite and JSON Lines half the corruptions are made by editing the
database file directly (sqlite3, with chronik closed), the other half through the aux API.

Randomised with a seed printed at the start (CHRONIK_TEST_SEED=<seed> repeats a run).
"""

from __future__ import annotations

import os
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

import chronik
from chronik import NewEvent, Reducer
from chronik.derive import snapshots as snap
from chronik.stores.base import AuxChange

AGGREGATES = 100
CORRUPTED = 20
CORRUPTIONS = ["state_byte", "header_byte", "truncated", "garbage", "stale", "moved", "rechained",
               "all_of_them"]


def seed() -> int:
    value = int(os.environ.get("CHRONIK_TEST_SEED") or random.randrange(2**32))
    print(f"seed: CHRONIK_TEST_SEED={value}")
    return value


class BackJumpingClock:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.now = datetime(2026, 11, 22, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=self.rng.randint(-600, 900))
        return self.now


def account(version: int = 1) -> Reducer:
    def apply(state, event):
        if event.type == "deposited":
            return {**state, "balance": state["balance"] + event.data["amount"], "n": state["n"] + 1}
        if event.type == "withdrawn":
            return {**state, "balance": state["balance"] - event.data["amount"], "n": state["n"] + 1,
                    "last_withdrawal": event.data["amount"]}
        return {**state, "tags": [*state["tags"], event.data["tag"]][-5:], "n": state["n"] + 1}

    return Reducer.from_function(apply, initial={"balance": 0, "n": 0, "tags": []}, name="account",
                                 version=version, snapshot_every=10, keep_snapshots=3)


def populate(ledger: chronik.Ledger, rng: random.Random) -> list[str]:
    streams = [f"account:{index}" for index in range(AGGREGATES)]
    for stream in streams:
        events = []
        for _ in range(rng.randint(12, 45)):
            kind = rng.choice(["deposited", "withdrawn", "tagged"])
            data = {"tag": f"t{rng.randint(0, 9)}"} if kind == "tagged" else {"amount": rng.randint(1, 500)}
            events.append(NewEvent(kind, data))
        ledger.append(stream, events)
    return streams


def corrupt_value(kind: str, key: str, value: bytes, other: bytes, rng: random.Random) -> bytes:
    tag_line, _, rest = value.partition(b"\n")
    header_raw, _, state_raw = rest.partition(b"\n")
    if kind == "state_byte":
        index = len(value) - 1 - rng.randrange(len(state_raw))
        return value[:index] + bytes([value[index] ^ 0x20]) + value[index + 1:]
    if kind == "header_byte":
        index = len(tag_line) + 1 + rng.randrange(len(header_raw))
        return value[:index] + bytes([value[index] ^ 0x01]) + value[index + 1:]
    if kind == "truncated":
        return value[:rng.randrange(len(value))]
    if kind == "garbage":
        return rng.randbytes(rng.randint(0, 200))
    header = msgspec.json.decode(header_raw, type=snap.Snapshot)
    if kind == "stale":
        return snap.encode_record(msgspec.structs.replace(header, reducer_version=0), state_raw)
    if kind == "rechained":
        return snap.encode_record(msgspec.structs.replace(header, event_hash="f" * 64), state_raw)
    assert kind == "moved"
    return other  # a valid record of another stream, under this key


def test_corrupt_and_stale_snapshots_are_detected_and_replay_stays_right(open_ledger, tmp_path: Path):
    rng = random.Random(seed())
    kind_name = open_ledger.kind.name
    ledger = open_ledger(clock=BackJumpingClock(rng))
    reducer = account()
    streams = populate(ledger, rng)
    truth = {stream: ledger.replay(stream, reducer, include_snapshots=False).state for stream in streams}
    for stream in streams:  # replays save snapshots by policy (every 10 events), 3 kept
        ledger.replay(stream, reducer, to_version=rng.randint(10, 12))
        ledger.replay(stream, reducer)
    stored = {stream: [s.key for s in snap.list_snapshots(ledger.store, reducer, stream)] for stream in streams}
    assert all(1 <= len(keys) <= 3 for keys in stored.values())

    victims = rng.sample(streams, CORRUPTED)
    plan: dict[str, list[tuple[str, bytes]]] = {}
    for index, stream in enumerate(victims):
        kind = CORRUPTIONS[index % len(CORRUPTIONS)]
        keys = stored[stream] if kind == "all_of_them" else stored[stream][:1]
        kinds = CORRUPTIONS[:-1] if kind == "all_of_them" else [kind]
        other_key = stored[victims[index - 1]][0]
        other = ledger.store.aux_get("snapshot", other_key)
        plan[stream] = [(key, corrupt_value(kinds[i % len(kinds)], key, ledger.store.aux_get("snapshot", key),
                                            other, rng)) for i, key in enumerate(keys)]
    changes = [(key, value) for stream in victims for key, value in plan[stream]]
    on_disk = kind_name in ("sqlite", "jsonl")
    by_file, by_api = (changes[::2], changes[1::2]) if on_disk else ([], changes)
    ledger.store.aux_write([AuxChange("snapshot", key, value) for key, value in by_api])
    if by_file:
        ledger.close()
        database = tmp_path / ("ledger.db" if kind_name == "sqlite" else "ledger.jsonl.aux.db")
        connection = sqlite3.connect(database)
        with connection:
            for key, value in by_file:
                assert connection.execute("UPDATE aux SET value = ? WHERE kind = 'snapshot' AND key = ?",
                                          (value, key)).rowcount == 1
        connection.close()
        ledger = open_ledger(clock=BackJumpingClock(rng))

    for stream in streams:
        result = ledger.replay(stream, reducer)
        assert result.state == truth[stream], stream
        if stream in plan:
            for key, _ in plan[stream]:
                assert any(key in warning for warning in result.warnings), (stream, key, result.warnings)
            assert result.from_snapshot is None or all(
                result.from_snapshot < int(key.rsplit("/", 1)[1]) for key, _ in plan[stream])
        else:
            assert result.warnings == [], (stream, result.warnings)
            assert result.from_snapshot == int(stored[stream][0].rsplit("/", 1)[1])
        # Time travel is right too, whatever snapshots lie around.
        back = rng.randint(0, result.version)
        assert ledger.replay(stream, reducer, to_version=back).state == \
            ledger.replay(stream, reducer, to_version=back, include_snapshots=False).state

    # A new reducer version finds only stale snapshots: warned, ignored, and the state is right.
    bumped = account(version=2)
    for stream in rng.sample(streams, 10):
        result = ledger.replay(stream, bumped)
        assert result.state == truth[stream]
        assert any("stale" in warning for warning in result.warnings)
        assert result.from_snapshot is None
        again = ledger.replay(stream, bumped)  # the policy saved a version-2 snapshot
        assert again.warnings == [] and again.from_snapshot == result.version and again.state == truth[stream]

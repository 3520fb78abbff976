"""The byte-level definitions of docs/formats.md: golden hashes, canonical JSON, time, ids."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from chronik import codec
from chronik.errors import LimitExceeded, ValidationError

FIRST_HASH = "6c44b5de5721b6aa22523783f60dd915369f1dc9407210ce635e5bc58b88a1f0"
SECOND_HASH = "b85dfe5e456a668f4398b997e0cd0fc53a71adc3e048dc92378c5aada914ef25"


def test_golden_hashes_of_docs_formats():
    first = codec.event_hash(1, "order:1", 1, "created", "0192e4a0-0000-7000-8000-000000000001",
                             "2026-11-22T01:15:09.123456Z", b'{"n":1}', b"{}", codec.GENESIS_HASH)
    assert first == FIRST_HASH
    data = codec.canonical_json({"note": "café", "currency": "EUR", "amount": 3.5}, "data", 64)
    assert data == '{"amount":3.5,"currency":"EUR","note":"café"}'.encode()
    second = codec.event_hash(2, "order:1", 2, "paid", "0192e4a0-0000-7000-8000-000000000002",
                              "2026-11-22T01:15:10.000000Z", data, b'{"actor":"ada"}', first)
    assert second == SECOND_HASH


def test_every_field_changes_the_hash():
    args = [1, "order:1", 1, "created", "x1", "2026-11-22T01:15:09.123456Z", b'{"n":1}', b"{}",
            codec.GENESIS_HASH]
    base = codec.event_hash(*args)
    changed = [2, "order:2", 2, "created2", "x2", "2026-11-22T01:15:09.123457Z", b'{"n":2}',
               b'{"a":1}', "1" * 64]
    for index, value in enumerate(changed):
        mutated = list(args)
        mutated[index] = value
        assert codec.event_hash(*mutated) != base, f"field {index} is not covered by the hash"


def test_canonical_json_sorts_keys_and_rejects_non_json():
    assert codec.canonical_json({"b": [1, {"d": 1, "c": 2}], "a": None}, "data", 64) == \
        b'{"a":null,"b":[1,{"c":2,"d":1}]}'
    for bad, field in [({"x": float("nan")}, "data.x"), ({"x": float("inf")}, "data.x"),
                       ({1: "a"}, "data.1"), ({"x": {1, 2}}, "data.x"), ({"x": object()}, "data.x")]:
        with pytest.raises(ValidationError) as caught:
            codec.canonical_json(bad, "data", 64)
        assert caught.value.field == field
    with pytest.raises(ValidationError):
        codec.canonical_json({"x": "\ud800"}, "data", 64)
    with pytest.raises(ValidationError):
        codec.canonical_json(["not", "an", "object"], "data", 64)


def test_depth_limit_counts_the_object_itself():
    nested: dict = {}
    inner = nested
    for _ in range(63):
        inner["a"] = {}
        inner = inner["a"]
    codec.canonical_json(nested, "data", 64)  # 64 levels: allowed
    inner["a"] = {}
    with pytest.raises(LimitExceeded) as caught:
        codec.canonical_json(nested, "data", 64)
    assert caught.value.limit_name == "max_depth"


def test_strict_json_text():
    assert codec.parse_json_text('{"a": 1}', "--data") == {"a": 1}
    for text in ['{"a": 1, "a": 2}', '{"a": NaN}', '{"a": Infinity}', "{'a': 1}", b'{"a": "\xff"}']:
        with pytest.raises(ValidationError) as caught:
            codec.parse_json_text(text, "--data")
        assert caught.value.field == "--data"
    with pytest.raises(LimitExceeded):
        codec.parse_json_text("[" * 100 + "]" * 100, "--data")


def test_time_format_is_fixed_width_utc():
    moment = datetime(2026, 11, 22, 1, 15, 9, tzinfo=UTC)
    assert codec.format_time(moment) == "2026-11-22T01:15:09.000000Z"
    east = datetime(2026, 11, 22, 3, 15, 9, 5, tzinfo=timezone(timedelta(hours=2)))
    assert codec.format_time(east) == "2026-11-22T01:15:09.000005Z"
    with pytest.raises(ValidationError):
        codec.format_time(datetime(2026, 11, 22))


def test_parse_time_forms():
    assert codec.canonical_time("2026-11-22T01:15:09Z") == "2026-11-22T01:15:09.000000Z"
    assert codec.canonical_time("2026-11-22T01:15:09.123456789Z") == "2026-11-22T01:15:09.123456Z"
    assert codec.canonical_time("2026-11-22T03:15:09+02:00") == "2026-11-22T01:15:09.000000Z"
    assert codec.canonical_time("2026-11-22") == "2026-11-22T00:00:00.000000Z"
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    assert codec.parse_time("2h", now=now) == datetime(2026, 11, 22, 10, tzinfo=UTC)
    assert codec.parse_time("7d", now=now) == datetime(2026, 11, 15, 12, tzinfo=UTC)
    for bad in ["2026-11-22T01:15:09", "yesterday", "2026-13-01T00:00:00Z", 12]:
        with pytest.raises(ValidationError):
            codec.parse_time(bad, "since")


def test_new_ids_are_uuid7_and_unique():
    import uuid

    ids = [codec.new_event_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122


def test_hash_record_bytes_equal_the_sorted_json_encoding():
    # event_hash formats the record by hand; it must be exactly msgspec's sorted encoding,
    # escapes included, for any strings (verify recomputes hashes of arbitrary stored values).
    import hashlib

    import msgspec

    for stream, type_, id_, time, prev in [
        ("order:1", "created", "x1", "2026-11-22T01:15:09.123456Z", "0" * 64),
        ('we"ird:\\', "tab\there", "ü\u2028", "not a time\n", "\x00ff"),
    ]:
        data, meta = b'{"a":[1,2.5,null]}', b'{"k":"v"}'
        record = msgspec.json.encode({"data": msgspec.Raw(data), "id": id_, "meta": msgspec.Raw(meta),
                                      "position": 7, "prev": prev, "stream": stream, "time": time,
                                      "type": type_, "version": 3}, order="sorted")
        expected = hashlib.sha256(codec.HASH_TAG + record + b"\x00" + prev.encode()).hexdigest()
        assert codec.event_hash(7, stream, 3, type_, id_, time, data, meta, prev) == expected


def test_event_ids_differ_across_forked_children():
    import os

    read_fd, write_fd = os.pipe()
    pids = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            os.write(write_fd, (codec.new_event_id()[14:] + "\n").encode())
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    os.close(write_fd)
    tails = os.read(read_fd, 4096).decode().split()
    os.close(read_fd)
    assert len(tails) == 3 and len(set(tails)) == 3, "forked children generated the same random bits"

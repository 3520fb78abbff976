"""Bad input, generated (DESIGN 3.9): every malformed argument to the Python API raises a chronik
ValidationError (or a subclass) whose `.field` names the argument at fault, and the store is
unchanged (event count, head, streams and, for JSONL, the file's bytes).

Hypothesis runs derandomized (a fixed seed per test, printed below), so a failure reproduces.
In all about 4,000 generated cases over three stores, plus the strict JSON text parser.
"""

from __future__ import annotations

import math
import re
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chronik
from chronik import Expect, Filter, NewEvent, ValidationError, codec
from chronik.rules import CATEGORY_PATTERN, STREAM_PATTERN, TYPE_PATTERN

pytestmark = pytest.mark.slow

SETTINGS = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.function_scoped_fixture])


def cases(n: int):
    return settings(SETTINGS, max_examples=n)


# ---------------------------------------------------------------- stores under test

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+=@-]*")


def _sqlite(directory: Path) -> str:
    return "sqlite:///" + str(directory / "ledger.db").lstrip("/")


def _jsonl(directory: Path) -> str:
    return "jsonl:///" + str(directory / "ledger.jsonl").lstrip("/")


STORES = {"memory": lambda _d: "memory:", "sqlite": _sqlite, "jsonl": _jsonl}


class Seeded:
    """A ledger with a few events, and a way to prove nothing was written."""

    def __init__(self, kind: str, directory: Path) -> None:
        self.kind = kind
        self.directory = directory
        self.ledger = chronik.open_ledger(STORES[kind](directory))
        self.ledger.append("order:1", [NewEvent("created", {"n": 1}, id="seed-1"),
                                       NewEvent("paid", {"amount": 2.5})])
        self.ledger.append("stock:apple", [NewEvent("reserved", {"n": 1}, meta={"by": "x"})])

    def state(self) -> tuple:
        raw = (self.directory / "ledger.jsonl").read_bytes() if self.kind == "jsonl" else None
        return self.ledger.stats()["events"], self.ledger.head(), self.ledger.streams(), raw

    @contextmanager
    def unchanged(self):
        before = self.state()
        yield
        assert self.state() == before, "bad input changed the store"


@pytest.fixture(scope="module", params=list(STORES))
def seeded(request, tmp_path_factory) -> Seeded:
    store = Seeded(request.param, tmp_path_factory.mktemp(f"bad-input-{request.param}"))
    yield store
    store.ledger.close()


def rejects(seeded: Seeded, call, field_ok) -> ValidationError:
    """Run `call`; it must raise ValidationError with an acceptable field and write nothing."""
    with seeded.unchanged():
        with pytest.raises(ValidationError) as caught:
            result = call()
            if hasattr(result, "__next__"):
                list(result)
        error = caught.value
    assert isinstance(error, chronik.ChronikError)
    assert isinstance(error.field, str) and error.field
    assert field_ok(error.field), f"field {error.field!r} does not name the bad argument ({error})"
    assert str(error).startswith(error.field)
    assert error.to_dict()["field"] == error.field
    return error


# ---------------------------------------------------------------- strategies

UNSAFE_CHARS = st.sampled_from(list(" \t\n\r\x00/\\\"'#?%&*!$^()[]{}<>,;|`é日\u2028🎉") + ["\ud800"])


def broken(valid: str) -> st.SearchStrategy[str]:
    """`valid` with one unsafe character inserted somewhere."""
    return st.tuples(st.integers(0, len(valid)), UNSAFE_CHARS).map(
        lambda pair: valid[:pair[0]] + pair[1] + valid[pair[0]:])


NOT_A_STRING = st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.booleans(),
                         st.binary(max_size=5), st.lists(st.text(max_size=3), max_size=2),
                         st.just(object()))

bad_streams = st.one_of(
    st.text(max_size=30).filter(lambda s: not STREAM_PATTERN.fullmatch(s)),
    broken("order:42"), broken("a:b"),
    st.sampled_from(["", ":", "order", "order:", ":42", "-order:1", "_x:1", "order :1", "ORDER:1 ",
                     "order:1\n", "ünicode:1", "a" * 190 + ":" + "b" * 10]),
    st.integers(201, 400).map(lambda n: "o:" + "x" * (n - 2)),
    NOT_A_STRING,
)

bad_types = st.one_of(
    st.text(max_size=30).filter(lambda s: not TYPE_PATTERN.fullmatch(s)),
    broken("order_created"),
    st.sampled_from(["", "1created", "_created", "-x", "created!", "a b", "typ\x00e", "é"]),
    st.integers(129, 300).map(lambda n: "t" * n),
    NOT_A_STRING,
)

bad_ids = st.one_of(
    st.text(min_size=1, max_size=30).filter(lambda s: not ID_PATTERN.fullmatch(s)),
    broken("0190b2c8-7e41-7000-8000-000000000000"),
    st.sampled_from(["", " ", "-leading", "_x", "a b", "a/b", "id\n"]),
    st.integers(129, 300).map(lambda n: "i" * n),
    st.one_of(st.integers(), st.floats(), st.binary(max_size=4), st.booleans(), st.just(object())),
)

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                         st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=8))


def deep(depth: int, kind: str):
    value: object = 1
    for _ in range(depth):
        value = {"k": value} if kind == "dict" else [value]
    return value


POISON = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, float("nan")]),
    st.sets(st.integers(), max_size=3),
    st.frozensets(st.integers(), max_size=2),
    st.binary(max_size=4),
    st.builds(lambda: object()),
    st.just(uuid.uuid4()),
    st.just(datetime(2026, 1, 1, tzinfo=UTC)),
    st.just(date(2026, 1, 1)),
    st.just(1 + 2j),
    st.just(b"bytes"),
    st.just(bytearray(b"x")),
    st.text(alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=3),
    st.tuples(st.text(max_size=3), st.characters(categories=["Cs"])).map(lambda t: t[0] + t[1] + t[0]),
    st.integers(65, 120).flatmap(lambda d: st.sampled_from([deep(d, "dict"), deep(d, "list")])),
)

BAD_KEYS = st.one_of(st.integers(), st.none(), st.booleans(), st.floats(allow_nan=False),
                     st.tuples(st.integers()), st.characters(categories=["Cs"]), st.binary(min_size=1, max_size=3))


@st.composite
def poisoned_object(draw):
    """A JSON object with one non-JSON thing buried at a random place."""
    kind = draw(st.sampled_from(["value", "key", "top"]))
    if kind == "top":
        return draw(st.one_of(st.lists(JSON_SCALARS, max_size=3), JSON_SCALARS, POISON,
                              st.builds(tuple), st.just("{}")))
    poison = draw(POISON)
    if kind == "key":
        key = draw(BAD_KEYS)
        inner: dict = {key: 1}
    else:
        inner = {"bad": poison}
    path_depth = draw(st.integers(0, 4))
    value: object = inner
    for _ in range(path_depth):
        if draw(st.booleans()):
            value = {"n" + draw(st.text(max_size=5)): value, "ok": draw(JSON_SCALARS)}
        else:
            value = [draw(JSON_SCALARS), value]
    if not isinstance(value, dict):
        value = {"wrapped": value}
    return value


bad_expectations = st.one_of(
    st.integers(max_value=-1), st.booleans(), st.floats(), st.none(),
    st.sampled_from(["any", "no-stream", "exists", "1", "ANY", Expect, 1.0, [1], {"v": 1}]),
)


# ---------------------------------------------------------------- append


@cases(150)
@given(stream=bad_streams)
def test_bad_stream_name(seeded, stream):
    rejects(seeded, lambda: seeded.ledger.append(stream, [NewEvent("created", {})]),
            lambda f: f == "stream")


@cases(120)
@given(stream=bad_streams.filter(lambda s: isinstance(s, str)))
def test_bad_stream_name_in_append_many_among_good_ones(seeded, stream):
    rejects(seeded, lambda: seeded.ledger.append_many({
        "order:9": ([NewEvent("created", {})], Expect.ANY),
        stream: ([NewEvent("created", {})], Expect.ANY),
    }), lambda f: f == "stream")


@cases(150)
@given(type_=bad_types, index=st.integers(0, 3))
def test_bad_event_type(seeded, type_, index):
    events = [NewEvent("ok", {}) for _ in range(4)]
    events[index] = NewEvent(type_, {})
    rejects(seeded, lambda: seeded.ledger.append("order:2", events),
            lambda f: f == f"order:2.events[{index}].type")


@cases(150)
@given(id_=bad_ids)
def test_bad_event_id(seeded, id_):
    rejects(seeded, lambda: seeded.ledger.append("order:2", [NewEvent("ok", {}, id="fine-1"),
                                                             NewEvent("ok", {}, id=id_)]),
            lambda f: f == "order:2.events[1].id")


@cases(250)
@given(data=poisoned_object(), where=st.sampled_from(["data", "meta"]))
def test_bad_data_and_meta(seeded, data, where):
    event = NewEvent("ok", data) if where == "data" else NewEvent("ok", {}, meta=data)
    rejects(seeded, lambda: seeded.ledger.append_many({
        "order:3": ([NewEvent("ok", {"fine": True})], Expect.ANY),
        "stock:3": ([NewEvent("ok", {}), event], Expect.ANY),
    }), lambda f: f.startswith(f"stock:3.events[1].{where}"))


@cases(120)
@given(expect=bad_expectations, stream=st.sampled_from(["order:1", "order:new"]))
def test_bad_expectation(seeded, expect, stream):
    rejects(seeded, lambda: seeded.ledger.append(stream, [NewEvent("ok", {})], expect=expect),
            lambda f: f == f"{stream}.expect")


@cases(100)
@given(batches=st.one_of(
    st.just({}), st.none(), st.lists(st.integers(), max_size=2), st.text(max_size=5),
    st.dictionaries(st.just("order:4"), st.one_of(
        st.none(), st.just([]), st.just(([], Expect.ANY)), st.just(("created", Expect.ANY)),
        st.just((b"x", Expect.ANY)), st.just(([NewEvent("ok", {})],)),
        st.just(([NewEvent("ok", {})], Expect.ANY, 1)), st.just([[NewEvent("ok", {})], Expect.ANY]),
        st.just(([{"type": "ok"}], Expect.ANY)), st.just((["ok"], Expect.ANY)),
        st.just(([NewEvent("ok", {}), None], Expect.ANY)),
    ), min_size=1),
))
def test_bad_batches(seeded, batches):
    rejects(seeded, lambda: seeded.ledger.append_many(batches),
            lambda f: f == "batches" or f.startswith("order:4"))


# ---------------------------------------------------------------- reads


BAD_COUNTS = st.one_of(st.integers(max_value=-1), st.booleans(), st.floats(), st.none(), st.text(max_size=3),
                       st.just(2**63), st.integers(min_value=2**63), st.just([1]))


@cases(200)
@given(arg=st.sampled_from(["start", "end", "limit"]), value=BAD_COUNTS, stream=st.sampled_from(["order:1", "x:y"]))
def test_bad_read_stream_arguments(seeded, arg, value, stream):
    if value is None and arg != "start":
        value = -1  # None means "no bound" for end and limit
    rejects(seeded, lambda: seeded.ledger.read_stream(stream, **{arg: value}), lambda f: f == arg)


@cases(50)
@given(value=st.just(0) | st.integers(max_value=0))
def test_read_stream_start_below_one(seeded, value):
    rejects(seeded, lambda: seeded.ledger.read_stream("order:1", start=value), lambda f: f == "start")


@cases(150)
@given(arg=st.sampled_from(["after", "limit", "query_limit", "follow_after"]), value=BAD_COUNTS)
def test_bad_read_all_and_query_arguments(seeded, arg, value):
    ledger = seeded.ledger
    if value is None and arg in ("limit", "after", "follow_after"):
        value = -5
    if arg == "query_limit":
        rejects(seeded, lambda: ledger.query(limit=value), lambda f: f == "limit")
    elif arg == "follow_after":
        rejects(seeded, lambda: next(ledger.follow(after=value, stop=lambda: True), None),
                lambda f: f == "after")
    else:
        rejects(seeded, lambda: ledger.read_all(**{arg: value}), lambda f: f == arg)


@cases(60)
@given(limit=st.one_of(st.just(0), st.integers(1001, 10**6)))
def test_query_page_size(seeded, limit):
    error = rejects(seeded, lambda: seeded.ledger.query(limit=limit), lambda f: f == "limit")
    if limit > 1000:
        assert isinstance(error, chronik.LimitExceeded)


@cases(200)
@given(cursor=st.one_of(st.text(max_size=80), st.binary(max_size=20).map(lambda b: b.hex()),
                        st.integers(), st.none().map(lambda _: b"x"),
                        st.tuples(st.integers(-5, 2**70), st.text("0123456789abcdef", min_size=12, max_size=12))
                        .map(lambda t: codec.encode_json(f"1.{t[0]}.{t[1]}").decode().strip('"')),
                        st.tuples(st.sampled_from(["0", "2", "1"]), st.integers(-(2**70), 2**70)).map(
                            lambda t: __import__("base64").urlsafe_b64encode(f"{t[0]}.{t[1]}.deadbeef0000".encode())
                            .decode().rstrip("="))))
def test_bad_cursor(seeded, cursor):
    rejects(seeded, lambda: seeded.ledger.query(limit=5, cursor=cursor), lambda f: f == "cursor")


BAD_TIMES = st.one_of(
    st.text(max_size=30).filter(lambda s: not _parses_as_time(s)),
    st.sampled_from(["2026-11-22T01:15:09", "2026-11-22 01:15", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                     "2026-11-22T25:00:00Z", "2026-11-22T01:15:09+25:00", "yesterday", "-2h", "2x",
                     "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "99999999999d",
                     "99999999999999999999999w", "1e9w", "0000-01-01T00:00:00Z"]),
    st.integers(), st.floats(), st.just(datetime(2026, 1, 1)), st.just(timedelta(hours=1)),
    st.just(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))),
    st.just(datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-2)))),
)


def _parses_as_time(text: str) -> bool:
    try:
        codec.canonical_time(text, "t")
    except ValidationError:
        return False
    except Exception:  # noqa: BLE001 - any other error is a bug the test should surface
        return False
    return True


@st.composite
def bad_filters(draw):
    field = draw(st.sampled_from(["streams", "categories", "types", "since", "until", "text"]))
    if field == "streams":
        value = draw(st.one_of(st.lists(bad_streams, min_size=1, max_size=3),
                               st.lists(st.just("order:1"), min_size=101, max_size=120),
                               st.integers(), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2)))
    elif field == "categories":
        value = draw(st.one_of(st.lists(st.one_of(
            st.text(max_size=10).filter(lambda s: not CATEGORY_PATTERN.fullmatch(s)), broken("order"), NOT_A_STRING),
            min_size=1, max_size=3), st.integers(), st.lists(st.just("order"), min_size=101, max_size=110)))
    elif field == "types":
        value = draw(st.one_of(st.lists(bad_types, min_size=1, max_size=3), st.floats()))
    elif field in ("since", "until"):
        value = draw(BAD_TIMES)
    else:
        value = draw(st.one_of(st.integers(201, 500).map(lambda n: "x" * n), st.integers(), st.lists(st.text()),
                               st.binary(min_size=1, max_size=3)))
    return field, Filter(**{field: value})


@cases(300)
@given(case=bad_filters(), call=st.sampled_from(["read_all", "query", "follow"]))
def test_bad_filters(seeded, case, call):
    field, filter = case
    ledger = seeded.ledger
    run = {"read_all": lambda: ledger.read_all(filter=filter),
           "query": lambda: ledger.query(filter),
           "follow": lambda: next(ledger.follow(filter=filter, stop=lambda: True), None)}[call]
    rejects(seeded, run, lambda f: f == f"filter.{field}")


@cases(60)
@given(filter=st.one_of(st.none().map(lambda _: {"types": ["x"]}), st.text(max_size=3), st.integers(),
                        st.just(["created"])))
def test_filter_of_the_wrong_type(seeded, filter):
    rejects(seeded, lambda: seeded.ledger.query(filter), lambda f: f == "filter")


@cases(80)
@given(category=st.one_of(st.text(max_size=10).filter(lambda s: not CATEGORY_PATTERN.fullmatch(s)),
                          broken("order"), NOT_A_STRING.filter(lambda v: v is not None)))
def test_bad_streams_category(seeded, category):
    rejects(seeded, lambda: seeded.ledger.streams(category), lambda f: f == "category")


# ---------------------------------------------------------------- strict JSON text


VALID_JSON_OBJECTS = st.recursive(
    JSON_SCALARS, lambda children: st.one_of(st.lists(children, max_size=3),
                                             st.dictionaries(st.text(max_size=4), children, max_size=3)),
    max_leaves=8)


def _dup_key_text(pair) -> str:
    key, value = pair
    k = codec.encode_json(key).decode()
    v = codec.encode_json(value).decode()
    return "{" + f"{k}:{v}, {k}:{v}" + "}"


@st.composite
def bad_json_text(draw):
    kind = draw(st.sampled_from(["dup", "dup_nested", "utf8", "constant", "syntax", "deep", "overflow",
                                 "digits", "bom"]))
    if kind == "dup":
        return draw(st.tuples(st.text(max_size=5), JSON_SCALARS).map(_dup_key_text))
    if kind == "dup_nested":
        inner = draw(st.tuples(st.text(max_size=5), JSON_SCALARS).map(_dup_key_text))
        return draw(st.sampled_from(['{"a": [1, %s]}', '[%s]', '{"x": {"y": %s}}'])) % inner
    if kind == "utf8":
        good = codec.encode_json({"s": draw(st.text(max_size=5))})
        bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80",
                                    b"\x80", b"\xe2\x82"]))
        at = draw(st.integers(1, len(good) - 2))
        return good[:at] + bad + good[at:]
    if kind == "constant":
        return draw(st.sampled_from(["NaN", "Infinity", "-Infinity", '{"a": NaN}', "[1, Infinity]",
                                     '{"a": {"b": -Infinity}}']))
    if kind == "syntax":
        return draw(st.one_of(
            st.sampled_from(["", " ", "{", "}", "{'a': 1}", '{"a": 1,}', "[1,]", '{"a" 1}', "tru", "nul",
                             "01", '"unterminated', '{"a": 1} x', "/* c */ {}", "{a: 1}", "\x00"]),
            VALID_JSON_OBJECTS.map(lambda v: codec.encode_json(v).decode()[:-1]).filter(
                lambda s: not _is_json(s))))
    if kind == "deep":
        depth = draw(st.integers(65, 3000))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"k":', "}")]))
        return opener * depth + "1" + closer * depth
    if kind == "overflow":
        return draw(st.sampled_from(["1e400", "-1e400", "[1e999]", '{"a": -2e308}', "1E+309"]))
    if kind == "digits":
        digits = draw(st.integers(4301, 6000))
        return draw(st.sampled_from(["%s", "[%s]", '{"n": -%s}'])) % ("7" * digits)
    return "\ufeff{}"


def _is_json(text: str) -> bool:
    import json

    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@cases(600)
@given(text=bad_json_text(), as_bytes=st.booleans())
def test_parse_json_text_rejects(text, as_bytes):
    if as_bytes and isinstance(text, str):
        text = text.encode("utf-8", "surrogatepass")
    with pytest.raises(ValidationError) as caught:
        codec.parse_json_text(text, "data")
    assert caught.value.field.startswith("data"), caught.value.field


@cases(200)
@given(value=VALID_JSON_OBJECTS)
def test_parse_json_text_accepts_what_chronik_writes(value):
    assert codec.parse_json_text(codec.encode_json(value), "data") == value


# ---------------------------------------------------------------- regressions found by the cases above


@pytest.mark.parametrize("text", ["1e400", "-1E999", b"2e308"])
def test_parse_json_text_rejects_a_number_that_overflows_to_infinity(text):
    with pytest.raises(ValidationError) as caught:
        codec.parse_json_text(text, "data")
    assert caught.value.field == "data"


def test_parse_json_text_rejects_too_many_digits_with_a_validation_error():
    with pytest.raises(ValidationError) as caught:
        codec.parse_json_text('{"n": ' + "9" * 5000 + "}", "--data")
    assert caught.value.field == "--data"


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "99999999999d",
                                   "99999999999999999999w",
                                   datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))])
def test_filter_time_out_of_range_is_a_validation_error(seeded, value):
    rejects(seeded, lambda: seeded.ledger.read_all(filter=Filter(since=value)),
            lambda f: f == "filter.since")


def test_times_before_year_1000_keep_their_fixed_width(seeded):
    assert codec.canonical_time("0500-01-01T00:00:00Z") == "0500-01-01T00:00:00.000000Z"
    everything = seeded.ledger.stats()["events"]
    assert len(list(seeded.ledger.read_all(filter=Filter(since="0500-01-01T00:00:00Z")))) == everything
    assert list(seeded.ledger.read_all(filter=Filter(until="0999-12-31T00:00:00Z"))) == []


@pytest.mark.parametrize("call", ["start", "end", "after", "limit", "read_stream_limit"])
def test_counts_beyond_64_bits_are_validation_errors(seeded, call):
    ledger = seeded.ledger
    huge = 2**64
    run = {"start": lambda: ledger.read_stream("order:1", start=huge),
           "end": lambda: ledger.read_stream("order:1", end=huge),
           "after": lambda: ledger.read_all(after=huge),
           "limit": lambda: ledger.read_all(limit=huge),
           "read_stream_limit": lambda: ledger.read_stream("order:1", limit=huge)}[call]
    rejects(seeded, run, lambda f: f == call.replace("read_stream_", ""))


def test_largest_64_bit_counts_are_accepted(seeded):
    top = 2**63 - 1
    ledger = seeded.ledger
    assert list(ledger.read_stream("order:1", start=top)) == []
    assert len(list(ledger.read_stream("order:1", end=top, limit=top))) == 2
    assert list(ledger.read_all(after=top)) == []
    assert len(list(ledger.read_all(limit=top))) == seeded.ledger.stats()["events"]


def test_cursor_with_a_position_beyond_64_bits_is_rejected(seeded):
    from chronik.ledger import _encode_cursor
    from chronik.stores.base import NO_FILTER

    forged = _encode_cursor(2**70, NO_FILTER)
    rejects(seeded, lambda: seeded.ledger.query(limit=5, cursor=forged), lambda f: f == "cursor")


@pytest.mark.parametrize("stream", [[], ["order:1"], {"a": 1}, {1}])
def test_unhashable_stream_name_is_a_validation_error(seeded, stream):
    rejects(seeded, lambda: seeded.ledger.append(stream, [NewEvent("created", {})]), lambda f: f == "stream")


# ---------------------------------------------------------------- the CLI (chronik.cli.main)
#
# Bad input on the command line exits 2 (usage; DESIGN 9) with one JSON error on stderr that
# names the option or argument, and writes nothing.

from click.testing import CliRunner  # noqa: E402

from chronik.cli.main import cli as chronik_cli  # noqa: E402

CLI_STORES = ["sqlite", "jsonl"]


class CliLedger:
    def __init__(self, kind: str, directory: Path) -> None:
        self.kind = kind
        self.path = directory / ("ledger.db" if kind == "sqlite" else "ledger.jsonl")
        self.url = STORES[kind](directory)
        with chronik.open_ledger(self.url) as ledger:
            ledger.append("order:1", [NewEvent("created", {"n": 1})])
        self.runner = CliRunner()

    def state(self) -> tuple:
        with chronik.open_ledger(self.url) as ledger:
            return ledger.head(), ledger.streams(), self.path.read_bytes() if self.kind == "jsonl" else None

    def rejects(self, args: list[str], names: tuple[str, ...], stdin: bytes | None = None) -> None:
        before = self.state()
        # --json right after the command, before any "--" that ends the options.
        command, *rest = args
        result = self.runner.invoke(chronik_cli, ["--ledger", self.url, command, "--json", *rest], input=stdin)
        assert result.exception is None or isinstance(result.exception, SystemExit), \
            f"{args!r} raised {result.exception!r}"
        assert result.exit_code == 2, f"{args!r} exited {result.exit_code}: {result.stderr}"
        assert self.state() == before, f"{args!r} changed the ledger"
        error = result.stderr.strip().splitlines()[-1]
        import json

        report = json.loads(error)
        assert report["exit_code"] == 2
        named = report.get("field", "") + " " + report.get("message", "")
        assert any(name in named for name in names), f"{args!r}: {report} names none of {names}"


@pytest.fixture(scope="module", params=CLI_STORES)
def cli_ledger(request, tmp_path_factory) -> CliLedger:
    return CliLedger(request.param, tmp_path_factory.mktemp(f"bad-cli-{request.param}"))


CLI_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20)


def _cli_bad_json():
    return bad_json_text().filter(lambda t: isinstance(t, str) and "\x00" not in t)


@cases(120)
@given(case=st.one_of(
    st.tuples(st.just("stream"), CLI_TEXT.filter(lambda s: not STREAM_PATTERN.fullmatch(s))),
    st.tuples(st.just("type"), CLI_TEXT.filter(lambda s: not TYPE_PATTERN.fullmatch(s))),
    st.tuples(st.just("--data"), st.one_of(_cli_bad_json(), st.sampled_from(["[]", "1", '"x"', "null"]))),
    st.tuples(st.just("--meta"), _cli_bad_json()),
    st.tuples(st.just("--id"), CLI_TEXT.filter(lambda s: not ID_PATTERN.fullmatch(s))),
    # Non-ASCII digits (², ٣) are left to test_cli_expect_with_non_ascii_digits below.
    st.tuples(st.just("--expect"), CLI_TEXT.filter(
        lambda s: s.strip().lower() not in ("any", "no-stream", "exists")
        and not any(c.isdigit() and not c.isascii() for c in s) and not s.strip().isdigit())),
))
def test_cli_append_bad_input(cli_ledger, case):
    what, bad = case
    stream, type_, options = "order:1", "created", []
    if what == "stream":
        stream = bad
    elif what == "type":
        type_ = bad
    else:
        options = [f"{what}={bad}"]
    names = {"stream": ("STREAM",), "type": ("TYPE",)}.get(what, (what,))
    cli_ledger.rejects(["append", "--", stream, type_, *options] if not options else
                       ["append", *options, "--", stream, type_], names)


@cases(40)
@given(bad=st.one_of(_cli_bad_json(), st.just("[1, 2]")))
def test_cli_append_bad_data_from_stdin(cli_ledger, bad):
    cli_ledger.rejects(["append", "--data", "-", "order:1", "created"], ("--data",), stdin=bad.encode())


@cases(120)
@given(case=st.one_of(
    st.tuples(st.just("--from"), st.sampled_from(["0", "-1", "x", "1.5", "", "2e3"])),
    st.tuples(st.just("--to"), st.sampled_from(["-1", "x", "1.0", "9" * 30])),
    st.tuples(st.just("--limit"), st.sampled_from(["-1", "ten", "1e3", "9" * 30])),
    st.tuples(st.just("STREAM"), CLI_TEXT.filter(lambda s: not STREAM_PATTERN.fullmatch(s) and s.strip())),
))
def test_cli_read_bad_input(cli_ledger, case):
    what, bad = case
    if what == "STREAM":
        cli_ledger.rejects(["read", "--", bad], ("STREAM", "stream"))
    else:
        cli_ledger.rejects(["read", f"{what}={bad}", "order:1"], (what, what.lstrip("-")))


@cases(120)
@given(case=st.one_of(
    st.tuples(st.just("--type"), CLI_TEXT.filter(lambda s: not TYPE_PATTERN.fullmatch(s))),
    st.tuples(st.just("--category"), CLI_TEXT.filter(lambda s: not CATEGORY_PATTERN.fullmatch(s))),
    st.tuples(st.just("--stream"), CLI_TEXT.filter(lambda s: not STREAM_PATTERN.fullmatch(s))),
    st.tuples(st.just("--since"), CLI_TEXT.filter(lambda s: not _parses_as_time(s))),
    st.tuples(st.just("--until"), st.sampled_from(["9999-12-31T23:59:59-01:00", "2026-02-30T00:00:00Z",
                                                   "tomorrow", "2026-11-22T01:15:09"])),
    st.tuples(st.just("--grep"), st.integers(201, 400).map(lambda n: "g" * n)),
    st.tuples(st.just("--after"), st.sampled_from(["-1", "x", "1.5", "9" * 30])),
    st.tuples(st.just("--limit"), st.sampled_from(["-1", "x"])),
))
def test_cli_log_bad_input(cli_ledger, case):
    what, bad = case
    cli_ledger.rejects(["log", f"{what}={bad}"], (what, what.lstrip("-")))


@cases(40)
@given(bad=CLI_TEXT.filter(lambda s: not CATEGORY_PATTERN.fullmatch(s)))
def test_cli_streams_bad_category(cli_ledger, bad):
    cli_ledger.rejects(["streams", f"--category={bad}"], ("--category", "category"))


@pytest.mark.parametrize("bad", ["²", "٣", "１"])
def test_cli_expect_with_non_ascii_digits(cli_ledger, bad):
    cli_ledger.rejects(["append", f"--expect={bad}", "order:1", "created"], ("--expect",))

"""Fuzzed Sindri lines: good ones parse, bad ones are reported with their line number, nothing crashes."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from chronik.domains.extensions import timekeys
from chronik.domains.extensions.compat import lines as sindri_lines
from chronik.domains.extensions.compat import queries
from chronik.domains.extensions.events import EVENT_TYPES, InstallFailed

GOOD = {"event_id": "0b7c6b1e-6f4e-4a59-9c55-0d4f1f3f8a10", "timestamp": "2026-11-20T10:00:00.123456789Z",
        "extension_name": "python", "cli_version": "3.1.4", "state_before": "installing",
        "state_after": "failed", "event": {"type": "install_failed", "extension_name": "python",
                                           "version": "3.13.0", "error_message": "boom", "retry_count": 0,
                                           "duration_secs": 3}}

fractions = st.sampled_from(["", ".1", ".123", ".123456", ".123456789", ".1234567891"])
zones = st.sampled_from(["Z", "z", "+00:00", "+05:30", "-08:00", "+24:00", "", "+0530"])
timestamps = st.one_of(
    st.builds(lambda d, f, z: f"2026-{d}T10:00:00{f}{z}", st.sampled_from(["01-31", "02-29", "02-28", "13-01"]),
              fractions, zones),
    st.text(max_size=40))
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)


@st.composite
def lines(draw):
    line = json.loads(json.dumps(GOOD))
    choice = draw(st.integers(0, 6))
    if choice == 0:
        line["timestamp"] = draw(timestamps)
    elif choice == 1:
        del line[draw(st.sampled_from(sorted(line)))]
    elif choice == 2:
        del line["event"][draw(st.sampled_from(sorted(line["event"])))]
    elif choice == 3:
        line["event"]["type"] = draw(st.one_of(st.sampled_from(EVENT_TYPES), text))
    elif choice == 4:
        line["event"]["error_message"] = draw(text)
    elif choice == 5:
        line["state_after"] = draw(st.one_of(st.sampled_from(["installed", "removed", "Installed"]), text))
    else:
        return draw(st.one_of(text, st.binary(max_size=80))) if draw(st.booleans()) else json.dumps(line)[:draw(
            st.integers(0, 200))]
    return json.dumps(line, ensure_ascii=draw(st.booleans()))


@settings(max_examples=300, deadline=None)
@given(st.lists(lines(), max_size=12))
def test_fuzzed_lines_never_crash(fuzzed):
    raw = [line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass") for line in fuzzed]
    data = b"\n".join(r.replace(b"\n", b" ") for r in raw) + b"\n"
    contents = sindri_lines.parse_lines(data)
    numbers = [e.line for e in contents.entries] + [b.line for b in contents.bad]
    assert len(numbers) == len(set(numbers))
    nonblank = [n for n, r in enumerate(data.split(b"\n")[:-1], 1) if r.strip()]
    assert sorted(numbers) == nonblank
    for entry in contents.entries:
        assert timekeys.time_key(entry.envelope.timestamp) == entry.key and len(entry.key) == 29
        sindri_lines.encode_line(entry.envelope)
    queries.latest_status(contents.entries)
    queries.stats(contents)
    scanned = queries.scan_latest(data)  # status's fast path gives the full parse's answer
    assert {n: e.line for n, e in scanned.entries.items()} == \
        {n: e.line for n, e in queries.latest_entries(contents.entries).items()}


def test_timestamp_forms():
    key = timekeys.time_key
    assert key("2026-11-20T10:00:00Z") == "2026-11-20T10:00:00.000000000"
    assert key("2026-11-20T10:00:00.250Z") == "2026-11-20T10:00:00.250000000"
    assert key("2026-11-20T10:00:00.123456Z") == "2026-11-20T10:00:00.123456000"
    assert key("2026-11-20T10:00:00.123456789Z") == "2026-11-20T10:00:00.123456789"
    assert key("2026-11-20T12:00:00.5+02:00") == "2026-11-20T10:00:00.500000000"
    assert key("2026-11-20T02:00:00-08:00") == "2026-11-20T10:00:00.000000000"
    for bad in ("2026-02-30T10:00:00Z", "2026-11-20T24:00:00Z", "2026-11-20T10:00:00", "yesterday", ""):
        assert key(bad) is None
    for text in ("2026-11-20T10:00:00Z", "2026-11-20T10:00:00.250Z", "2026-11-20T10:00:00.123456Z",
                 "2026-11-20T10:00:00.123456789Z"):
        assert timekeys.key_to_text(key(text)) == text
    assert timekeys.key_to_text(key("2026-11-20T10:00:00.500000000Z")) == "2026-11-20T10:00:00.500Z"


def test_bad_lines_reported_with_line_numbers_and_skipped():
    good = json.dumps(GOOD, ensure_ascii=False)
    data = "\n".join([good, "{not json", "", json.dumps({**GOOD, "timestamp": "soon"}),
                      good.replace("install_failed", "install_exploded")]).encode() + b"\n"
    contents = sindri_lines.parse_lines(data)
    assert [e.line for e in contents.entries] == [1]
    assert [b.line for b in contents.bad] == [2, 4, 5]
    assert "timestamp" in contents.bad[1].error


@given(text)
def test_writes_escape_like_serde_json(message):
    event = InstallFailed("python", "3.13.0", message, 0, 1)
    line = sindri_lines.encode_line(sindri_lines.new_envelope(event, "installing", "failed"))
    serde_like = json.dumps(message, ensure_ascii=False)  # serde_json and Python agree on escapes
    assert f'"error_message":{serde_like},'.encode() in line
    assert sindri_lines.parse_lines(line).entries[0].envelope.event.error_message == message

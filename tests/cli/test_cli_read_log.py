"""`chronik read` and `chronik log`: ranges, direction, filters, and both output formats."""

from __future__ import annotations

from cli_testing import json_lines

EVENT_FIELDS = ["position", "stream", "version", "type", "id", "time", "data", "meta", "prev", "hash", "sig"]


def test_read_prints_a_header_and_one_line_per_event(run, order_ledger):
    result = run("read", "order:1")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["POS", "VER", "TIME"]
    assert len(lines) == 4 and '{"sku":"B"}' in lines[3]


def test_read_json_is_one_event_per_line_in_record_field_order(run, order_ledger):
    events = json_lines(run("read", "order:1", "--json").stdout)
    assert [e["version"] for e in events] == [1, 2, 3]
    assert [e["position"] for e in events] == [1, 3, 4]
    assert list(events[0]) == EVENT_FIELDS


def test_read_ranges_backwards_and_limit(run, order_ledger):
    def versions(*args):
        return [e["version"] for e in json_lines(run("read", "order:1", "--json", *args).stdout)]

    assert versions("--from", "2") == [2, 3]
    assert versions("--to", "2") == [1, 2]
    assert versions("--backwards") == [3, 2, 1]
    assert versions("--backwards", "--limit", "2") == [3, 2]
    assert versions("--from", "2", "--to", "2") == [2]


def test_read_of_an_unknown_stream_prints_nothing_and_exits_0(run, order_ledger):
    result = run("read", "order:404", "--json")
    assert result.exit_code == 0 and result.stdout == ""


def test_read_bad_range_is_a_usage_error(run, order_ledger):
    result = run("read", "order:1", "--from", "0")
    assert result.exit_code == 2 and "--from" in result.stderr


def test_log_prints_every_event_in_position_order(run, order_ledger):
    events = json_lines(run("log", "--json").stdout)
    assert [e["position"] for e in events] == [1, 2, 3, 4, 5]
    people = run("log").stdout.splitlines()
    assert people[0].split()[:3] == ["POS", "TIME", "(UTC)"] and len(people) == 6


def positions(run, *args):
    result = run("log", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return [e["position"] for e in json_lines(result.stdout)]


def test_log_filters(run, order_ledger):
    assert positions(run, "--type", "created") == [1, 5]
    assert positions(run, "--type", "created", "--type", "install_failed") == [1, 2, 5]
    assert positions(run, "--category", "extension") == [2]
    assert positions(run, "--stream", "order:2") == [5]
    assert positions(run, "--category", "order", "--type", "item_added") == [3, 4]
    assert positions(run, "--grep", "checksum") == [2]
    assert positions(run, "--after", "3") == [4, 5]
    assert positions(run, "--after", "1", "--limit", "2") == [2, 3]
    assert positions(run, "--since", "2000-01-01", "--until", "2999-01-01T00:00:00Z") == [1, 2, 3, 4, 5]
    assert positions(run, "--since", "2999-01-01") == []
    assert positions(run, "--since", "1h") == [1, 2, 3, 4, 5]


def test_log_bad_filters_name_the_option(run, order_ledger):
    for args, option in [(["--type", "bad type"], "--type"), (["--category", "a:b"], "--category"),
                         (["--stream", "nocolon"], "--stream"), (["--since", "yesterday"], "--since"),
                         (["--until", "2026-01-01T10:00:00"], "--until"), (["--grep", "x" * 500], "--grep")]:
        result = run("log", *args)
        assert result.exit_code == 2, (args, result.stderr)
        assert result.stderr.startswith(f"Error: {option}"), (args, result.stderr)

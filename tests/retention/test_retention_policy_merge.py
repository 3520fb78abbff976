"""`set_policy` merges into a category's policy (issue 10, item 10): an argument not given keeps
its value, None clears a limit, and a policy left without any limit is refused."""

from __future__ import annotations

import pytest

import chronik
from chronik.errors import ValidationError
from chronik.lifecycle import retention
from chronik.lifecycle.retention import Policy


def test_set_policy_merges_and_none_clears(tmp_path):
    with chronik.open_ledger(str(tmp_path / "ledger.db")) as ledger:
        assert retention.set_policy(ledger, "order", max_age_s=3600) == Policy("order", 3600, None, True)
        assert retention.set_policy(ledger, "order", max_count=2) == Policy("order", 3600, 2, True)
        assert retention.set_policy(ledger, "order", keep_latest=False) == Policy("order", 3600, 2, False)
        assert retention.set_policy(ledger, "order", max_age_s=None) == Policy("order", None, 2, False)
        with pytest.raises(ValidationError, match="would have no limit"):
            retention.set_policy(ledger, "order", max_count=None)
        assert retention.policies(ledger) == [Policy("order", None, 2, False)]  # the refusal wrote nothing
        with pytest.raises(ValidationError, match="would have no limit"):
            retention.set_policy(ledger, "log")


def test_durations_read_back_as_written():
    for text in ("90d", "12h", "30m", "45s", "2w"):
        assert retention.format_duration(retention.parse_duration(text)) == text
    assert retention.format_duration(5400) == "90m"

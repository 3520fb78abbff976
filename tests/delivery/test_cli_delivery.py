"""`chronik tail`, `chronik parked ...` and `chronik projections ...`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import chronik
from chronik import NewEvent
from chronik.cli.main import cli
from chronik.derive import CircuitBreaker, RetryPolicy

HERE = Path(__file__).parent


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(HERE)  # --handler/--projection MODULE:NAME import from the cwd
    url = "sqlite:///" + str(tmp_path / "ledger.db").lstrip("/")
    with chronik.open_ledger(url) as ledger:
        for n in range(5):
            ledger.append(f"order:{n}", [NewEvent("placed", {"n": n})])
        ledger.append("user:1", [NewEvent("joined")])
    return url


def run(db: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--ledger", db, *args])
    assert result.exit_code == code, result.output
    return result.output


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_tail_prints_up_to_the_head_and_a_named_tail_resumes(db: str) -> None:
    assert [e["position"] for e in lines(run(db, "tail", "--json", "--category", "order"))] == [1, 2, 3, 4, 5]
    assert [e["position"] for e in lines(run(db, "tail", "--json", "--after", "4"))] == [5, 6]
    assert len(lines(run(db, "tail", "--json", "--name", "ops", "--limit", "2"))) == 2
    with chronik.open_ledger(db) as ledger:
        ledger.append("order:9", [NewEvent("placed", {"n": 9})])
    assert [e["position"] for e in lines(run(db, "tail", "--json", "--name", "ops"))] == [3, 4, 5, 6, 7]
    assert lines(run(db, "tail", "--json", "--name", "ops")) == []
    run(db, "tail", "--name", "bad name", code=2)


def test_parked_list_replay_discard(db: str) -> None:
    with chronik.open_ledger(db) as ledger:
        sub = ledger.subscribe(lambda event: 1 / 0, name="mailer", retry=RetryPolicy(attempts=1), breaker=CircuitBreaker(100),
                               sleep=lambda s: None)
        sub.run_until(6, timeout_s=10)
        sub.stop()
    parked = lines(run(db, "parked", "list", "--json"))
    assert [p["position"] for p in parked] == [1, 2, 3, 4, 5, 6]
    assert "ZeroDivisionError" in parked[0]["error"]
    assert "mailer" in run(db, "parked", "list")
    out = run(db, "parked", "replay", "mailer", "--handler", "cli_handlers:ok", "--position", "1", "--json")
    assert lines(out) == [{"position": 1, "ok": True, "error": None}]
    run(db, "parked", "replay", "mailer", "--handler", "cli_handlers:fails", "--position", "2", code=1)
    run(db, "parked", "replay", "mailer", "--handler", "nowhere:x", code=2)
    run(db, "parked", "discard", "mailer", code=2)
    assert lines(run(db, "parked", "discard", "mailer", "--position", "3", "--json"))[0]["discarded"] == 1
    run(db, "parked", "discard", "mailer", "--all")
    assert lines(run(db, "parked", "list", "mailer", "--json")) == []


def test_projections_rebuild_list_status(db: str) -> None:
    run(db, "projections", "status", "counts", code=1)
    out = lines(run(db, "projections", "rebuild", "counts", "--projection", "counting_projection:Counts", "--json"))
    assert (out[0]["position"], out[0]["generation"]) == (6, 1)
    status = lines(run(db, "projections", "status", "counts", "--json"))[0]
    assert (status["position"], status["lag"]) == (6, 0)
    assert [p["name"] for p in lines(run(db, "projections", "list", "--json"))] == ["counts"]
    assert "counts" in run(db, "projections", "list")
    out = run(db, "projections", "rebuild", "counts", "--projection", "counting_projection:missing", code=2)
    assert "--projection" in out
    run(db, "projections", "rebuild", "other", "--projection", "counting_projection:Counts", code=2)

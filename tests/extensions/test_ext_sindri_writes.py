"""What `chronik ext` writes (issue 10, items 15 and 10).

In Sindri mode every line carries exactly the state pair Sindri's own call site writes for its
type (install_started is always null -> installing, as all 39 in the real ledger are), whatever
the previous state; a chronik ledger keeps the real previous state. A command that does not
exist is reported as "not found: NAME", never as "exit code None".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

CHRONIK = [sys.executable, "-m", "chronik.cli"]
DATA = Path(__file__).parents[1] / "data" / "sindri"


def chronik(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHRONIK_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}
    return subprocess.run([*CHRONIK, *args], capture_output=True, text=True, env=env, timeout=60)


def sindri_pairs() -> dict[str, tuple[str | None, str]]:
    """The pair Sindri writes for each type, from the real ledger (the most common one)."""
    seen: dict[str, Counter[tuple[str | None, str]]] = {}
    for line in (DATA / "ledger-full.jsonl").read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        seen.setdefault(entry["event"]["type"], Counter())[(entry["state_before"], entry["state_after"])] += 1
    return {kind: counts.most_common(1)[0][0] for kind, counts in seen.items()}


def run_every_call_site(tmp_path: Path, *mode: str) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text('[extensions.jq]\nvalidate = ["true"]\nlatest_version = "2.0"\n'
                       '[extensions.rg]\nvalidate = ["false"]\n')
    steps = [("install", "jq", "--version", "1.0", "--", "true"),
             ("install", "jq", "--version", "1.1", "--", "true"),  # a reinstall
             ("install", "rg", "--", "false"),
             ("install", "rg", "--", "true"),  # after a failure
             ("upgrade", "rg", "--version", "14", "--", "false"),
             ("upgrade", "rg", "--version", "14", "--", "true"),
             ("verify", "jq", "rg", "--catalog", str(catalog)),
             ("outdated", "--catalog", str(catalog)),
             ("remove", "rg", "--", "false"),
             ("remove", "rg", "--", "true")]
    for step in steps:
        done = chronik(tmp_path, "ext", step[0], *mode, *step[1:])
        assert done.returncode in (0, 1), done.stderr


def test_sindri_mode_writes_sindris_call_site_pairs(tmp_path):
    path = tmp_path / "status_ledger.jsonl"
    run_every_call_site(tmp_path, "--sindri", str(path))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    expected = sindri_pairs()
    assert {line["event"]["type"] for line in lines} == set(expected)  # every call site ran
    for line in lines:
        assert (line["state_before"], line["state_after"]) == expected[line["event"]["type"]], line
    installs = [line for line in lines if line["event"]["type"] == "install_started"]
    assert len(installs) == 4 and all(line["state_before"] is None for line in installs)


def test_chronik_ledger_keeps_the_real_previous_state(tmp_path):
    run_every_call_site(tmp_path)
    events = json.loads(chronik(tmp_path, "ext", "status", "jq", "--json").stdout)["events"]
    reinstall = [e for e in events if e["type"] == "install_started"][1]
    assert (reinstall["state_before"], reinstall["state_after"]) == ("installed", "installing")


def test_a_missing_command_is_reported_as_not_found(tmp_path):
    for mode in ([], ["--sindri", str(tmp_path / "status_ledger.jsonl")]):
        done = chronik(tmp_path, "ext", "install", "ghost", *mode, "--", "no-such-binary-xyz", "--version")
        assert done.returncode == 1
        assert "not found: no-such-binary-xyz" in done.stdout and "None" not in done.stdout
        status = json.loads(chronik(tmp_path, "ext", "status", "ghost", "--json", *mode).stdout)["status"]
        assert status["state"] == "failed" and status["error"] == "not found: no-such-binary-xyz"


def test_json_export_is_sindris_pretty_array_written_as_it_streams(tmp_path):
    from chronik.domains.extensions.compat.file import SindriFile
    from chronik.domains.extensions.compat.queries import export_text

    source = DATA / "ledger-full.jsonl"
    exported = chronik(tmp_path, "ext", "export", "--format", "json", "--sindri", str(source))
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == export_text(SindriFile(source).read().entries) + "\n"
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert chronik(tmp_path, "ext", "export", "--format", "json", "--sindri", str(empty)).stdout == "[]\n"

"""Whole-process wall time of `chronik ext status` (Python start-up included).

    python benchmarks/bench_ext_status.py [--events 100000] [--extensions 50] [--runs 7]

Builds a Sindri-format ledger of --events lines over --extensions extensions (install, then
validations, outdated checks, upgrades and failures, timestamps out of file order in places),
imports it into a SQLite ledger, then times `chronik ext status` as a new process: on SQLite
(target <= 150 ms) and with --sindri on the file itself (target <= 500 ms). Also times
`python -c pass` and `import chronik.cli.main` so start-up cost is visible, and the fast-start
figures of the performance issue: `chronik head` and `chronik ext status` on a small ledger
(3 extensions, 30 events; target <= 60 ms each). The spec's baseline:
17 s for 27 extensions (135+ sequential subprocess checks).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from chronik.domains.extensions.compat import lines as sindri
from chronik.domains.extensions.events import (
    InstallCompleted,
    InstallStarted,
    OutdatedDetected,
    UpgradeCompleted,
    UpgradeFailed,
    UpgradeStarted,
    ValidationFailed,
    ValidationSucceeded,
)
from chronik.domains.extensions.timekeys import now_text


def build_sindri_file(path: Path, events: int, extensions: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    names = [f"tool-{i:02d}" for i in range(extensions)]
    base_ns = 1_780_000_000 * 10**9
    lines = []
    for i, name in enumerate(names):
        at = base_ns + i * 10**9
        lines.append((name, InstallStarted(name, "latest", "github:pacphi/sindri", "Distributor"), None, "installing", at))
        lines.append((name, InstallCompleted(name, "1.0.0", 60, []), "installing", "installed", at + 60 * 10**9))
    step = 0
    while len(lines) < events:
        name = names[step % extensions]
        step += 1
        at = base_ns + 10**12 + step * 997_000_003 + rng.randrange(-10**11, 10**11)  # not in file order
        roll = rng.random()
        if roll < 0.7:
            event, before, after = ValidationSucceeded(name, "1.0.0", "manual"), "installed", "installed"
        elif roll < 0.85:
            event, before, after = OutdatedDetected(name, "1.0.0", "1.1.0"), "installed", "outdated"
        elif roll < 0.93:
            event, before, after = ValidationFailed(name, "1.0.0", "manual", "Verification checks failed"), \
                "installed", "failed"
        elif roll < 0.97:
            event, before, after = UpgradeStarted(name, "1.0.0", "1.1.0"), "installed", "installing"
        elif roll < 0.99:
            event, before, after = UpgradeCompleted(name, "1.0.0", "1.1.0", 42), "installing", "installed"
        else:
            event, before, after = UpgradeFailed(name, "1.0.0", "1.1.0", "network timeout", 9), "installing", "failed"
        lines.append((name, event, before, after, at))
    with open(path, "wb") as out:
        for _name, event, before, after, at in lines[:events]:
            envelope = sindri.new_envelope(event, before, after, str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                                           now_text(at))
            out.write(sindri.encode_line(envelope))


def import_into_sqlite(sindri_path: Path, db_path: Path) -> float:
    import chronik
    from chronik.domains.extensions import service

    started = time.perf_counter()
    with chronik.open_ledger(f"sqlite:///{db_path}?durability=relaxed") as ledger:
        service.import_sindri(ledger, sindri_path)
    return time.perf_counter() - started


def wall_times(argv: list[str], runs: int, env: dict[str, str]) -> list[float]:
    times = []
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)  # warm-up: bytecode, page cache
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--extensions", type=int, default=50)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    chronik_bin = str(Path(sys.executable).with_name("chronik"))
    with tempfile.TemporaryDirectory() as tmp:
        sindri_path, db_path = Path(tmp) / "status_ledger.jsonl", Path(tmp) / "ledger.db"
        build_sindri_file(sindri_path, args.events, args.extensions)
        imported_s = import_into_sqlite(sindri_path, db_path)
        small_sindri, small_db = Path(tmp) / "small.jsonl", Path(tmp) / "small.db"
        build_sindri_file(small_sindri, 30, 3)
        import_into_sqlite(small_sindri, small_db)
        small = ["--ledger", f"sqlite:///{small_db}"]
        # As installed: bytecode cached (a first, unmeasured run of each command writes it).
        env = {**os.environ, "CHRONIK_URL": f"sqlite:///{db_path}", "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pyc")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        rows = {
            "python -c pass": wall_times([sys.executable, "-c", "pass"], args.runs, env),
            "python -c 'import chronik.cli.main'": wall_times([sys.executable, "-c", "import chronik.cli.main"],
                                                              args.runs, env),
            "chronik head (small ledger)": wall_times([chronik_bin, *small, "head"], args.runs, env),
            "chronik ext status (small ledger)": wall_times([chronik_bin, *small, "ext", "status"], args.runs,
                                                            env),
            "chronik ext status (SQLite)": wall_times([chronik_bin, "ext", "status"], args.runs, env),
            "chronik ext status --sindri FILE": wall_times([chronik_bin, "ext", "status", "--sindri",
                                                            str(sindri_path)], args.runs, env),
        }
        print(f"{args.events} events, {args.extensions} extensions; Sindri file "
              f"{sindri_path.stat().st_size / 1e6:.1f} MB; import into SQLite {imported_s:.1f} s; "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
        print(f"{'command':<40} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
        for label, times in rows.items():
            print(f"{label:<40} {statistics.median(times):>10.0f} {min(times):>8.0f} {max(times):>8.0f}")
        print("spec baseline: 17,000 ms for 27 extensions (sequential subprocess verification)")


if __name__ == "__main__":
    main()

"""The truncation/corruption matrix (issue 10, "How it is judged"): for each store file — the
JSON Lines ledger, a SQLite ledger file, and a SQLite -wal holding commits not yet checkpointed —
a signed ledger written by real appends (several streams, multi-event and multi-stream commits)
is cut at CUTS offsets (edge cases: 0 bytes, inside the header, mid-line, exactly at a line, a
commit, a page or a WAL frame end; the rest random) and has CUTS random pages or regions
overwritten with random bytes. Each damaged copy is checked by the real CLI,
`chronik --ledger COPY verify --json`, in a subprocess:

- its stdout is one JSON report, its stderr has no traceback, its exit code is 0 or 3;
- it changed nothing: every file's bytes are the same afterwards and none went missing (SQLite's
  WAL reader may add an empty -wal and a -shm, as tests/stores/test_sqlite_read_only.py allows);
- exit 0 only when the copy lost or changed no committed event: what the store reads from the
  copy (`_readable`) is compared with the pristine events. Losing whole commits at the end is a
  rollback no chain can see (docs/integrity.md): for those cells, and only for the kinds listed in
  ROLLBACK_NEEDS_ANCHOR, verify is run again with the pristine ledger's anchor and must exit 3.

The workload is fixed; the damage is drawn from a seed printed at the start (set
CHRONIK_MATRIX_SEED to replay a run). Which cells need the anchor and why: docs/testing.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chronik.integrity.keys import create_keyring, load_keyring_file
from chronik.ledger import open_ledger
from chronik.model import Expect, NewEvent

pytestmark = pytest.mark.slow

CUTS = 20  # cuts per store file, and as many overwrites
COMMITS = 36
STREAMS = ("order:1", "order:2", "invoice:7", "audit:x")
SQLITE_PAGE = 4096
WAL_HEADER, WAL_FRAME_HEADER = 32, 24
# The installed console script, beside the interpreter running the tests.
CHRONIK = [str(Path(sys.executable).with_name("chronik"))]


@dataclass
class Pristine:
    kind: str  # jsonl | sqlite | wal
    folder: Path  # the undamaged files, as the writer left them
    target: str  # the file this kind damages
    ledger: str  # the file --ledger names
    events: list  # every event, as the store reads them
    commit_ends: list[int]  # events (a count) at the end of each commit
    boundaries: list[int]  # offsets in `target` worth cutting at exactly
    anchor: Path


@dataclass
class Cell:
    damage: str  # what was done, for the report
    folder: Path
    region: tuple[int, int] | None = None  # the bytes cut (to the end) or overwritten
    cut: bool = False
    result: subprocess.CompletedProcess | None = None
    notes: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def seed() -> int:
    """One seed for the whole matrix, printed (and named in every failure) to replay it."""
    value = int(os.environ.get("CHRONIK_MATRIX_SEED") or random.randrange(2**32))
    print(f"CHRONIK_MATRIX_SEED={value}")
    return value


# ---------------------------------------------------------------- the pristine ledgers


def _events(k: int, count: int, rng: random.Random) -> list[NewEvent]:
    return [NewEvent(type=rng.choice(["placed", "paid", "noted"]), id=str(uuid.UUID(int=rng.getrandbits(128))),
                     data={"k": k, "note": "x" * rng.randrange(5, 300)}) for _ in range(count)]


def _workload(url: str, keyring, commits: range, rng: random.Random) -> list[int]:
    """Commits of 1-3 events on one stream, or one event on each of two streams; the head
    position after each commit."""
    ledger = open_ledger(url, keyring=keyring)
    heads = []
    try:
        for k in commits:
            if k % 5 == 4:
                first, second = rng.sample(STREAMS, 2)
                ledger.append_many({first: (_events(k, 1, rng), Expect.ANY), second: (_events(k, 1, rng), Expect.ANY)})
            else:
                ledger.append(rng.choice(STREAMS), _events(k, rng.choice([1, 1, 2, 3]), rng))
            heads.append(ledger.head().position)
    finally:
        ledger.close()
    return heads


def _url(kind: str, folder: Path) -> str:
    return f"{'jsonl' if kind == 'jsonl' else 'sqlite'}:///{str(folder).lstrip('/')}/" + \
        ("ledger.jsonl" if kind == "jsonl" else "ledger.db")


def _build(kind: str, root: Path, keyring, keys_file: Path) -> Pristine:
    rng = random.Random(f"{kind}-workload")  # the same ledger shape in every run
    work, folder = root / f"{kind}-writer", root / f"{kind}-pristine"
    work.mkdir()
    half = COMMITS // 2
    commit_ends = _workload(_url(kind, work), keyring, range(half), rng)
    if kind == "wal":
        # The second half stays in the -wal (the first was checkpointed when its writer closed):
        # the files are copied while another connection keeps the ledger open, as a writer
        # killed at that moment would leave them.
        writer = open_ledger(_url(kind, work), keyring=keyring)
        try:
            writer.head()
            commit_ends += _workload(_url(kind, work), keyring, range(half, COMMITS), rng)
            folder.mkdir()
            for name in ("ledger.db", "ledger.db-wal"):
                shutil.copyfile(work / name, folder / name)
        finally:
            writer.close()
        assert (folder / "ledger.db-wal").stat().st_size > 0
    else:
        commit_ends += _workload(_url(kind, work), keyring, range(half, COMMITS), rng)
        shutil.copytree(work, folder)
    ledger_name = "ledger.jsonl" if kind == "jsonl" else "ledger.db"
    # Read and anchored from a copy: even a read-only SQLite reader leaves a -shm behind, and
    # the pristine files must stay as the writer left them.
    scratch = root / f"{kind}-scratch"
    shutil.copytree(folder, scratch)
    events = _readable(kind, scratch)
    anchor = root / f"{kind}.anchor"
    _chronik(scratch / ledger_name, keys_file, "anchor", "--out", str(anchor), check=True)
    target = {"jsonl": "ledger.jsonl", "sqlite": "ledger.db", "wal": "ledger.db-wal"}[kind]
    assert sorted(p.name for p in folder.iterdir()) == (["ledger.jsonl", "ledger.jsonl.lock"] if kind == "jsonl" else
                                                        ["ledger.db"] if kind == "sqlite" else ["ledger.db", "ledger.db-wal"])
    pristine = Pristine(kind, folder, target, ledger_name, events, commit_ends, [], anchor)
    pristine.boundaries = _boundaries(kind, (folder / target).read_bytes())
    return pristine


def _readable(kind: str, folder: Path) -> list:
    """The events the store reads from the ledger in `folder`, opened read-only."""
    ledger = open_ledger(_url(kind, folder), read_only=True)
    try:
        return list(ledger.read_all())
    finally:
        ledger.close()


def _boundaries(kind: str, data: bytes) -> list[int]:
    """Offsets where a cut lands exactly on a structure: line ends (JSON Lines), page ends
    (SQLite), frame ends and the header end (WAL)."""
    if kind == "jsonl":
        return [i + 1 for i, byte in enumerate(data) if byte == 0x0A]
    if kind == "sqlite":
        return list(range(SQLITE_PAGE, len(data), SQLITE_PAGE))
    frame = WAL_FRAME_HEADER + SQLITE_PAGE
    return [WAL_HEADER, *range(WAL_HEADER + frame, len(data), frame)]


def _wal_commit_frame_ends(data: bytes) -> list[int]:
    """File offsets just past each WAL frame whose header marks a commit (a non-zero size)."""
    frame = WAL_FRAME_HEADER + SQLITE_PAGE
    ends = []
    for start in range(WAL_HEADER, len(data) - frame + 1, frame):
        if struct.unpack(">I", data[start + 4:start + 8])[0]:
            ends.append(start + frame)
    return ends


# ---------------------------------------------------------------- damage


def _cuts(pristine: Pristine, rng: random.Random) -> list[tuple[str, int]]:
    data = (pristine.folder / pristine.target).read_bytes()
    size = len(data)
    edges: list[tuple[str, int]] = [("0 bytes", 0), ("inside the header", rng.randrange(1, 32)),
                                    ("last byte", size - 1)]
    lines = pristine.boundaries
    if pristine.kind == "jsonl":
        commit_lines = {lines[end - 1] for end in pristine.commit_ends}
        inner = [b for b in lines if b not in commit_lines]
        edges += [("at a commit end", rng.choice(sorted(commit_lines - {size}))),
                  ("at the second to last commit end", sorted(commit_lines)[-2]),
                  ("at a line end inside a commit", rng.choice(inner) if inner else lines[0]),
                  ("mid-line", rng.randrange(lines[3] + 1, lines[4] - 1))]
    else:
        pick = rng.choice(lines)
        edges += [("at a page/frame end", pick), ("one byte past a page/frame end", pick + 1)]
        if pristine.kind == "wal":
            commits = _wal_commit_frame_ends(data)
            edges += [("at a commit frame end", rng.choice(commits[:-1])),
                      ("inside a frame header", rng.choice(lines[:-1]) + rng.randrange(1, WAL_FRAME_HEADER))]
    cuts = edges + [("random", rng.randrange(size)) for _ in range(CUTS - len(edges))]
    return [(f"cut {what} ({offset} of {size} bytes)", offset) for what, offset in cuts[:CUTS]]


def _overwrites(pristine: Pristine, rng: random.Random) -> list[tuple[str, int, bytes]]:
    size = (pristine.folder / pristine.target).stat().st_size
    regions = []
    pages = rng.sample(range(size // SQLITE_PAGE), min(CUTS, size // SQLITE_PAGE))
    for k in range(CUTS):
        if pristine.kind == "sqlite":  # a whole page, each page at most once while there are enough
            start, length = pages[k % len(pages)] * SQLITE_PAGE, SQLITE_PAGE
        else:
            length = rng.randrange(1, 512 if pristine.kind == "jsonl" else SQLITE_PAGE)
            start = rng.randrange(size - 1)
            length = min(length, size - start)
        regions.append((f"overwrite {length} random bytes at {start} of {size}", start,
                        rng.randbytes(length)))
    return regions


def _damaged_copy(pristine: Pristine, root: Path, name: str) -> Path:
    folder = root / name
    shutil.copytree(pristine.folder, folder)
    return folder


# ---------------------------------------------------------------- running and judging


def _chronik(ledger: Path, keys_file: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ, CHRONIK_KEYS_FILE=str(keys_file), COLUMNS="100")
    env.pop("CHRONIK_KEYS", None)
    env.pop("CHRONIK_URL", None)
    result = subprocess.run([*CHRONIK, "--ledger", str(ledger), *args], capture_output=True, text=True,
                            env=env, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def _fingerprint(folder: Path) -> dict[str, tuple[int, str]]:
    return {entry.name: (entry.stat().st_size, hashlib.sha256(entry.read_bytes()).hexdigest())
            for entry in sorted(folder.iterdir()) if entry.is_file()}


def _changes(before: dict, after: dict) -> list[str]:
    """What verify changed: any file's bytes, a file gone, or a new file other than SQLite's
    empty -wal and its -shm (reader bookkeeping, no ledger bytes)."""
    changes = []
    for name, (size, digest) in before.items():
        if name not in after:
            changes.append(f"{name} was removed")
        elif not name.endswith("-shm") and after[name] != (size, digest):
            changes.append(f"{name} changed ({size} -> {after[name][0]} bytes)")
    for name in after.keys() - before.keys():
        if not (name.endswith("-shm") or (name.endswith("-wal") and after[name][0] == 0)):
            changes.append(f"{name} was created")
    return changes


def _report(result: subprocess.CompletedProcess) -> dict | None:
    lines = result.stdout.strip().splitlines()
    if len(lines) != 1:
        return None
    try:
        return json.loads(lines[0])
    except ValueError:
        return None


def _is_rollback(read: list, pristine: Pristine) -> bool:
    """The copy reads as the pristine ledger as it was after an earlier commit."""
    return (len(read) == 0 or len(read) in pristine.commit_ends) and read == pristine.events[:len(read)]


def _left_no_trace(cell: Cell, pristine: Pristine) -> bool:
    """Damage after which the file looks exactly like the ledger at an earlier commit, so only
    an anchor can tell (docs/testing.md, "Cells that need the anchor"):

    - a JSON Lines file cut at the end of a commit (or to 0 bytes);
    - a -wal cut anywhere: SQLite drops a commit whose frames are incomplete, as it must after a
      crash, and what is left is a WAL as it was at an earlier commit;
    - a -wal whose last commit frame had its header overwritten (salts or commit mark): nothing
      after the damage says that a commit was there."""
    if cell.region is None:
        return False
    start, end = cell.region
    if pristine.kind == "jsonl":
        commit_ends = {0, *(pristine.boundaries[n - 1] for n in pristine.commit_ends)}
        return cell.cut and start in commit_ends
    if pristine.kind != "wal":
        return False
    if cell.cut:
        return True
    last_commit = _wal_commit_frame_ends((pristine.folder / pristine.target).read_bytes())[-1] \
        - WAL_FRAME_HEADER - SQLITE_PAGE
    return start < last_commit + 16 and end > last_commit + 4


def _judge(cell: Cell, pristine: Pristine, before: dict, keys_file: Path) -> list[str]:
    result = cell.result
    assert result is not None
    problems = []
    if "Traceback" in result.stderr:
        problems.append(f"traceback: {result.stderr.strip().splitlines()[-1]}")
    report = _report(result)
    if report is None:
        problems.append(f"stdout is not one JSON report: {result.stdout[:200]!r}")
    if result.returncode not in (0, 3):
        problems.append(f"exit {result.returncode}: {result.stderr.strip()[:300]}")
    problems += _changes(before, _fingerprint(cell.folder))
    if report is not None and report.get("ok") != (result.returncode == 0):
        problems.append(f"exit {result.returncode} with ok={report.get('ok')}")
    try:
        read = _readable(pristine.kind, _damaged_copy_for_reading(cell))
        unreadable = None
    except Exception as exc:  # the oracle: anything the store cannot read is a loss
        read, unreadable = [], f"{type(exc).__name__}: {exc}"
    intact = unreadable is None and read == pristine.events
    if result.returncode == 0 and not intact:
        lost = unreadable or f"reads {len(read)} of {len(pristine.events)} events"
        if not (_is_rollback(read, pristine) and _left_no_trace(cell, pristine)):
            problems.append(f"verify said OK, but the copy lost or changed committed events ({lost})")
        else:
            anchored = _chronik(cell.folder / pristine.ledger, keys_file, "verify", "--json",
                                "--anchor", str(pristine.anchor))
            cell.notes.append(f"rollback to {len(read)} events: needed the anchor (exit {anchored.returncode})")
            if anchored.returncode != 3:
                problems.append(f"even with the anchor verify exited {anchored.returncode} after losing "
                                f"events {len(read) + 1}..{len(pristine.events)}")
    return problems


def _damaged_copy_for_reading(cell: Cell) -> Path:
    """A second copy of the damaged files (taken before verify ran) for the oracle, so that
    reading it can never influence what verify saw."""
    return cell.folder.parent / (cell.folder.name + "-oracle")


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    create_keyring(path)
    return path


@pytest.mark.parametrize("kind", ["jsonl", "sqlite", "wal"])
def test_verify_never_passes_a_damaged_ledger_never_changes_it_and_never_crashes(kind, tmp_path, keys_file,
                                                                                   seed):
    rng = random.Random(f"{seed}-{kind}")
    pristine = _build(kind, tmp_path, load_keyring_file(keys_file), keys_file)
    assert len(pristine.events) > COMMITS and len(pristine.commit_ends) == COMMITS

    size = (pristine.folder / pristine.target).stat().st_size
    cells: list[Cell] = [Cell("none (the pristine copy)", _damaged_copy(pristine, tmp_path, "cell-pristine"))]
    for i, (what, offset) in enumerate(_cuts(pristine, rng)):
        cell = Cell(what, _damaged_copy(pristine, tmp_path, f"cell-cut-{i}"), (offset, size), cut=True)
        os.truncate(cell.folder / pristine.target, offset)
        cells.append(cell)
    for i, (what, start, garbage) in enumerate(_overwrites(pristine, rng)):
        cell = Cell(what, _damaged_copy(pristine, tmp_path, f"cell-overwrite-{i}"), (start, start + len(garbage)))
        with open(cell.folder / pristine.target, "r+b") as file:
            file.seek(start)
            file.write(garbage)
        cells.append(cell)
    befores = []
    for cell in cells:
        shutil.copytree(cell.folder, _damaged_copy_for_reading(cell))
        befores.append(_fingerprint(cell.folder))

    def run(cell: Cell) -> None:
        cell.result = _chronik(cell.folder / pristine.ledger, keys_file, "verify", "--json")

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(run, cells))
    failures = []
    for cell, before in zip(cells, befores, strict=True):
        problems = _judge(cell, pristine, before, keys_file)
        assert cell.result is not None
        print(f"{kind:6} {cell.damage:55} exit {cell.result.returncode} {' '.join(cell.notes)}")
        failures += [f"{kind}: {cell.damage}: {problem}" for problem in problems]
    assert cells[0].result is not None and cells[0].result.returncode == 0, cells[0].result.stdout
    assert not failures, f"seed {seed}:\n" + "\n".join(failures)

"""10 threads x 100 appends while compaction runs again and again: all 1,000 kept (Sindri lost 41-69)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from chronik.domains.extensions.compat import file as sindri_file
from chronik.domains.extensions.compat import lines
from chronik.domains.extensions.events import ValidationSucceeded

# A copy of ../shared/testdata/sindri (real Sindri data and its oracles), kept with the tests so
# they never depend on where the shared folder is.
DATA = Path(__file__).parents[1] / "data" / "sindri"
THREADS, APPENDS = 10, 100


def test_no_append_lost_during_compaction(tmp_path):
    path = tmp_path / "status_ledger.jsonl"
    if (DATA / "ledger-full.jsonl").exists():
        shutil.copyfile(DATA / "ledger-full.jsonl", path)  # old events: compaction really rewrites
    ledger = sindri_file.SindriFile(path)
    done = threading.Event()
    compactions = []

    def appender(thread: int) -> None:
        for i in range(APPENDS):
            event = ValidationSucceeded(f"ext-{thread}", f"1.{i}", "manual")
            ledger.append([lines.new_envelope(event, "installed", "installed", event_id=f"t{thread}-{i}")])

    def compactor() -> None:
        while not done.is_set():
            compactions.append(ledger.compact(90)["removed"])

    workers = [threading.Thread(target=appender, args=(n,)) for n in range(THREADS)]
    background = threading.Thread(target=compactor)
    background.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done.set()
    background.join()
    contents = ledger.read()
    assert contents.bad == []
    ids = [e.envelope.event_id for e in contents.entries if e.envelope.event_id.startswith("t")]
    assert len(ids) == THREADS * APPENDS == len(set(ids))
    assert len(compactions) >= 2
    for thread in range(THREADS):  # each thread's lines in its own order
        mine = [int(i.split("-")[1]) for i in ids if i.startswith(f"t{thread}-")]
        assert mine == list(range(APPENDS))

"""Run the Counts projection live on a ledger until killed: `python projection_child.py URL`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from counting_projection import Counts  # noqa: E402

import chronik  # noqa: E402

with chronik.open_ledger(sys.argv[1]) as ledger:
    runner = chronik.ProjectionRunner(ledger, Counts())
    print("ready", flush=True)
    runner.run()

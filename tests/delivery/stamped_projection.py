"""A projection that shows which runner applied each event (imported by the lease tests and by
the `chronik projections run` processes they start): `by:POSITION:PID` = 1, plus a count per
position. Two runners that both applied (and committed) an event leave two `by:` keys for it,
which no lost update can hide."""

from __future__ import annotations

import os
import time

from chronik import Projection

# Seconds per event: keeps a runner busy long enough for others to overlap it.
APPLY_DELAY_S = float(os.environ.get("STAMPED_APPLY_DELAY_S", "0"))


class Stamped(Projection):
    name = "stamped"
    version = 1
    batch_events = 20

    def apply(self, model, event):
        if APPLY_DELAY_S:
            time.sleep(APPLY_DELAY_S)
        model.put(f"by:{event.position:08d}:{os.getpid()}", 1)
        key = f"applied:{event.position:08d}"
        model.put(key, model.get(key, 0) + 1)


def appliers(model: dict) -> dict[int, list[int]]:
    """position -> the pids whose application of it was committed."""
    found: dict[int, list[int]] = {}
    for key in model:
        if key.startswith("by:"):
            _, position, pid = key.split(":")
            found.setdefault(int(position), []).append(int(pid))
    return found

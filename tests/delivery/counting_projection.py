"""A projection that proves exactly-once application: it counts applications per position and
keeps per-stream sums (imported by the tests, the child process and the CLI tests)."""

from __future__ import annotations

import os
import time

from chronik import Projection

# Seconds per event: slows the child so SIGKILL lands mid-batch.
APPLY_DELAY_S = float(os.environ.get("COUNTING_APPLY_DELAY_S", "0"))
# Events per batch: the kill test makes batches small, so that commits (where a read model
# written apart from its checkpoint would show) take a large share of the child's time.
BATCH_EVENTS = int(os.environ.get("COUNTING_BATCH_EVENTS", "40"))


class Counts(Projection):
    name = "counts"
    version = 1
    batch_events = BATCH_EVENTS

    def apply(self, model, event):
        if APPLY_DELAY_S:
            time.sleep(APPLY_DELAY_S)
        key = f"applied:{event.position:08d}"
        model.put(key, model.get(key, 0) + 1)
        total = f"sum:{event.stream}"
        model.put(total, model.get(total, 0) + event.data.get("n", 0))


def expected_model(events) -> dict:
    model: dict = {}
    for event in events:
        model[f"applied:{event.position:08d}"] = 1
        total = f"sum:{event.stream}"
        model[total] = model.get(total, 0) + event.data.get("n", 0)
    return model

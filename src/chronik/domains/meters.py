"""What a domain pack measures, for whichever interface exports it (`chronik serve`'s /metrics).

A pack records here without depending on a metrics library: counters (with one optional
label), durations (count and sum, exported as Prometheus summaries) and gauges computed at
scrape time from the ledger. `chronik.http` reads `snapshot()` and the gauges on each scrape.
Names follow Prometheus conventions (`chronik_<pack>_<what>_<unit>`); help text is given once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# gauge(ledger) -> {label value: number}, computed when metrics are read.
GaugeReader = Callable[[Any], Mapping[str, float]]


@dataclass
class Meter:
    name: str
    help: str
    kind: str  # "counter" | "duration" | "gauge"
    label: str | None = None
    values: dict[str, float] = field(default_factory=dict)  # counter: label value -> total
    count: int = 0  # duration
    total_s: float = 0.0
    reader: GaugeReader | None = None  # gauge


_meters: dict[str, Meter] = {}
_lock = threading.Lock()


def _meter(name: str, help: str, kind: str, label: str | None = None) -> Meter:
    with _lock:
        found = _meters.get(name)
        if found is None:
            found = _meters[name] = Meter(name, help, kind, label)
        assert found.kind == kind, f"{name} is a {found.kind}"
        return found


def count(name: str, help: str, label: str | None = None, value: str = "", amount: float = 1) -> None:
    meter = _meter(name, help, "counter", label)
    with _lock:
        meter.values[value] = meter.values.get(value, 0) + amount


def observe(name: str, help: str, seconds: float) -> None:
    meter = _meter(name, help, "duration")
    with _lock:
        meter.count += 1
        meter.total_s += seconds


def gauge(name: str, help: str, label: str, reader: GaugeReader) -> None:
    """Declare a gauge whose values `reader(ledger)` computes when metrics are read."""
    _meter(name, help, "gauge", label).reader = reader


def snapshot() -> list[Meter]:
    """A copy of every meter, for an exporter."""
    with _lock:
        return [Meter(m.name, m.help, m.kind, m.label, dict(m.values), m.count, m.total_s, m.reader)
                for m in _meters.values()]

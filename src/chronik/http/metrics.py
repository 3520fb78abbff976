"""The server's Prometheus metrics (prometheus-client, text exposition at /metrics).

One registry per app, so two apps in one process (tests, embedding) never share counters.
Names carry their unit (`_seconds`, `_events`, `_total`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from chronik.domains import meters
from chronik.errors import (
    ChronikError,
    ConcurrencyError,
    IntegrityError,
    StorageError,
    ValidationError,
)
from chronik.ledger import Ledger

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
GROUP_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class PackMeters:
    """A collector for what the domain packs measure (chronik.domains.meters), read at scrape."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def collect(self) -> Iterator[Metric]:
        for meter in meters.snapshot():
            labels = [meter.label] if meter.label else []
            if meter.kind == "counter":
                counter = CounterMetricFamily(meter.name, meter.help, labels=labels)
                for value, total in sorted(meter.values.items()):
                    counter.add_metric([value] if meter.label else [], total)
                yield counter
            elif meter.kind == "duration":
                yield SummaryMetricFamily(meter.name, meter.help, count_value=meter.count,
                                          sum_value=meter.total_s)
            else:
                assert meter.reader is not None, "a gauge has its reader"
                gauge = GaugeMetricFamily(meter.name, meter.help, labels=labels)
                for value, number in sorted(meter.reader(self.ledger).items()):
                    gauge.add_metric([value], number)
                yield gauge


class Metrics:
    def __init__(self, ledger: Ledger | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        if ledger is not None:
            r.register(PackMeters(ledger))
        self.requests = Counter("chronik_http_requests_total", "HTTP requests by route and status",
                                ["route", "status"], registry=r)
        self.request_seconds = Histogram("chronik_http_request_seconds", "HTTP request latency by route",
                                         ["route"], buckets=LATENCY_BUCKETS_S, registry=r)
        self.appends = Counter("chronik_appends_total", "Append calls by outcome (ok, conflict, invalid, "
                               "error)", ["outcome"], registry=r)
        self.appended_events = Counter("chronik_appended_events_total", "Events recorded by appends",
                                       registry=r)
        self.append_seconds = Histogram("chronik_append_seconds", "Append latency, validation to durable "
                                        "commit", buckets=LATENCY_BUCKETS_S, registry=r)
        self.commit_group_appends = Histogram(
            "chronik_commit_group_appends", "Append calls per durable commit (group commit size)",
            buckets=GROUP_BUCKETS, registry=r)
        self.events_read = Counter("chronik_events_read_total", "Events returned by reads, queries and "
                                   "live streams", ["route"], registry=r)
        self.subscriptions = Gauge("chronik_subscriptions", "Live event streams open now", registry=r)
        self.subscription_lag = Gauge("chronik_subscription_lag_max_events", "The largest number of "
                                      "events a live client is behind the ledger head", registry=r)
        self.disconnects = Counter("chronik_subscription_disconnects_total", "Live streams ended by the "
                                   "server, by reason", ["reason"], registry=r)
        self.verify_runs = Counter("chronik_verify_runs_total", "Verify runs by result", ["result"],
                                   registry=r)
        self.verify_last_ok = Gauge("chronik_verify_last_ok", "1 when the last verify passed, 0 when it "
                                    "failed (absent before the first run)", registry=r)
        self.verify_last_run = Gauge("chronik_verify_last_run_timestamp_seconds", "When verify last ran",
                                     registry=r)
        self.store_errors = Counter("chronik_store_errors_total", "Errors from the store, by class",
                                    ["error"], registry=r)

    def lag_from(self, lag: Callable[[], float]) -> None:
        self.subscription_lag.set_function(lag)

    def record_append(self, started: float, events: int, error: BaseException | None = None) -> None:
        self.append_seconds.observe(time.perf_counter() - started)
        if error is None:
            self.appends.labels("ok").inc()
            self.appended_events.inc(events)
        elif isinstance(error, ConcurrencyError):
            self.appends.labels("conflict").inc()
        elif isinstance(error, ValidationError):
            self.appends.labels("invalid").inc()
        else:
            self.appends.labels("error").inc()

    def record_error(self, error: ChronikError) -> None:
        if isinstance(error, (StorageError, IntegrityError)):
            self.store_errors.labels(type(error).__name__).inc()

    def record_verify(self, ok: bool) -> None:
        self.verify_runs.labels("ok" if ok else "failed").inc()
        self.verify_last_ok.set(1 if ok else 0)
        self.verify_last_run.set(time.time())

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

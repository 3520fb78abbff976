"""What every route of one app shares: the ledger, the config, metrics, the live broadcaster,
the reducers, and the last verify result (shown on the overview)."""

from __future__ import annotations

import time

import msgspec

from chronik.http.appends import AppendPath
from chronik.http.config import ServerConfig
from chronik.http.live import Broadcaster
from chronik.http.metrics import Metrics
from chronik.http.reducers import ReducerCatalog
from chronik.ledger import Ledger


class LastVerify(msgspec.Struct, frozen=True):
    ok: bool
    checked: int
    first_bad_position: int | None
    ran_at: str  # RFC 3339 UTC


class ServerState:
    def __init__(self, ledger: Ledger, config: ServerConfig, reducers: ReducerCatalog) -> None:
        self.ledger = ledger
        self.config = config
        self.metrics = Metrics(ledger)
        self.appends = AppendPath(ledger, self.metrics)
        self.broadcaster = Broadcaster(ledger, self.metrics, config.client_buffer_events)
        self.reducers = reducers
        self.last_verify: LastVerify | None = None
        self.started = time.time()
        self.openapi: bytes | None = None  # the document, encoded on first request


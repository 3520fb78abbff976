"""The pack's settings: the catalog, heartbeat coalescing, the stale timeout and the size caps.

Defaults suit an agent that heartbeats every few seconds: at most one recorded heartbeat a
minute (1,440 events a day instead of 86,400 for a 1 s heartbeat), stale after two silent
minutes. Each can be set in code, or for `chronik mcp` and `chronik session` by environment:

    CHRONIK_SESSIONS_CATALOG              a JSON or TOML catalog file (catalog_file.py)
    CHRONIK_SESSIONS_HEARTBEAT_INTERVAL_S at most one heartbeat event per instance per this (60)
    CHRONIK_SESSIONS_STALE_TIMEOUT_S      silent this long -> instance_stale (120)
    CHRONIK_SESSIONS_MAX_EVENT_BYTES      event_data + metadata of one emit (65536)
    CHRONIK_SESSIONS_RESULT_EVENT_BYTES   one event's data or metadata returned by a tool (16384)
    CHRONIK_SESSIONS_RESULT_BYTES         all events of one tool result (262144)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property

import msgspec

from chronik.domains.sessions.catalog_file import load_catalog
from chronik.domains.sessions.checks import DEFAULT_MAX_EVENT_BYTES, Catalog
from chronik.errors import ValidationError

DEFAULT_HEARTBEAT_INTERVAL_S = 60.0
DEFAULT_STALE_TIMEOUT_S = 120.0
# What tools return to an agent: one event's data (JSON bytes) and one whole response. A cut
# event or response carries a marker saying what was cut and how to read it whole.
DEFAULT_RESULT_EVENT_BYTES = 16 * 1024
DEFAULT_RESULT_BYTES = 256 * 1024
ENVIRONMENT = {"catalog_path": "CHRONIK_SESSIONS_CATALOG",
               "heartbeat_interval_s": "CHRONIK_SESSIONS_HEARTBEAT_INTERVAL_S",
               "stale_timeout_s": "CHRONIK_SESSIONS_STALE_TIMEOUT_S",
               "max_event_bytes": "CHRONIK_SESSIONS_MAX_EVENT_BYTES",
               "result_event_bytes": "CHRONIK_SESSIONS_RESULT_EVENT_BYTES",
               "result_bytes": "CHRONIK_SESSIONS_RESULT_BYTES"}
INTEGER_FIELDS = ("max_event_bytes", "result_event_bytes", "result_bytes")


class Settings(msgspec.Struct, frozen=True, kw_only=True, dict=True):
    catalog_path: str | None = None
    heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S
    stale_timeout_s: float = DEFAULT_STALE_TIMEOUT_S
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    result_event_bytes: int = DEFAULT_RESULT_EVENT_BYTES
    result_bytes: int = DEFAULT_RESULT_BYTES

    def __post_init__(self) -> None:
        if not 0 <= self.heartbeat_interval_s <= 86_400:
            raise ValidationError("heartbeat_interval_s", f"{self.heartbeat_interval_s} is out of range",
                                  "use 0 (record every heartbeat) to 86400 seconds")
        if not 1 <= self.stale_timeout_s <= 30 * 86_400:
            raise ValidationError("stale_timeout_s", f"{self.stale_timeout_s} is out of range",
                                  "use 1 second to 30 days")
        if self.heartbeat_interval_s >= self.stale_timeout_s:
            # An instance that beats steadily would otherwise go stale between recorded beats.
            raise ValidationError("heartbeat_interval_s", "must be shorter than stale_timeout_s",
                                  "use an interval of at most half the stale timeout")
        for field in INTEGER_FIELDS:
            if not 256 <= getattr(self, field) <= 1024 * 1024:
                raise ValidationError(field, f"{getattr(self, field)} is out of range", "use 256 bytes to 1 MiB")

    @cached_property
    def catalog(self) -> Catalog:
        return load_catalog(self.catalog_path)


def from_environment(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from CHRONIK_SESSIONS_* variables (the defaults for those not set)."""
    environ = os.environ if environ is None else environ
    given: dict[str, object] = {}
    for field, variable in ENVIRONMENT.items():
        text = environ.get(variable)
        if not text:
            continue
        if field == "catalog_path":
            given[field] = text
            continue
        try:
            given[field] = int(text) if field in INTEGER_FIELDS else float(text)
        except ValueError:
            raise ValidationError(field, f"{variable}={text!r} is not a number", f"set {variable} to a number") \
                from None
    return Settings(**given)  # type: ignore[arg-type]


DEFAULT_SETTINGS = Settings()

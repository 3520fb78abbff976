"""Every limit chronik enforces, in one place (docs/limits.md lists them for users).

A limit exists so that no input, however large or deep, can exhaust memory or lock the store for
long. Each is checked before anything is written and raises `LimitExceeded` naming the field.
"""

from __future__ import annotations

import msgspec

MIB = 1024 * 1024


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    # Canonical JSON bytes of one event's data plus meta.
    max_event_bytes: int = 1 * MIB
    # Nesting depth of data/meta: the object itself is depth 1.
    max_depth: int = 64
    # Events in one append or append_many call, all streams together.
    max_batch_events: int = 10_000
    # Events in one query page.
    max_page_size: int = 1_000
    max_stream_name_chars: int = 200
    max_type_chars: int = 128
    max_id_chars: int = 128
    max_text_filter_chars: int = 200
    max_filter_values: int = 100


DEFAULT_LIMITS = Limits()

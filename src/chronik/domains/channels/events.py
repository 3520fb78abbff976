"""The 20 state-channel event types, which stream each one goes to, and the input shape.

An event is `{"event_name": <kebab-case name>, "payload": {...}}`, the shape of the real
project's golden vectors (evmts/channels). The payload is the whole truth: its JSON Schema
(schema.py) is the contract, its content is the event's id (contentid.py), and it is recorded
unchanged as the chronik event's `data`, with the event name as the chronik `type`.

Streams (one entity each, so a reconstruction reads only the events of what it is asked about):

    objective-*                        objective:<objective_id>     (lowercased)
    channel-created, state-*, chain    channel:<channel_id>         (lowercased)
    message-*                          peer:<peer_id>               (escaped when needed)

The plan's `snapshot_created` system event is not a user event here: snapshots are chronik's
own auxiliary records (chronik.derive.snapshots), never events in the log.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from chronik.errors import ValidationError

OBJECTIVE_EVENTS = ("objective-created", "objective-approved", "objective-rejected", "objective-cranked",
                    "objective-completed")
CHANNEL_STATE_EVENTS = ("channel-created", "state-signed", "state-received", "state-supported-updated",
                        "channel-finalized")
# Facts observed on chain: each carries (block_num, tx_index), its place in the chain's order.
CHAIN_EVENTS = ("deposit-detected", "allocation-updated", "challenge-registered", "challenge-cleared",
                "channel-concluded", "withdraw-completed")
MESSAGE_EVENTS = ("message-sent", "message-received", "message-acked", "message-dropped")
CHANNEL_EVENTS = CHANNEL_STATE_EVENTS + CHAIN_EVENTS
EVENT_NAMES = OBJECTIVE_EVENTS + CHANNEL_EVENTS + MESSAGE_EVENTS
assert len(EVENT_NAMES) == len(set(EVENT_NAMES)) == 20

OBJECTIVE_TYPES = ("DirectFund", "DirectDefund", "VirtualFund", "VirtualDefund")
OBJECTIVE_STATUSES = ("Created", "Approved", "Rejected", "Cranked", "Completed")
CHANNEL_STATUSES = ("Created", "Open", "Challenged", "Finalized", "Concluded")

OBJECTIVE_CATEGORY = "objective"
CHANNEL_CATEGORY = "channel"
PEER_CATEGORY = "peer"
CATEGORIES = (CHANNEL_CATEGORY, OBJECTIVE_CATEGORY, PEER_CATEGORY)
CATEGORY_OF_EVENT = {**dict.fromkeys(OBJECTIVE_EVENTS, OBJECTIVE_CATEGORY),
                     **dict.fromkeys(CHANNEL_EVENTS, CHANNEL_CATEGORY),
                     **dict.fromkeys(MESSAGE_EVENTS, PEER_CATEGORY)}
KEY_FIELD = {OBJECTIVE_CATEGORY: "objective_id", CHANNEL_CATEGORY: "channel_id", PEER_CATEGORY: "peer_id"}

ID_PATTERN = re.compile(r"0x[0-9a-fA-F]{64}")
# A peer id is free text in the schemas; one made only of these characters (and not starting
# with the escape mark) is its own stream id, any other is escaped as "~" + UTF-8 hex.
PLAIN_PEER_ID = re.compile(r"[A-Za-z0-9_.@+=-][A-Za-z0-9_.:@+=~-]*")
PEER_ESCAPE = "~"
# A stream name is at most 200 characters (chronik.limits); "peer:" + "~" + hex of this many
# bytes stays within it. A longer peer id is refused, never truncated (two could collide).
MAX_PEER_ID_BYTES = 96


# What an input event may hold: the golden vectors' fields (the last two are checked, not kept).
ENVELOPE_FIELDS = frozenset({"event_name", "payload", "id", "expected_id", "canonical_json"})


class ChannelEvent(msgspec.Struct, frozen=True):
    """One event as the real project writes it (the golden vectors' shape)."""

    event_name: str
    payload: dict[str, Any]


def check_event_name(name: Any, field: str = "event_name") -> str:
    if name not in CATEGORY_OF_EVENT:
        shown = name if isinstance(name, str) else type(name).__name__
        raise ValidationError(field, f"{shown!r} is not a channels event type",
                              f"use one of the 20 kebab-case names, e.g. {', '.join(EVENT_NAMES[:3])}")
    return str(name)


def event_from_json(value: Any, field: str = "event") -> ChannelEvent:
    """`{"event_name": ..., "payload": {...}}` as a ChannelEvent (the schema is checked later)."""
    if isinstance(value, ChannelEvent):
        return value
    if not isinstance(value, dict):
        raise ValidationError(field, f"must be a JSON object, got {type(value).__name__}",
                              'write {"event_name": "objective-created", "payload": {...}}')
    unknown = sorted(set(value) - ENVELOPE_FIELDS)
    if unknown:
        raise ValidationError(f"{field}.{unknown[0]}", "is not a field of an event",
                              "give event_name and payload (and optionally id or expected_id and "
                              "canonical_json, which are checked)")
    name = check_event_name(value.get("event_name"), f"{field}.event_name")
    payload = value.get("payload")
    if not isinstance(payload, dict):
        raise ValidationError(f"{field}.payload", "must be a JSON object",
                              "give the event's fields as an object")
    return ChannelEvent(name, payload)


def category_of(event_name: str) -> str:
    return CATEGORY_OF_EVENT[event_name]


def peer_stream_id(peer_id: str) -> str:
    """The stream id of a peer: the id itself when it is plain, else "~" + its UTF-8 hex."""
    if PLAIN_PEER_ID.fullmatch(peer_id) and len(peer_id) <= 2 * MAX_PEER_ID_BYTES:
        return peer_id
    raw = peer_id.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_PEER_ID_BYTES:
        raise ValidationError("payload.peer_id", f"is {len(raw)} bytes long",
                              f"use a peer id of at most {MAX_PEER_ID_BYTES} bytes")
    return PEER_ESCAPE + raw.hex()


def stream_for(category: str, key: str) -> str:
    """The stream of an entity: its category and its id (hex ids lowercased)."""
    if category == PEER_CATEGORY:
        return f"{PEER_CATEGORY}:{peer_stream_id(key)}"
    return f"{category}:{key.lower()}"


def stream_of(event: ChannelEvent) -> str:
    """The stream an event is recorded in (module docstring); its payload is already valid."""
    category = category_of(event.event_name)
    return stream_for(category, event.payload[KEY_FIELD[category]])


def check_entity_id(value: Any, field: str) -> str:
    """A channel or objective id as the schemas define them: 0x + 64 hex digits."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ValidationError(field, f"{value!r} is not a 0x-prefixed 32-byte hex id",
                              "give 0x followed by 64 hex digits")
    return value.lower()

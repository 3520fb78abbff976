"""Which events an objective or a channel refuses, given its state: one rule for append (the
event is refused with a clear error and nothing is written) and for replay (an event that got
into the log some other way is recorded but not applied, with a warning).

Objectives follow their lifecycle (the real project's causal rules):

    objective-created     only for a new objective
    objective-approved    Created
    objective-rejected    Created, Approved, Cranked        (Rejected is terminal)
    objective-cranked     Approved, Cranked
    objective-completed   Approved, Cranked                 (Completed is terminal)

Channels: channel-created once, before every other event of the channel; a signed or received
state only from a participant (signers are mapped to participant indexes through
channel-created's `participants`, case-insensitively, as Ethereum addresses are).
"""

from __future__ import annotations

from typing import Any

ALLOWED_FROM: dict[str, tuple[str | None, ...]] = {
    "objective-created": (None,),
    "objective-approved": ("Created",),
    "objective-rejected": ("Created", "Approved", "Cranked"),
    "objective-cranked": ("Approved", "Cranked"),
    "objective-completed": ("Approved", "Cranked"),
}
SIGNED_STATE_EVENTS = ("state-signed", "state-received")


def problem_with(kind: str, state: dict[str, Any], name: str, payload: dict[str, Any]) -> str | None:
    """Why `state` refuses the event `name`, or None when it accepts it."""
    if kind == "objective":
        return _objective_problem(state, name, payload)
    if kind == "channel":
        return _channel_problem(state, name, payload)
    return None


def _objective_problem(state: dict[str, Any], name: str, payload: dict[str, Any]) -> str | None:
    status = state["status"]
    allowed = ALLOWED_FROM[name]
    if status in allowed:
        return None
    objective = payload["objective_id"]
    if status is None:
        return f"objective {objective} does not exist: record objective-created first"
    if name == "objective-created":
        return f"objective {objective} already exists (it is {status})"
    shown = " or ".join(str(s) for s in allowed)
    return f"objective {objective} is {status}: {name} is allowed only when it is {shown}"


def _channel_problem(state: dict[str, Any], name: str, payload: dict[str, Any]) -> str | None:
    channel = payload["channel_id"]
    if name == "channel-created":
        return None if state["status"] is None else f"channel {channel} already exists (it is {state['status']})"
    if state["status"] is None:
        return f"channel {channel} does not exist: record channel-created first"
    if name in SIGNED_STATE_EVENTS and participant_index(state["participants"], payload["signer"]) is None:
        return f"signer {payload['signer']} is not a participant of channel {channel}"
    return None


def participant_index(participants: list[str], address: str) -> int | None:
    """The index of `address` among the participants (case-insensitive), or None."""
    for index, participant in enumerate(participants):
        if participant == address:  # the usual case, without lower-casing (replays call this a lot)
            return index
    wanted = address.lower()
    for index, participant in enumerate(participants):
        if participant.lower() == wanted:
            return index
    return None

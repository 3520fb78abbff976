"""Objectives, channels and peers as pure folds of their events (the schemas are the contract).

Each entity has its own stream (events.py) and its own reducer: `OBJECTIVE`, `CHANNEL`, `PEER`.
A fold function takes the state, the event's name and payload and its stream version, and
returns a new state (a shallow copy: a state handed out is never changed afterwards). States
are plain JSON (string keys), so a snapshot restores them exactly.

Three kinds of event are recorded but not applied, each leaving a warning in the state:
- a *refused* event (transitions.problem_with: approving a completed objective, a signer who
  is not a participant, ...), which append never records but another writer might have;
- a turn number that goes back (per signer for signed and received states; the supported turn);
- a chain event whose (block_num, tx_index) is not newer than the last one seen for the channel.
A timestamp that goes back (a clock stepped back) is applied, kept in log order, and flagged.
Warnings are kept newest last, at most MAX_WARNINGS of them; `warnings_total` counts all.
"""

from __future__ import annotations

from typing import Any

from chronik.derive.reducer import Reducer
from chronik.domains.channels.events import CHAIN_EVENTS, CHANNEL_EVENTS, MESSAGE_EVENTS, OBJECTIVE_EVENTS
from chronik.domains.channels.transitions import participant_index, problem_with
from chronik.model import Event

REDUCER_VERSION = 1
# The plan's snapshot interval: a snapshot of a stream every 1000 events.
SNAPSHOT_EVERY = 1000
MAX_WARNINGS = 100

State = dict[str, Any]


def _common() -> State:
    return {"events": 0, "ignored": 0, "created_at_ms": None, "last_timestamp_ms": None, "version": 0,
            "warnings": [], "warnings_total": 0}


def objective_initial() -> State:
    return {"objective_id": None, "objective_type": None, "status": None, "channel_id": None,
            "participants": [], "approver": None, "reason": None, "error_code": None, "cranks": 0,
            "side_effects_count": None, "side_effects_total": 0, "waiting": None, "success": None,
            "final_channel_state": None, "completed_at_ms": None, **_common()}


def channel_initial() -> State:
    return {"channel_id": None, "status": None, "participants": [], "channel_nonce": None,
            "app_definition": None, "challenge_duration": None, "latest_signed_turn": {},
            "latest_received_turn": {}, "signatures": {}, "supported_turn": None,
            "supported_state_hash": None, "num_signatures": None, "final_turn": None,
            "final_state_hash": None, "holdings": {}, "withdrawn": {}, "last_chain_event": None,
            "challenge": None, "challenges_registered": 0, "challenges_cleared": 0, "concluded": None,
            **_common()}


def peer_initial() -> State:
    return {"peer_id": None, "sent": 0, "received": 0, "acked": 0, "dropped": 0, "dropped_by_code": {},
            "last_message_id": None, "last_roundtrip_ms": None, **_common()}


def _warn(state: State, version: int, name: str, kind: str, detail: str) -> None:
    warnings = [*state["warnings"], {"version": version, "event": name, "kind": kind, "detail": detail}]
    state["warnings"] = warnings[-MAX_WARNINGS:]
    state["warnings_total"] += 1


def _begin(state: State, name: str, payload: dict[str, Any], version: int) -> State:
    """The copy every fold starts from: counted, versioned, its timestamp checked."""
    state = dict(state)
    state["events"] += 1
    state["version"] = version
    timestamp = payload.get("timestamp_ms")
    last = state["last_timestamp_ms"]
    if isinstance(timestamp, int) and isinstance(last, int) and timestamp < last:
        _warn(state, version, name, "timestamp_regression",
              f"timestamp_ms {timestamp} is before the previous event's {last}; kept in log order")
    if state["created_at_ms"] is None:
        state["created_at_ms"] = timestamp
    state["last_timestamp_ms"] = timestamp
    return state


def _ignore(state: State, version: int, name: str, kind: str, detail: str) -> State:
    state["ignored"] += 1
    _warn(state, version, name, kind, detail)
    return state


# ---------------------------------------------------------------- objectives


def apply_objective(state: State, name: str, payload: dict[str, Any], version: int) -> State:
    state = _begin(state, name, payload, version)
    problem = problem_with("objective", state, name, payload)
    if problem is not None:
        return _ignore(state, version, name, "refused", problem)
    if name == "objective-created":
        state.update(objective_id=payload["objective_id"].lower(), objective_type=payload["objective_type"],
                     status="Created", channel_id=_lower(payload.get("channel_id")),
                     participants=list(payload.get("participants", [])))
    elif name == "objective-approved":
        state.update(status="Approved", approver=payload.get("approver"))
    elif name == "objective-rejected":
        state.update(status="Rejected", reason=payload["reason"], error_code=payload.get("error_code"))
    elif name == "objective-cranked":
        state.update(status="Cranked", cranks=state["cranks"] + 1, side_effects_count=payload["side_effects_count"],
                     side_effects_total=state["side_effects_total"] + payload["side_effects_count"],
                     waiting=payload.get("waiting"))
    elif name == "objective-completed":
        state.update(status="Completed", success=payload["success"],
                     final_channel_state=payload.get("final_channel_state"),
                     completed_at_ms=payload["timestamp_ms"])
    return state


# ---------------------------------------------------------------- channels


def apply_channel(state: State, name: str, payload: dict[str, Any], version: int) -> State:
    state = _begin(state, name, payload, version)
    problem = problem_with("channel", state, name, payload)
    if problem is not None:
        return _ignore(state, version, name, "refused", problem)
    if name in CHAIN_EVENTS:
        place = [payload["block_num"], payload["tx_index"]]
        last = state["last_chain_event"]
        if last is not None and place <= last:
            return _ignore(state, version, name, "stale_chain_event",
                           f"(block_num, tx_index) {tuple(place)} is not newer than {tuple(last)}")
        state["last_chain_event"] = place
        return _apply_chain(state, name, payload)
    if name == "channel-created":
        state.update(channel_id=payload["channel_id"].lower(), status="Created",
                     participants=list(payload["participants"]), channel_nonce=payload.get("channel_nonce"),
                     app_definition=payload.get("app_definition"),
                     challenge_duration=payload["challenge_duration"])
    elif name in ("state-signed", "state-received"):
        return _apply_signed_state(state, name, payload, version)
    elif name == "state-supported-updated":
        turn, current = payload["supported_turn"], state["supported_turn"]
        if current is not None and turn < current:
            return _ignore(state, version, name, "turn_regression",
                           f"supported_turn {turn} is below the supported turn {current}")
        state.update(supported_turn=turn, supported_state_hash=payload["state_hash"],
                     num_signatures=payload.get("num_signatures"),
                     signatures={t: s for t, s in state["signatures"].items() if int(t) >= turn})
        _open(state)
    elif name == "channel-finalized":
        state.update(final_turn=payload["final_turn"], final_state_hash=payload["final_state_hash"])
        if state["status"] != "Concluded":
            state["status"] = "Finalized"
    return state


def _open(state: State) -> None:
    if state["status"] == "Created":
        state["status"] = "Open"


def _apply_signed_state(state: State, name: str, payload: dict[str, Any], version: int) -> State:
    index = str(participant_index(state["participants"], payload["signer"]))
    latest_key = "latest_signed_turn" if name == "state-signed" else "latest_received_turn"
    turn, latest = payload["turn_num"], state[latest_key].get(index)
    if latest is not None and turn < latest:
        return _ignore(state, version, name, "turn_regression",
                       f"turn_num {turn} is below participant {index}'s latest {latest}")
    state[latest_key] = {**state[latest_key], index: turn}
    supported = state["supported_turn"]
    if supported is None or turn >= supported:  # turns below the supported one are history
        key = str(turn)
        signed = {"signature": payload["signature"], "state_hash": payload["state_hash"],
                  "is_final": payload.get("is_final", False), "source": name.partition("-")[2]}
        state["signatures"] = {**state["signatures"], key: {**state["signatures"].get(key, {}), index: signed}}
    _open(state)
    return state


def _apply_chain(state: State, name: str, payload: dict[str, Any]) -> State:
    if name == "deposit-detected":
        asset = payload["asset"].lower()
        held = payload.get("now_held")
        if held is None:
            held = str(int(state["holdings"].get(asset, "0")) + int(payload["amount_deposited"]))
        state["holdings"] = {**state["holdings"], asset: held}
    elif name == "allocation-updated":
        state["holdings"] = {**state["holdings"], payload["asset"].lower(): payload["new_amount"]}
    elif name == "withdraw-completed":
        asset, amount = payload["asset"].lower(), int(payload["amount"])
        left = int(state["holdings"].get(asset, "0")) - amount
        state["holdings"] = {**state["holdings"], asset: str(max(left, 0))}
        state["withdrawn"] = {**state["withdrawn"], asset: str(int(state["withdrawn"].get(asset, "0")) + amount)}
    elif name == "challenge-registered":
        state["challenge"] = {key: payload.get(key) for key in (
            "turn_num_record", "finalization_time", "challenger", "is_final", "candidate_state_hash",
            "block_num", "tx_index")}
        state["challenges_registered"] += 1
        if state["status"] != "Concluded":
            state["status"] = "Challenged"
    elif name == "challenge-cleared":
        state["challenge"] = None
        state["challenges_cleared"] += 1
        if state["status"] == "Challenged":
            state["status"] = "Open"
    elif name == "channel-concluded":
        state["concluded"] = {key: payload.get(key) for key in ("block_num", "tx_index", "finalized_at_turn")}
        state["status"] = "Concluded"
    return state


# ---------------------------------------------------------------- peers


def apply_peer(state: State, name: str, payload: dict[str, Any], version: int) -> State:
    state = _begin(state, name, payload, version)
    state["peer_id"] = payload["peer_id"]
    if payload.get("message_id") is not None:
        state["last_message_id"] = payload["message_id"]
    if name == "message-sent":
        state["sent"] += 1
    elif name == "message-received":
        state["received"] += 1
    elif name == "message-acked":
        state["acked"] += 1
        state["last_roundtrip_ms"] = payload.get("roundtrip_ms", state["last_roundtrip_ms"])
    elif name == "message-dropped":
        state["dropped"] += 1
        code = payload["error_code"]
        state["dropped_by_code"] = {**state["dropped_by_code"], code: state["dropped_by_code"].get(code, 0) + 1}
    return state


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


# ---------------------------------------------------------------- the chronik reducers


class _ChannelsReducer(Reducer):
    version = REDUCER_VERSION
    snapshot_every = SNAPSHOT_EVERY
    event_names: frozenset[str] = frozenset()

    def fold(self, state: State, name: str, payload: dict[str, Any], version: int) -> State:
        raise NotImplementedError

    def apply(self, state: State, event: Event) -> State:
        if event.type not in self.event_names:
            return state  # another writer's event in this stream: not ours to interpret
        try:
            return self.fold(state, event.type, event.data, event.version)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            # Only an event that bypassed the pack's validation gets here (append validates).
            state = dict(state, events=state["events"] + 1, version=event.version)
            return _ignore(state, event.version, event.type, "invalid_payload", f"{type(error).__name__}: {error}")


class ObjectiveState(_ChannelsReducer):
    name = "channels.objective"
    event_names = frozenset(OBJECTIVE_EVENTS)

    def initial(self) -> State:
        return objective_initial()

    def fold(self, state: State, name: str, payload: dict[str, Any], version: int) -> State:
        return apply_objective(state, name, payload, version)


class ChannelState(_ChannelsReducer):
    name = "channels.channel"
    event_names = frozenset(CHANNEL_EVENTS)

    def initial(self) -> State:
        return channel_initial()

    def fold(self, state: State, name: str, payload: dict[str, Any], version: int) -> State:
        return apply_channel(state, name, payload, version)


class PeerMessages(_ChannelsReducer):
    name = "channels.peer"
    event_names = frozenset(MESSAGE_EVENTS)

    def initial(self) -> State:
        return peer_initial()

    def fold(self, state: State, name: str, payload: dict[str, Any], version: int) -> State:
        return apply_peer(state, name, payload, version)


OBJECTIVE = ObjectiveState()
CHANNEL = ChannelState()
PEER = PeerMessages()
REDUCERS = {"objective": OBJECTIVE, "channel": CHANNEL, "peer": PEER}

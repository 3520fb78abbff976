"""Valid, distinct payloads of every channels event type, for the tests and benchmarks.

`payload(name, n)` is a valid payload whose content depends on `n` (distinct payloads have
distinct content ids: identical ones would collapse into one event)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from chronik.domains.channels.events import EVENT_NAMES


def hexid(label: str, digits: int = 64) -> str:
    out = ""
    counter = 0
    while len(out) < digits:
        out += hashlib.sha256(f"{label}/{counter}".encode()).hexdigest()
        counter += 1
    return "0x" + out[:digits]


ALICE = hexid("alice", 40)
BOB = hexid("bob", 40)
MALLORY = hexid("mallory", 40)
ETH = "0x" + "0" * 40
CHANNEL = hexid("channel")
OBJECTIVE = hexid("objective")


def payload(name: str, n: int = 0, *, channel: str = CHANNEL, objective: str = OBJECTIVE, **overrides: Any
            ) -> dict[str, Any]:
    base: dict[str, Any] = {"event_version": 1, "timestamp_ms": 1_704_067_200_000 + n}
    chain = {"channel_id": channel, "block_num": 100 + n, "tx_index": n % 7, "tx_hash": hexid(f"tx{n}")}
    fields: dict[str, dict[str, Any]] = {
        "objective-created": {"objective_id": objective, "objective_type": "DirectFund", "channel_id": channel,
                              "participants": [ALICE, BOB]},
        "objective-approved": {"objective_id": objective, "approver": ALICE},
        "objective-rejected": {"objective_id": objective, "reason": f"policy {n}", "error_code": "policy"},
        "objective-cranked": {"objective_id": objective, "side_effects_count": n % 5, "waiting": n % 2 == 0},
        "objective-completed": {"objective_id": objective, "success": True, "final_channel_state": hexid(f"s{n}")},
        "channel-created": {"channel_id": channel, "participants": [ALICE, BOB], "channel_nonce": n,
                            "app_definition": hexid("app", 40), "challenge_duration": 3600},
        "state-signed": {"channel_id": channel, "turn_num": n, "state_hash": hexid(f"state{n}"), "signer": ALICE,
                         "signature": hexid(f"sigA{n}", 130), "is_final": False, "app_data_hash": hexid("data")},
        "state-received": {"channel_id": channel, "turn_num": n, "state_hash": hexid(f"state{n}"), "signer": BOB,
                           "signature": hexid(f"sigB{n}", 130), "is_final": False, "peer_id": "bob-node"},
        "state-supported-updated": {"channel_id": channel, "supported_turn": n, "state_hash": hexid(f"state{n}"),
                                    "num_signatures": 2},
        "channel-finalized": {"channel_id": channel, "final_turn": n, "final_state_hash": hexid(f"final{n}")},
        "deposit-detected": {**chain, "asset": ETH, "amount_deposited": str(10 + n), "now_held": str(10 + n)},
        "allocation-updated": {**chain, "asset": ETH, "new_amount": str(5 + n)},
        "challenge-registered": {**chain, "turn_num_record": n, "finalization_time": 1_800_000_000 + n,
                                 "challenger": BOB, "is_final": False, "candidate_state_hash": hexid(f"c{n}")},
        "challenge-cleared": {**chain, "new_turn_num_record": n + 1},
        "channel-concluded": {**chain, "finalized_at_turn": n},
        "withdraw-completed": {**chain, "recipient": ALICE, "asset": ETH, "amount": "1"},
        "message-sent": {"message_id": hexid(f"m{n}"), "peer_id": "bob-node", "objective_id": objective,
                         "payload_type": "ObjectivePayload", "payload_size_bytes": 100 + n},
        "message-received": {"message_id": hexid(f"r{n}"), "peer_id": "bob-node", "objective_id": objective,
                             "payload_type": "ProposalPayload", "payload_size_bytes": 200 + n},
        "message-acked": {"message_id": hexid(f"m{n}"), "peer_id": "bob-node", "roundtrip_ms": 30 + n},
        "message-dropped": {"message_id": hexid(f"d{n}"), "peer_id": "bob-node", "reason": f"bad {n}",
                            "error_code": "decode_failed", "payload_size_bytes": n},
    }
    return {**base, **fields[name], **overrides}


def event(name: str, n: int = 0, **overrides: Any) -> dict[str, Any]:
    return {"event_name": name, "payload": payload(name, n, **overrides)}


def created_channel(n: int = 0, channel: str = CHANNEL) -> dict[str, Any]:
    return event("channel-created", n, channel=channel)


def created_objective(n: int = 0, objective: str = OBJECTIVE, channel: str = CHANNEL) -> dict[str, Any]:
    return event("objective-created", n, objective=objective, channel=channel)


assert len(EVENT_NAMES) == 20


# ---------------------------------------------------------------- shared test data and stores

# A copy of ../shared/testdata/channels/golden (the real project's id vectors), kept with the
# tests so they never depend on where the shared folder is.
SHARED_CHANNELS = Path(__file__).resolve().parents[1] / "data" / "channels"


def golden_vectors() -> list[dict]:
    """The real project's 4 golden id vectors, read from shared/testdata/channels/golden."""
    files = sorted((SHARED_CHANNELS / "golden").glob("*.golden.json"))
    assert len(files) == 4, f"expected the 4 golden vectors in {SHARED_CHANNELS / 'golden'}"
    return [json.loads(path.read_text(encoding="utf-8")) for path in files]


def store_url(kind: str, directory: Path) -> str:
    from support.store_urls import store_url as fresh_url  # here: child processes import this module too

    return fresh_url(kind, directory, "channels")

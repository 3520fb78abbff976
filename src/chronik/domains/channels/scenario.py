"""A DirectFund objective through its lifecycle, as a node would record it (the `chronik demo`
part and docs/channels.md's walk-through): channel created, objective created and approved,
the pre-fund state signed and received, both deposits detected on chain, the post-fund state
supported, messages exchanged, the objective completed.

Ids, addresses and signatures are derived from fixed labels (keccak256), so the scenario is
the same on every run; a ledger that already holds it gets nothing new (ids are content).
"""

from __future__ import annotations

from typing import Any

from Crypto.Hash import keccak

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
ONE_ETH = 10**18
ETH = "0x" + "00" * 20


def hex_of(label: str, digits: int) -> str:
    """`digits` hex digits derived from `label` (0x-prefixed), for ids, addresses, signatures."""
    out, counter = "", 0
    while len(out) < digits:
        out += keccak.new(digest_bits=256, data=f"{label}#{counter}".encode()).hexdigest()
        counter += 1
    return "0x" + out[:digits]


ALICE = hex_of("alice", 40)
BOB = hex_of("bob", 40)
CHANNEL_ID = hex_of("chronik demo channel", 64)
OBJECTIVE_ID = hex_of("chronik demo objective DirectFund", 64)


def _event(name: str, offset_ms: int, **fields: Any) -> dict[str, Any]:
    return {"event_name": name, "payload": {"event_version": 1, "timestamp_ms": START_MS + offset_ms, **fields}}


def _signed(name: str, offset_ms: int, turn: int, signer: str, **extra: Any) -> dict[str, Any]:
    state_hash = hex_of(f"state {turn}", 64)
    return _event(name, offset_ms, channel_id=CHANNEL_ID, turn_num=turn, state_hash=state_hash, signer=signer,
                  signature=hex_of(f"sig {signer} {turn}", 130), is_final=False, **extra)


def direct_fund_events() -> list[dict[str, Any]]:
    """The scenario's events in the order a node records them."""
    message = hex_of("message 1", 64)
    return [
        _event("channel-created", 0, channel_id=CHANNEL_ID, participants=[ALICE, BOB], channel_nonce=7,
               app_definition=hex_of("app", 40), challenge_duration=86_400),
        _event("objective-created", 1, objective_id=OBJECTIVE_ID, objective_type="DirectFund",
               channel_id=CHANNEL_ID, participants=[ALICE, BOB]),
        _event("objective-approved", 2, objective_id=OBJECTIVE_ID, approver=ALICE),
        _signed("state-signed", 3, 0, ALICE),
        _event("message-sent", 4, message_id=message, peer_id="bob-node", objective_id=OBJECTIVE_ID,
               payload_type="ObjectivePayload", payload_size_bytes=412),
        _signed("state-received", 5, 0, BOB, peer_id="bob-node"),
        _event("message-acked", 6, message_id=message, peer_id="bob-node", roundtrip_ms=38),
        _event("state-supported-updated", 7, channel_id=CHANNEL_ID, supported_turn=0,
               state_hash=hex_of("state 0", 64), num_signatures=2),
        _event("objective-cranked", 8, objective_id=OBJECTIVE_ID, side_effects_count=1, waiting=True),
        _event("deposit-detected", 9, channel_id=CHANNEL_ID, block_num=19_000_001, tx_index=4,
               tx_hash=hex_of("tx alice", 64), asset=ETH, amount_deposited=str(ONE_ETH), now_held=str(ONE_ETH)),
        _event("deposit-detected", 10, channel_id=CHANNEL_ID, block_num=19_000_003, tx_index=0,
               tx_hash=hex_of("tx bob", 64), asset=ETH, amount_deposited=str(ONE_ETH), now_held=str(2 * ONE_ETH)),
        _signed("state-signed", 11, 1, ALICE),
        _signed("state-received", 12, 1, BOB, peer_id="bob-node"),
        _event("state-supported-updated", 13, channel_id=CHANNEL_ID, supported_turn=1,
               state_hash=hex_of("state 1", 64), num_signatures=2, prev_supported_turn=0),
        _event("objective-cranked", 14, objective_id=OBJECTIVE_ID, side_effects_count=2, waiting=False),
        _event("objective-completed", 15, objective_id=OBJECTIVE_ID, success=True,
               final_channel_state=hex_of("state 1", 64)),
    ]

"""Replay == direct computation, for random valid sequences (hypothesis): the state a fresh
Reconstructor gets from the ledger (through snapshots taken part-way) equals the fold of the
accepted events computed directly in memory, as they were emitted."""

from __future__ import annotations

from channel_events import ALICE, BOB, MALLORY, hexid, payload
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chronik.domains.channels import contentid
from chronik.domains.channels.eventlog import EventLog
from chronik.domains.channels.events import EVENT_NAMES, category_of, event_from_json, stream_of
from chronik.domains.channels.reconstruct import Reconstructor
from chronik.domains.channels.reducer import REDUCERS
from chronik.errors import ValidationError
from chronik.ledger import open_ledger

CHANNELS = [hexid("pc0"), hexid("pc1")]
OBJECTIVES = [hexid("po0"), hexid("po1")]
PEERS = ["peer-a", "Péer b"]  # the second is escaped in its stream name

ACCEPTED: list[str] = []
step = st.tuples(st.sampled_from(EVENT_NAMES), st.integers(0, 1), st.integers(0, 40), st.integers(0, 6),
                 st.integers(0, 3), st.sampled_from([ALICE, BOB, MALLORY]), st.integers(0, 50))


def build(name, entity, n, turn, tx, signer, clock):
    overrides = {"timestamp_ms": 1_000 + clock}
    if name in ("state-signed", "state-received"):
        overrides.update(turn_num=turn, signer=signer)
    if name == "state-supported-updated":
        overrides["supported_turn"] = turn
    if "block_num" in payload(name):
        overrides.update(block_num=turn, tx_index=tx)
    if "peer_id" in payload(name) and category_of(name) == "peer":
        overrides["peer_id"] = PEERS[entity]
    return {"event_name": name,
            "payload": payload(name, n, channel=CHANNELS[entity], objective=OBJECTIVES[entity], **overrides)}


# Every type at least once, in an order its entity accepts (cranked and completed need an
# approved objective, which random steps rarely reach).
EVERY_TYPE = [(name, int(name == "objective-rejected"), 30 + i, 3, 1, ALICE, 100 + i) for i, name in enumerate(
    ["objective-cranked", "objective-completed", "state-signed", "state-received", "state-supported-updated",
     "deposit-detected", "allocation-updated", "challenge-registered", "challenge-cleared", "channel-finalized",
     "channel-concluded", "withdraw-completed", "message-sent", "message-received", "message-acked",
     "message-dropped", "objective-rejected", "objective-created", "objective-approved", "channel-created"])]


@settings(max_examples=80, deadline=None)
@example(steps=EVERY_TYPE, snapshot_after=8)
@given(steps=st.lists(step, min_size=1, max_size=60), snapshot_after=st.integers(0, 60))
def test_replay_equals_direct_computation(steps, snapshot_after):
    with open_ledger("memory:") as ledger:
        log = EventLog(ledger)
        direct: dict[str, dict] = {}
        versions: dict[str, int] = {}
        seen: set[str] = set()
        setup = [(name, entity, 0, 0, 0, ALICE, 0) for entity in (0, 1)
                 for name in ("channel-created", "objective-created")] + [("objective-approved", 0, 0, 0, 0, ALICE, 0)]
        for index, drawn in enumerate(setup + steps):
            item = build(*drawn)
            parsed = event_from_json(item)
            stream, kind = stream_of(parsed), category_of(parsed.event_name)
            try:
                log.append(item)
            except ValidationError:
                continue  # refused by its entity's state: nothing recorded, nothing to fold
            event_id = contentid.event_id(parsed.event_name, parsed.payload)
            if event_id not in seen:  # a repeat is idempotent: recorded once
                ACCEPTED.append(parsed.event_name)
                seen.add(event_id)
                versions[stream] = versions.get(stream, 0) + 1
                state = direct.get(stream, REDUCERS[kind].initial())
                direct[stream] = REDUCERS[kind].fold(state, parsed.event_name, parsed.payload, versions[stream])
            if index == snapshot_after and stream in direct:
                ledger.snapshot(stream, REDUCERS[kind])
        fresh = Reconstructor(ledger)
        for stream, expected in direct.items():
            kind = stream.partition(":")[0]
            assert fresh.stream(kind, stream).state == expected, stream
            assert log.reconstructor.stream(kind, stream).state == expected  # the incremental cache too
        assert len(log) == len(seen)


def test_the_generated_sequences_reach_every_event_type():
    # Runs after the property test (file order): the random sequences were not all refused.
    assert set(ACCEPTED) == set(EVENT_NAMES), sorted(set(EVENT_NAMES) - set(ACCEPTED))

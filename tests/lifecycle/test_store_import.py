"""Store.import_events on every store: verbatim, atomic, and refused unless it continues the head."""

from __future__ import annotations

import msgspec
import pytest
from lifecycle_testing import STORE_KINDS, fill

import chronik
from chronik.errors import IntegrityError


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_import_events_keeps_every_field_and_continues_the_head(kind, make_url, open_ledger):
    source = open_ledger("memory:")
    fill(source)
    events = list(source.read_all())
    signed = [msgspec.structs.replace(e, sig="k1:abc") if e.position == 2 else e for e in events]
    destination = open_ledger(make_url(kind))
    destination.store.import_events(signed[:7])
    destination.store.import_events(signed[7:])
    assert list(destination.read_all()) == signed
    assert destination.head() == source.head()
    assert destination.streams() == source.streams()
    assert destination.verify().ok
    # It is a ledger like any other afterwards: appends continue the chain.
    destination.append("order:0", [chronik.NewEvent("more")])
    assert destination.verify().ok


@pytest.mark.parametrize("kind", STORE_KINDS)
@pytest.mark.parametrize("fault", ["not_next_position", "wrong_prev", "version_gap", "id_recorded",
                                   "gap_inside"])
def test_import_events_refuses_and_writes_nothing(kind, fault, make_url, open_ledger):
    source = open_ledger("memory:")
    fill(source)
    events = list(source.read_all())
    destination = open_ledger(make_url(kind))
    destination.store.import_events(events[:5])
    rest = events[5:9]
    if fault == "not_next_position":
        rest = events[6:9]
    elif fault == "wrong_prev":
        rest = [msgspec.structs.replace(rest[0], prev="f" * 64), *rest[1:]]
    elif fault == "version_gap":
        rest = [msgspec.structs.replace(rest[0], version=rest[0].version + 1), *rest[1:]]
    elif fault == "id_recorded":
        rest = [*rest[:2], msgspec.structs.replace(rest[2], id=events[0].id), rest[3]]
    elif fault == "gap_inside":
        rest = [rest[0], *rest[2:]]
    before = list(destination.read_all()), destination.head(), destination.streams()
    with pytest.raises(IntegrityError, match="nothing was imported"):
        destination.store.import_events(rest)
    assert (list(destination.read_all()), destination.head(), destination.streams()) == before

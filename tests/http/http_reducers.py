"""A reducer the HTTP tests offer with `chronik serve --reducer http_reducers:Tally`."""

from __future__ import annotations

import chronik


class Tally(chronik.Reducer):
    """Counts events per type and sums data.amount: a state that changes at every version."""

    name = "tally"
    version = 1

    def initial(self) -> dict:
        return {"count": 0, "total": 0, "types": {}}

    def apply(self, state: dict, event: chronik.Event) -> dict:
        types = {**state["types"], event.type: state["types"].get(event.type, 0) + 1}
        return {"count": state["count"] + 1, "total": state["total"] + int(event.data.get("amount", 0)),
                "types": types}

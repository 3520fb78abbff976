"""The reducers the app offers for replay, diff and time travel, by name.

From two places: each pack's `web_pages` entry lists its reducers with the stream categories
they fold (chronik.domains.webkit.PackReducer), and `chronik serve --reducer MODULE:NAME`
(`create_app(reducers=[...])`) adds others, which apply to any stream. A request names a
reducer by its name (`reducer=extension-status`).
"""

from __future__ import annotations

import msgspec

from chronik.derive.reducer import Reducer, check_reducer
from chronik.derive.reducer_import import import_reducer
from chronik.domains import registry, webkit
from chronik.errors import ValidationError


class OfferedReducer(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    version: int | str
    categories: list[str] | None  # None: any stream
    source: str  # the pack's name, or the MODULE:NAME it was imported from
    summary: str = ""


class ReducerCatalog:
    def __init__(self, specs: tuple[str, ...] = (), extra: tuple[Reducer, ...] = ()) -> None:
        self._reducers: dict[str, tuple[Reducer, OfferedReducer]] = {}
        for pack in registry.packs():
            if pack.web_pages is None:
                continue
            pages: webkit.PackPages = registry.load(pack.web_pages)
            for offered in pages.reducers:
                self._add(offered.reducer, list(offered.categories), pack.name, offered.summary)
        for spec in specs:
            self._add(import_reducer(spec, "reducer"), None, spec)
        for reducer in extra:
            self._add(check_reducer(reducer, "reducers"), None, type(reducer).__module__)

    def _add(self, reducer: Reducer, categories: list[str] | None, source: str, summary: str = "") -> None:
        name = reducer.reducer_name
        if name in self._reducers:
            raise ValidationError("reducer", f"two reducers are named {name!r} ({source} and "
                                  f"{self._reducers[name][1].source})", "give each reducer its own name")
        self._reducers[name] = (reducer, OfferedReducer(name=name, version=reducer.version,
                                                       categories=categories, source=source,
                                                       summary=summary))

    def get(self, name: str) -> Reducer:
        found = self._reducers.get(name)
        if found is None:
            raise ValidationError("reducer", f"no reducer named {name!r} is offered here",
                                  "GET /v1/reducers lists them; start the server with --reducer "
                                  "MODULE:NAME to add one")
        return found[0]

    def offered(self) -> list[OfferedReducer]:
        return [offered for _, offered in sorted(self._reducers.values(), key=lambda item: item[1].name)]

    def for_stream(self, stream: str) -> list[OfferedReducer]:
        """The reducers for `stream`: its category's first, then those for any stream."""
        category = stream.partition(":")[0]
        mine = [o for o in self.offered() if o.categories is not None and category in o.categories]
        return mine + [o for o in self.offered() if o.categories is None]

"""What a ReadFilter means for stores that filter in Python (memory, JSON Lines), and the two
facts the SQL filter (chronik.stores.sql) shares with them: category ranges and text search."""

from __future__ import annotations

from chronik.model import Event, ReadFilter


def category_bounds(category: str) -> tuple[str, str]:
    """Stream names of a category sort in [low, high): 'order:' <= s < 'order;'."""
    return f"{category}:", f"{category};"


def text_haystack(type_: str, data: bytes | str, meta: bytes | str) -> str:
    """What a text filter searches: type, data and meta JSON, lower-cased, fields kept apart."""
    if isinstance(data, bytes):
        data = data.decode()
    if isinstance(meta, bytes):
        meta = meta.decode()
    return f"{type_}\x00{data}\x00{meta}".lower()


def matches(event: Event, data_json: bytes, meta_json: bytes, filter: ReadFilter) -> bool:
    """The filter predicate for stores that filter in Python (memory, jsonl)."""
    if filter.streams and event.stream not in filter.streams:
        return False
    if filter.categories and event.stream.partition(":")[0] not in filter.categories:
        return False
    if filter.types and event.type not in filter.types:
        return False
    if filter.since and event.time < filter.since:
        return False
    if filter.until and event.time > filter.until:
        return False
    return not (filter.text and filter.text not in text_haystack(event.type, data_json, meta_json))

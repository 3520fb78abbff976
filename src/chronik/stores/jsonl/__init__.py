"""`jsonl:///path`: the ledger as a JSON Lines file, one recorded event per line.

One job per module:

- `format`: the line format (the one definition; export/import and verify use it too);
- `index`: what the store keeps in memory about its file;
- `scan`: reading the file into the index, and what counts as a committed event or a torn tail;
- `read`: decoding events from the file by the index;
- `repair`: moving a torn tail to a quarantine file (never destroying a byte);
- `rewrite`: compaction after retention archived events;
- `files`: the operating-system side (open, lock, write, quarantine, errors);
- `store`: `JsonlStore`, the Store over all of them.
"""

from chronik.stores.jsonl.store import IMPORT_COMMIT_EVENTS, JsonlStore

__all__ = ["IMPORT_COMMIT_EVENTS", "JsonlStore"]

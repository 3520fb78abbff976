"""Lifecycle services: moving recorded events in and out of ledgers.

- `export_events`: a ledger's events as JSON Lines (the interchange format), a JSON array or CSV.
- `import_events`: an export into a ledger, verbatim after re-verifying the chain (or re-chained).
- `copy_ledger`: a whole ledger from one store to another, resumable.

Each is a library function the CLI wraps (`chronik export`, `import`, `copy`).
"""

from chronik.lifecycle.copy import CopyRefused, CopyReport, copy_ledger
from chronik.lifecycle.export import FORMATS, export_events
from chronik.lifecycle.importing import ImportReport, import_events

__all__ = ["FORMATS", "CopyRefused", "CopyReport", "ImportReport", "copy_ledger", "export_events",
           "import_events"]

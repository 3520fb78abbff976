"""Sindri v3 compatibility: everything about Sindri's status ledger file (REFERENCE.md section 1).

    lines.py      the line format: envelope, parse (bad lines reported, skipped), encode
    queries.py    Sindri's own read semantics: latest status, history, query, stats, compaction rule
    file.py       the file shared with Sindri: locked append, compaction and quarantine
    backend.py    the extension backend over a Sindri file (service.Backend), with Sindri's
                  per-call-site state pairs
    transfer.py   import a Sindri file into a chronik ledger; export records as Sindri lines

The rest of the pack knows nothing of this format; only service.py chooses this backend.
"""

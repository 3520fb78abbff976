"""Domain packs: the seed systems built on the ledger (DESIGN section 4; docs/architecture.md,
"Domain packs", is the template).

Each pack is a folder: events.py (its event types, their fields, the catalog of types),
reducer.py (pure, module-level Reducer subclasses), service.py (its use cases over the
`chronik.Ledger` facade and typed Protocols), cli.py (a thin click group) and, where it has one,
compat/ (all code about the real system's data format). Packs are listed in registry.py, which
the interfaces read; nothing here is imported by `import chronik`, and importing this package
imports no pack.
"""

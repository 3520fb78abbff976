"""A toy domain pack (a to-do list), written by copying the extensions pack's template
(docs/architecture.md, "Domain packs") to prove that the template is enough."""

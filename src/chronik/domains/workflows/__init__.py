"""Workflows: a workflow's steps, gates, retries, rollbacks, children and cancellation as events
(stream `workflow:ID`), its state a pure fold of them, any past moment inspectable, for the
people who run workflows and the auditors who check them (the original: code-chef, REFERENCE.md
section 3; migration from its legacy state table in docs/workflows.md)."""

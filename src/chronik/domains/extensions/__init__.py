"""The extensions pack: which developer toolchains are installed, what failed, why and when,
on a chronik ledger or a real Sindri v3 status ledger (docs/extensions.md). It is the template
every domain pack copies (docs/architecture.md, "Domain packs")."""

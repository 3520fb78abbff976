"""Integrity services: signing keys, signatures, anchors and the extended `verify`.

- `keys`: the HMAC-SHA256 keyring (key ids, one active signing key, older verify-only keys),
  loaded from a file with mode 0600 or from $CHRONIK_KEYS, never from the command line.
- `signing`: the `sig` format and the per-event signature check that `verify` passes into the
  core `chronik.chain.ChainChecker`.
- `anchors`: signed head checkpoints (`chronik anchor`) that let `verify` detect tail truncation
  and rollback.
- `verify`: the full verification (chain, positions, versions, signatures, anchor) and its report.

See docs/integrity.md and docs/adr/0009-signatures-and-anchors.md.
"""

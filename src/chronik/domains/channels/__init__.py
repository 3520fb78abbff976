"""The channels pack: a state-channel node's append-only event log (the 20 event types of
evmts/channels, validated by their JSON Schemas, with content-addressed keccak256 ids), the
plan's store API over any chronik store (`EventLog`: append -> offset, read_from, read_range,
subscribe), and objectives and channels reconstructed from their events (docs/channels.md)."""

"""Agent sessions: what AI coding agents did, so a later session knows where it left off.

An agent instance (`odin-PS-8f4a2b`) registers, heartbeats and emits typed events (epic_started,
test_passed, commit_created, deployment_completed, checkpoint_created, ...) into its own stream
`instance:ID`; any later session queries and replays them and is told where it stands and what
to do next. Agents reach it through MCP (`chronik mcp`, the tools of tools.py under the names of
the real system, supervisor-service-s); people through `chronik session` and this package.

Modules: events.py (the catalog of 32 types in 7 categories), checks.py (event data against
the catalog), catalog_file.py (a user's own types from JSON or TOML), reducer.py (an instance's
state), resume.py (the rules that turn a state into "where did I leave off"), service.py (the
use cases), instances.py (register, heartbeat, the stale sweep), queries.py (query, replay,
stats), retention.py (the pack's retention), tools.py (its MCP tools), cli.py.
"""

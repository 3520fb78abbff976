"""`chronik mcp`: serve the ledger's tools and the packs' tools to MCP clients (AI agents).

Thin: it opens the ledger `--ledger` names and hands it to chronik.mcp (stdio by default, or
streamable HTTP with --http).
"""

from __future__ import annotations

import click

from chronik.cli.state import cli_state


@click.command()
@click.option("--http", "use_http", is_flag=True, help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio.")
@click.option("--host", default="127.0.0.1", show_default=True, help="With --http: the address to bind.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="With --http: the port (0 picks a free one; the address is printed to stderr).")
@click.option("--token", envvar="CHRONIK_MCP_TOKEN", show_envvar=True, metavar="TOKEN",
              help="With --http: the bearer token clients must send (required off loopback).")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="HOST[:PORT]",
              help="With --http: another Host header to accept (e.g. a proxy's name).")
@click.option("--allowed-origin", "allowed_origins", multiple=True, metavar="ORIGIN",
              help="With --http: another Origin to accept (e.g. https://app.example).")
def mcp(use_http: bool, host: str, port: int, token: str | None, allowed_hosts: tuple[str, ...],
        allowed_origins: tuple[str, ...]) -> None:
    """Serve chronik to MCP clients: over stdio (what Claude Desktop and Claude Code start), or
    over streamable HTTP with --http.

    Tools: the agent-session tools (mcp_meta_emit_event, mcp_meta_query_events,
    mcp_meta_replay_events, mcp_meta_list_event_types, mcp_meta_register_instance,
    mcp_meta_heartbeat, mcp_meta_resume, ...) and the ledger tools (chronik_append,
    chronik_read_stream, chronik_query, chronik_streams, chronik_head, chronik_verify).
    See docs/mcp.md for client configuration.
    """
    with cli_state().open_ledger() as ledger:
        if use_http:
            from chronik.mcp.http import serve_http

            serve_http(ledger, host, port, token, allowed_hosts, allowed_origins)
        else:
            from chronik.mcp.server import run_stdio

            run_stdio(ledger)

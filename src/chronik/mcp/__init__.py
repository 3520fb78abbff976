"""The MCP server (`chronik mcp`): chronik's ledger tools and every domain pack's tools, over
stdio or streamable HTTP, with the official `mcp` SDK (the `chronik[mcp]` extra).

server.py builds the SDK server from tool specs (chronik.domains.mcpkit); ledger_tools.py holds
the general ledger tools; http.py the streamable HTTP transport with its bearer token and
Host/Origin checks. Packs contribute tools through their registry entry (`mcp_tools`).
"""

"""`chronik serve`: the HTTP API, live stream, metrics and web UI (chronik.http.create_app) under
uvicorn."""

from __future__ import annotations

import click

from chronik.cli.state import cli_state
from chronik.errors import ValidationError

SERVE_OPTION_NAMES = {"token": "--token-file", "read_only_token": "--read-only-token-file",
                      "token_file": "--token-file", "read_only_token_file": "--read-only-token-file",
                      "host": "--host", "port": "--port", "reducer": "--reducer", "reducers": "--reducer",
                      "allowed_hosts": "--allowed-host", "allowed_origins": "--allowed-origin",
                      "cors_origins": "--cors-origin", "heartbeat_s": "--heartbeat-s",
                      "client_buffer_events": "--client-buffer"}


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, metavar="ADDRESS",
              help="Address to bind. Anything but a loopback address needs a token.")
@click.option("--port", default=8470, show_default=True, type=click.IntRange(1, 65535), metavar="PORT",
              help="TCP port.")
@click.option("--token-file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Bearer token (first line; the file must be mode 0600). Default: $CHRONIK_HTTP_TOKEN.")
@click.option("--read-only-token-file", metavar="FILE", type=click.Path(dir_okay=False),
              help="A second token that may only read. Default: $CHRONIK_HTTP_READ_TOKEN.")
@click.option("--read-only", is_flag=True, help="Refuse every append; open the ledger read-only.")
@click.option("--reducer", "reducer_specs", multiple=True, metavar="MODULE:NAME",
              help="Offer this reducer for replay, diff and time travel (repeatable); packs offer theirs.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Accept this Host header too (e.g. the server's DNS name); repeatable.")
@click.option("--allowed-origin", "allowed_origins", multiple=True, metavar="ORIGIN",
              help="Accept browser requests from this origin too (https://ops.example); repeatable.")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="Send CORS headers to this origin (none by default); repeatable.")
@click.option("--heartbeat-s", default=15.0, show_default=True, type=click.FloatRange(min=0.05),
              metavar="SECONDS", help="Live streams send a heartbeat after this long without events.")
@click.option("--client-buffer", "client_buffer_events", default=10_000, show_default=True,
              type=click.IntRange(min=1), metavar="EVENTS",
              help="Events queued for one live client; one that falls further behind is disconnected.")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]), help="uvicorn's log level.")
def serve(host: str, port: int, token_file: str | None, read_only_token_file: str | None, read_only: bool,
          reducer_specs: tuple[str, ...], allowed_hosts: tuple[str, ...], allowed_origins: tuple[str, ...],
          cors_origins: tuple[str, ...], heartbeat_s: float, client_buffer_events: int, log_level: str) -> None:
    """Serve the ledger over HTTP: the JSON API (/v1/...), live events (/v1/subscribe, SSE or
    NDJSON), /metrics, /healthz, /readyz, /openapi.json and the web UI at /.

    Binds 127.0.0.1 unless --host says otherwise, which needs a token. Needs the http extra:
    pip install 'chronik[http]'. See docs/http.md.
    """
    try:
        import uvicorn

        from chronik.http import config as http_config
        from chronik.http.app import create_app
    except ImportError as exc:
        raise click.UsageError(f"chronik serve needs the http extra ({exc.name} is missing): "
                               "pip install 'chronik[http]'") from None
    try:
        token = (http_config.read_token_file(token_file, "token_file") if token_file
                 else http_config.token_from_environment(http_config.TOKEN_ENV))
        read_token = (http_config.read_token_file(read_only_token_file, "read_only_token_file")
                      if read_only_token_file else http_config.token_from_environment(http_config.READ_ONLY_TOKEN_ENV))
        app = create_app(cli_state().ledger_url, host=host, port=port, token=token, read_only_token=read_token,
                         read_only=read_only, reducer_specs=reducer_specs, allowed_hosts=allowed_hosts,
                         allowed_origins=allowed_origins, cors_origins=cors_origins, heartbeat_s=heartbeat_s,
                         client_buffer_events=client_buffer_events)
    except ValidationError as error:
        from chronik.cli.inputs import rename_field

        raise rename_field(error, SERVE_OPTION_NAMES) from None
    click.echo(f"chronik: serving {app.state.chronik.ledger.url} on http://{host}:{port}/", err=True)
    # Live streams stay open until their clients leave: on Ctrl-C, give them a moment, then go.
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=2,
                proxy_headers=False, server_header=False)

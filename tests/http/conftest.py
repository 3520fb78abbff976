"""A real `chronik serve` process per test (or per module), reached over HTTP with httpx."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from http_server import Server

StartServer = Callable[..., Server]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """start_server(*serve_args, ledger=URL, env={...}) -> a ready Server; stopped after the test."""
    started: list[Server] = []

    def start(*args: str, ledger: str | None = None, env: dict[str, str] | None = None,
              wait: bool = True, host: str = "127.0.0.1") -> Server:
        server = Server(ledger or f"sqlite:///{tmp_path / 'ledger.db'}", *args, env=env, host=host)
        started.append(server)
        return server.wait_ready() if wait else server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for a module's read-mostly tests, with the test reducer offered."""
    folder = tmp_path_factory.mktemp("http")
    server = Server(f"sqlite:///{folder / 'ledger.db'}", "--reducer", "http_reducers:Tally",
                    "--heartbeat-s", "0.5").wait_ready()
    yield server
    server.stop()

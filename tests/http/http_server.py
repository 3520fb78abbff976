"""`chronik serve` as a child process, for the HTTP tests and their fixtures."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).parent
START_TIMEOUT_S = 20.0
# Never inherited: a developer's tokens, ledger or keys must not change what a test sees.
AMBIENT = ("CHRONIK_HTTP_TOKEN", "CHRONIK_HTTP_READ_TOKEN", "CHRONIK_URL", "CHRONIK_KEYS", "CHRONIK_KEYS_FILE")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`chronik --ledger URL serve --port P ARGS...` as a child process."""

    def __init__(self, ledger_url: str, *args: str, env: dict[str, str] | None = None,
                 host: str = "127.0.0.1") -> None:
        self.ledger_url = ledger_url
        self.port = free_port()
        self.host = host
        self.base_url = f"http://127.0.0.1:{self.port}"
        ambient = {key: value for key, value in os.environ.items() if key not in AMBIENT}
        environment = {**ambient, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
                       **(env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chronik.cli", "--ledger", ledger_url, "serve", "--host", host,
             "--port", str(self.port), *args],
            env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self) -> Server:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"chronik serve exited {self.process.returncode}: {self.output()}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError(f"chronik serve did not answer within {START_TIMEOUT_S}s")

    def client(self, **options: object) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10, **options)  # type: ignore[arg-type]

    def output(self) -> str:
        if self.process.poll() is None:
            return ""
        assert self.process.stdout is not None
        return self.process.stdout.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

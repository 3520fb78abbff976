"""A PostgreSQL server for the tests: $CHRONIK_TEST_PG_URL when set, else a throwaway one.

The throwaway server is made from the machine's PostgreSQL binaries (initdb, pg_ctl) in a
temporary directory, listening on 127.0.0.1 and a free port, run as the `postgres` user when the
tests run as root (PostgreSQL refuses to run as root), and stopped at the end of the session.
There is no silent skip: without a server the PostgreSQL tests fail and say why.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field

import psycopg


@dataclass
class PostgresServer:
    url: str
    data_dir: str | None = None  # set when we started it (and may stop or crash it)
    bin_dir: str | None = None
    user: str | None = None
    schemas: list[str] = field(default_factory=list)

    def schema_url(self, prefix: str = "t") -> str:
        """A URL for a fresh schema; dropped by drop_schemas()."""
        schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.schemas.append(schema)
        sep = "&" if "?" in self.url else "?"
        return f"{self.url}{sep}schema={schema}"

    def drop_schemas(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            for schema in self.schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        self.schemas.clear()

    def pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        assert self.data_dir and self.bin_dir, "only a throwaway server can be controlled"
        return _run_as(self.user, [os.path.join(self.bin_dir, "pg_ctl"), "-D", self.data_dir, *args], check)

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("stop", "-m", mode, "-w")

    def start(self) -> None:
        self.pg_ctl("start", "-w", "-t", "60", "-l", os.path.join(self.data_dir, "server.log"))


def find_bin_dir() -> str | None:
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip()
        if os.path.exists(os.path.join(out, "initdb")):
            return out
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return os.path.dirname(candidates[0])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def start_throwaway() -> PostgresServer:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError("no PostgreSQL binaries (initdb, pg_ctl) found and CHRONIK_TEST_PG_URL is "
                           "not set; install PostgreSQL or point CHRONIK_TEST_PG_URL at a server")
    user = "postgres" if os.geteuid() == 0 else None
    if user is not None:
        pwd.getpwnam(user)  # KeyError names the missing user
    data_dir = tempfile.mkdtemp(prefix="chronik-pg-")
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    _run_as(user, [os.path.join(bin_dir, "initdb"), "-D", data_dir, "-A", "trust", "-U", "postgres",
                   "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"], True)
    with open(os.path.join(data_dir, "postgresql.conf"), "a") as conf:
        conf.write(f"\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{data_dir}'\n"
                   "max_connections = 200\nshared_buffers = 128MB\nfsync = on\nsynchronous_commit = on\n")
    server = PostgresServer(f"postgresql://postgres@127.0.0.1:{port}/postgres", data_dir, bin_dir, user)
    server.start()
    _wait_ready(server.url)
    return server


def stop_throwaway(server: PostgresServer) -> None:
    try:
        server.stop("fast")
    finally:
        shutil.rmtree(server.data_dir, ignore_errors=True)


def server_from_environment() -> tuple[PostgresServer, bool]:
    """(server, started_by_us)."""
    url = os.environ.get("CHRONIK_TEST_PG_URL")
    if url:
        _wait_ready(url, timeout_s=10)
        return PostgresServer(url), False
    return start_throwaway(), True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _run_as(user: str | None, argv: list[str], check: bool) -> subprocess.CompletedProcess:
    if user is not None:
        argv = ["runuser", "-u", user, "--", *argv]
    result = subprocess.run(argv, capture_output=True, text=True, cwd="/")
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


# ---------------------------------------------------------------- one server per test session

_shared: tuple[PostgresServer, bool] | None = None


def shared_server() -> PostgresServer:
    """The session's server, started on first use (see tests/conftest.py for the shutdown)."""
    global _shared
    if _shared is None:
        _shared = server_from_environment()
    return _shared[0]


def shutdown_shared_server() -> None:
    global _shared
    if _shared is None:
        return
    server, started_by_us = _shared
    _shared = None
    try:
        server.drop_schemas()
    finally:
        if started_by_us:
            stop_throwaway(server)

"""Helpers for the SQLite store tests: real ledger files, written by the store itself, and a way to
run code as a user the file modes apply to (root ignores them)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chronik import codec
from chronik.model import Expect
from chronik.stores import open_store
from chronik.stores.base import PendingEvent, StreamBatch

# An unprivileged account the test can run as when it runs as root.
UNPRIVILEGED = "nobody"


def sqlite_url(path: Path | str) -> str:
    return "sqlite:///" + str(path).lstrip("/")


def pending(n: int, pad: int = 300) -> PendingEvent:
    return PendingEvent("wrote", str(uuid.uuid4()), "2026-11-22T01:15:09.000000Z",
                        codec.encode_json({"n": n, "pad": "x" * pad}), b"{}", False)


def write_ledger(path: Path, events: int = 400, per_append: int = 10) -> None:
    """A ledger of `events` events on five streams, closed cleanly (no -wal left behind)."""
    store = open_store(sqlite_url(path))
    try:
        for start in range(0, events, per_append):
            batch = [pending(n) for n in range(start, min(start + per_append, events))]
            store.append([StreamBatch(f"order:{(start // per_append) % 5}", Expect.ANY, batch)])
    finally:
        store.close()


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file in `folder` and a digest of its bytes."""
    return {entry.name: hashlib.sha256(entry.read_bytes()).hexdigest()
            for entry in sorted(folder.iterdir()) if entry.is_file()}


def run_unprivileged(work: Callable[..., Any], *args: Any) -> Any:
    """`work(*args)` in a forked child that runs as a user whom file modes bind (as root: the
    UNPRIVILEGED account, its privileges dropped after the fork; otherwise the current user),
    and its JSON-able result. Forked rather than executed, so the interpreter need not be
    reachable by that account; everything `work` needs must be imported already."""
    entry = pwd.getpwnam(UNPRIVILEGED) if os.geteuid() == 0 else None
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(read_fd)
            if entry is not None:
                os.setgroups([])
                os.setgid(entry.pw_gid)
                os.setuid(entry.pw_uid)
            payload = {"result": work(*args)}
            status = 0
        except BaseException:
            payload = {"crash": traceback.format_exc()}
        os.write(write_fd, json.dumps(payload).encode())
        os._exit(status)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    os.waitpid(pid, 0)
    payload = json.loads(b"".join(chunks))
    assert "crash" not in payload, payload["crash"]
    return payload["result"]


@contextlib.contextmanager
def reachable_folder() -> Iterator[Path]:
    """A fresh folder under the system temp folder that the unprivileged account can reach
    (pytest's own base folder is private to its user), removed afterwards whatever its modes."""
    folder = Path(tempfile.mkdtemp(prefix="chronik-ro-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(folder, ignore_errors=True)


# A read-only bind mount binds root too (file modes do not): it needs root on Linux, which CI has.
needs_root_mounts = pytest.mark.skipif(not (sys.platform.startswith("linux") and os.geteuid() == 0),
                                       reason="a read-only bind mount needs root on Linux")


@contextlib.contextmanager
def read_only_mount(source: Path, mount: Path) -> Iterator[Path]:
    """`source` bind-mounted read-only at `mount` (really read-only: checked for root), for the
    length of the block."""
    mount.mkdir()
    subprocess.run(["mount", "--bind", str(source), str(mount)], check=True, capture_output=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], check=True, capture_output=True)
        with pytest.raises(OSError):
            (mount / "probe").write_bytes(b"")
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False, capture_output=True)

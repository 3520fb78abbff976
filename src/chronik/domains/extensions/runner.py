"""Running a lifecycle command for real: output to a log file, the tail of stderr as the error,
and who ran it (pid, host, process start) so a later status can tell a live run from a dead one."""

from __future__ import annotations

import io
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

ERROR_TAIL_LINES = 5
ERROR_MAX_CHARS = 1000
STDERR_KEEP_BYTES = 64 * 1024
READ_CHUNK_BYTES = 8192


class RunOutcome(msgspec.Struct, frozen=True):
    exit_code: int | None  # None: the command could not be started
    duration_s: int
    error: str | None  # the last lines of stderr (or why it did not run / was stopped)
    log_file: str
    interrupted: str | None = None  # SIGINT / SIGTERM when the run was stopped


def process_start(pid: int) -> int | None:
    """The kernel's start time of `pid` (clock ticks since boot), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def runner_identity() -> dict[str, object]:
    pid = os.getpid()
    return {"pid": pid, "host": os.uname().nodename, "start": process_start(pid)}


def runner_alive(runner: dict[str, object] | None) -> bool | None:
    """True/False for a runner on this host; None when unknown (no runner, another host)."""
    pid = runner.get("pid") if runner else None
    if not runner or runner.get("host") != os.uname().nodename or not isinstance(pid, int):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    start = process_start(pid)
    return runner.get("start") is None or start is None or start == runner.get("start")


def error_tail(stderr: bytes, max_lines: int = ERROR_TAIL_LINES, max_chars: int = ERROR_MAX_CHARS) -> str:
    """The last lines of stderr, cut to `max_chars` characters (never inside a character)."""
    text = stderr.decode("utf-8", "replace").rstrip()
    text = "\n".join(text.splitlines()[-max_lines:])
    return text if len(text) <= max_chars else "…" + text[len(text) - max_chars + 1:]


class Stopped(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def run(argv: Sequence[str], log_path: Path, timeout_s: float | None = None) -> RunOutcome:
    """Run `argv`, all output to `log_path`; Ctrl-C or SIGTERM stop it and say so."""
    import subprocess  # here: `ext status` imports this module to check runners, never to run one

    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log_path, "ab") as log:
        log.write(f"$ {' '.join(argv)}\n".encode())
        log.flush()
        try:
            child = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            message = f"not found: {argv[0]}"
            log.write((message + "\n").encode())
            return RunOutcome(None, 0, message, str(log_path))
        except OSError as exc:
            message = f"cannot run {argv[0]}: {exc.strerror or exc}"
            log.write((message + "\n").encode())
            return RunOutcome(None, 0, message, str(log_path))
        previous = signal.getsignal(signal.SIGTERM)

        def on_term(_signum: int, _frame: object) -> None:
            raise Stopped("SIGTERM")

        try:
            signal.signal(signal.SIGTERM, on_term)
        except ValueError:  # not the main thread
            previous = None
        kept = bytearray()
        try:
            try:
                stderr = child.stderr
                assert isinstance(stderr, io.BufferedReader)  # PIPE in binary mode
                for chunk in iter(lambda: stderr.read1(READ_CHUNK_BYTES), b""):
                    log.write(chunk)
                    kept += chunk
                    del kept[:-STDERR_KEEP_BYTES]
                    if timeout_s is not None and time.monotonic() - started > timeout_s:
                        raise Stopped(f"timeout after {timeout_s:g} s")
                code = child.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                raise Stopped(f"timeout after {timeout_s:g} s") from None
            except KeyboardInterrupt:
                raise Stopped("SIGINT") from None
        except Stopped as stop:
            child.terminate()
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            duration = round(time.monotonic() - started)
            tail = error_tail(bytes(kept))
            message = f"interrupted ({stop.name})" + (f": {tail}" if tail else "")
            log.write(f"\n[chronik] {message}\n".encode())
            return RunOutcome(child.returncode, duration, message, str(log_path), interrupted=stop.name)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        duration = round(time.monotonic() - started)
        log.write(f"\n[chronik] exit code {code}\n".encode())
    error = None if code == 0 else (error_tail(bytes(kept)) or f"exit code {code}")
    return RunOutcome(code, duration, error, str(log_path))

"""Exit codes and how failures are reported.

    0  ok
    1  error: the ledger could not do it (StorageError, NotFound, any other ChronikError)
    2  usage: bad command line or bad input (click usage errors and ValidationError, which
       includes LimitExceeded and DuplicateIdError); nothing was written
    3  verification failed: `verify` found a problem, or IntegrityError (corrupt data)
    4  concurrency conflict: the stream was not at the expected version (ConcurrencyError)
    130  interrupted: Ctrl-C, at any moment (nothing more is printed)

A failure prints one line to stderr, `Error: <option>: <problem> (<fix>)` (the library names a
field; chronik.cli.inputs.options_named names the option that sets it); with --json it prints
the error as one JSON object (`{"error": class, "message": ..., "exit_code": ...}` plus the
error's own fields) to stderr, so stdout only ever carries results.
"""

from __future__ import annotations

from typing import Any

from chronik.cli.output import json_text, write_error_line
from chronik.errors import ChronikError, ValidationError

OK = 0
ERROR = 1
USAGE = 2
VERIFY_FAILED = 3
CONFLICT = 4
INTERRUPTED = 130


def exit_code_for(error: ChronikError) -> int:
    # Bad input is a usage error at the command line, whatever the library's default code.
    if isinstance(error, ValidationError):
        return USAGE
    return error.exit_code


def report_failure(error: ChronikError, json_output: bool) -> int:
    """Print `error` for a person or a script; return the exit code it means."""
    code = exit_code_for(error)
    if json_output:
        write_error_line(json_text(error_as_dict(error, code)))
    else:
        write_error_line(f"Error: {error}")
    return code


def error_as_dict(error: ChronikError, code: int) -> dict[str, Any]:
    return {**error.to_dict(), "exit_code": code}

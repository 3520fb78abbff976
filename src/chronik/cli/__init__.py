"""The `chronik` command line: thin click commands over the Ledger API.

Each command parses its options, makes one library call and formats the result (tables for
people, JSON Lines with --json). docs/cli.md is generated from the commands' --help by
`python -m chronik.cli.docgen > docs/cli.md`.
"""

# Ctrl-C while the CLI's modules load exits 130 without a traceback. Set here, the first CLI code
# that runs, with the C module behind `signal` (already loaded; `signal` itself imports enum,
# ~5 ms); chronik.cli.main restores Python's handler once everything is loaded.
import _signal  # type: ignore[import-not-found]  # noqa: E402
import os  # noqa: E402


def _interrupted_while_loading(_signum: int, _frame: object) -> None:
    os._exit(130)  # Ctrl-C before any command ran: nothing to clean up, nothing to say


def _silence_ctrl_c_while_loading() -> object:
    """Only in the main thread (handlers cannot be set elsewhere) and only over Python's own."""
    if _signal.getsignal(_signal.SIGINT) is not _signal.default_int_handler:
        return None
    try:
        return _signal.signal(_signal.SIGINT, _interrupted_while_loading)
    except ValueError:  # not the main thread
        return None


LOADING_HANDLER = _silence_ctrl_c_while_loading()

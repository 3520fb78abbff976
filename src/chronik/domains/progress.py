"""The progress bar of long work (copy, import, export, retention apply, ext import).

Shared by the `chronik` CLI and the domain packs (a pack imports nothing from chronik.cli), so
every long command shows the same bar: what it does, the bar, done/total, events per second
and the time left. It goes to stderr, and only when stderr is a terminal and the command was
not asked for --json: a pipe, a log file or a script gets no bar at all, so stdout and stderr
carry only results and messages. The bar is transient: it is erased when the work ends, so
what stays on the screen is the command's own output.

rich is imported only when a bar is shown, so commands that run piped start fast.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# progress(done, total): called by the library's long operations after each chunk.
Progress = Callable[[int, int], None]


def wants_bar(quiet: bool) -> bool:
    """A bar is for a person watching: stderr is a terminal and the output is not --json."""
    return not quiet and sys.stderr.isatty()


@contextmanager
def progress_bar(description: str, quiet: bool) -> Iterator[Progress | None]:
    """A `Progress` callback that draws a bar on stderr, or None (nothing drawn) when `quiet`
    (--json) or stderr is not a terminal. Pass the callback to the library call as is."""
    if not wants_bar(quiet):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress

    rate = TextColumn("{task.fields[rate]}")
    with RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), rate,
                      TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=None, rate="")
        started = time.monotonic()

        def update(done: int, total: int) -> None:
            # The mean rate since the start: shown from the first chunk on (rich's own speed
            # needs several samples, and a short job may report only once).
            elapsed = time.monotonic() - started
            rate = f"{done / elapsed:,.0f} events/s" if done and elapsed > 0 else ""
            bar.update(task, completed=done, total=total, rate=rate)

        yield update

"""How results look: JSON Lines for scripts; aligned lines and tables for people.

Every --json output is JSON Lines: a command that lists things prints one JSON object per
line; a command with one result prints exactly one line.

Human output escapes control characters in whatever it prints (chronik.domains.textout, shared
with the domain packs), so event data cannot drive the terminal, and rich never reads user
text as markup. It is never padded (no trailing spaces) and never wrapped here: piped output
gets plain aligned text, a terminal gets rich tables (bold headers, long cells folded to the
width) with titles on a line of their own. `rich` is imported only when a table or styled text
goes to a terminal, so other commands (and --help) start fast.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from chronik.domains.textout import (
    json_text,
    one_line_safe,
    terminal_safe,
    write_error_line,
    write_json_line,
    write_line,
    write_table,
)
from chronik.model import Event

__all__ = ["json_text", "write_error_line", "write_json_line", "write_line", "print_table", "print_fields",
           "print_text", "write_events", "event_line", "people_width", "short_time"]

LOG_HEADER = f"{'POS':>5} {'TIME (UTC)':<19} {'STREAM@VERSION':<24} {'TYPE':<17} DATA"
STREAM_HEADER = f"{'POS':>5} {'VER':>4} {'TIME (UTC)':<19} {'TYPE':<17} DATA"
MIN_DATA_CHARS = 12
WIDE_LAYOUT_COLUMNS = 100
DATA_INDENT = " " * 6
# Trailing spaces, and the style codes among them, at the end of a rendered line.
_TRAILING_BLANKS = re.compile(r"(?:\x1b\[[0-9;]*m| )+$")
_STYLE_CODE = re.compile(r"\x1b\[[0-9;]*m")


def short_time(time: str) -> str:
    """2026-11-22T01:15:09.123456Z -> 2026-11-22 01:15:09 (UTC, to the second)."""
    return time[:19].replace("T", " ")


def event_line(event: Event, width: int | None, show_stream: bool = True) -> str:
    """One event as an aligned line. With a `width` (a terminal), the data is cut to fit; on a
    terminal narrower than WIDE_LAYOUT_COLUMNS it goes on a second, indented line instead."""
    time = short_time(event.time)
    if show_stream:
        line = f"{event.position:>5} {time:<19} {f'{event.stream}@{event.version}':<24} {event.type:<17} "
    else:
        line = f"{event.position:>5} {event.version:>4} {time:<19} {event.type:<17} "
    data = json_text(event.data)
    if width is None:
        return line + data
    if width < WIDE_LAYOUT_COLUMNS and len(line) + len(data) > width:
        return line.rstrip() + "\n" + DATA_INDENT + _cut(data, width - len(DATA_INDENT))
    return line + _cut(data, max(width - len(line), MIN_DATA_CHARS))


def _cut(text: str, room: int) -> str:
    return text if len(text) <= room else text[:room - 1] + "…"


def people_width() -> int | None:
    """The terminal width when stdout is a terminal; None (never cut) when it is piped."""
    if not sys.stdout.isatty():
        return None
    import shutil  # pulls in compression modules; only people at a terminal need it

    return shutil.get_terminal_size().columns


def write_events(events: Iterable[Event], json_output: bool, flush: bool = False,
                 show_stream: bool = True, width: int | None = None) -> int:
    """Print events as they arrive (so huge logs and --follow stream); returns how many.

    People get a header and one aligned line per event, cut to `width` (default: the terminal's
    width, or never when piped); --json gets one event object per line."""
    count = 0
    width = width or people_width()
    for event in events:
        if json_output:
            write_json_line(event, flush)
        else:
            if count == 0:
                write_line(LOG_HEADER if show_stream else STREAM_HEADER)
            write_line(event_line(event, width, show_stream), flush)
        count += 1
    return count


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None,
                right_aligned: Sequence[str] = (), show_header: bool = True) -> None:
    if not sys.stdout.isatty():
        write_table(columns, rows, right_aligned, show_header, title)
        return
    from rich.table import Table

    if title:
        print_text(title, style="bold")
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 2, 0, 0), show_header=show_header)
    for column in columns:
        table.add_column(column, justify="right" if column in right_aligned else "left",
                         overflow="fold", no_wrap=column == columns[0])
    for row in rows:
        table.add_row(*("" if cell is None else one_line_safe(str(cell)) for cell in row))
    _print_unpadded(table)


def print_fields(fields: Sequence[tuple[str, Any]], title: str | None = None) -> None:
    """Name/value pairs, one per line, aligned."""
    print_table(("FIELD", "VALUE"), fields, title=title, show_header=False)


def print_text(text: str, style: str | None = None) -> None:
    """A line (or lines) of text; styled on a terminal, never wrapped."""
    if not sys.stdout.isatty():
        write_line(text)
        return
    console().print(terminal_safe(text), style=style, highlight=False, soft_wrap=True)


def _print_unpadded(renderable: Any) -> None:
    """Render with rich, then drop the spaces rich pads each line with (keeping style codes)."""
    terminal = console()
    with terminal.capture() as captured:
        terminal.print(renderable)
    lines = captured.get().split("\n")
    sys.stdout.write("\n".join(_TRAILING_BLANKS.sub(lambda m: "".join(_STYLE_CODE.findall(m.group())), line)
                               for line in lines))
    sys.stdout.flush()


def console() -> Any:
    from rich.console import Console

    # Made per call: it then writes to the current sys.stdout (tests swap it). No markup,
    # emoji codes or highlighting: user text is shown as it is.
    return Console(highlight=False, markup=False, emoji=False)

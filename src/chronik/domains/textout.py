"""Text for people and for scripts, shared by the `chronik` CLI and the domain packs' groups.

Two rules hold for everything written here:
- Nothing from the data reaches a terminal as a control sequence: `terminal_safe` shows control
  characters (C0 but newline and tab, DEL, C1) and bidirectional overrides as escapes (`\\x1b`),
  so an event or a foreign ledger cannot recolour, move the cursor or retitle the terminal.
  JSON output keeps the same values: those characters are written as JSON `\\u` escapes.
- Nothing is padded: lines end at their last visible character (tables included), and nothing
  is wrapped here; a terminal may soft-wrap a long line, a pipe gets it whole.

Plain functions with no dependency beyond msgspec, so a pack's `status` prints without rich.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

ONE_LINE_CHARS = 60
COLUMN_GAP = "  "

_encode_json = msgspec.json.Encoder().encode
# C0 controls except tab and newline, DEL, C1 controls, and the bidirectional embeddings,
# overrides and isolates (U+202A-U+202E, U+2066-U+2069) that reorder what a terminal shows.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# In JSON text, C0 is already escaped by the encoder; these remain (and the line separators,
# which some terminals and JavaScript treat as newlines).
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """`text` with control characters shown as escapes (newline and tab kept)."""
    return _UNSAFE.sub(_escape, text)


def one_line_safe(text: str) -> str:
    """`text` for a single line or table cell: newlines and tabs escaped too."""
    return terminal_safe(text).replace("\n", "\\n").replace("\t", "\\t")


def json_text(value: Any) -> str:
    """Compact JSON (Struct fields in declaration order) that is safe on a terminal."""
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", _encode_json(value).decode())


def write_line(text: str, flush: bool = False) -> None:
    """One line of human output on stdout (control characters escaped)."""
    sys.stdout.write(terminal_safe(text) + "\n")
    if flush:
        sys.stdout.flush()


def write_json_line(value: Any, flush: bool = False) -> None:
    """One JSON value on one line of stdout (msgspec Structs, dicts, lists, enums)."""
    sys.stdout.write(json_text(value) + "\n")
    if flush:
        sys.stdout.flush()


def write_error_line(message: str) -> None:
    """One line on stderr (a human message, or a JSON error from json_text)."""
    sys.stderr.write(terminal_safe(message) + "\n")
    sys.stderr.flush()


def one_line(text: str | None, limit: int = ONE_LINE_CHARS) -> str:
    """The first line of `text`, cut on a character to at most `limit` characters."""
    if not text or not text.strip():
        return ""
    first = text.strip().splitlines()[0]
    return first if len(first) <= limit else first[:limit - 1] + "…"


def cell_width(text: str) -> int:
    """Columns `text` takes on a terminal: wide (East Asian) characters two, combining ones none."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in text)


def aligned_lines(columns: Sequence[str], rows: Iterable[Sequence[Any]], right_aligned: Sequence[str] = (),
                  show_header: bool = True) -> list[str]:
    """A table as aligned lines: cells one line each (escaped), columns two spaces apart, no
    trailing spaces, never wrapped."""
    cells = [["" if cell is None else one_line_safe(str(cell)) for cell in row] for row in rows]
    if show_header:
        cells.insert(0, list(columns))
    if not cells:
        return []
    widths = [max(cell_width(row[i]) for row in cells) for i in range(len(columns))]
    right = [column in right_aligned for column in columns]
    lines = []
    for row in cells:
        padded = [(" " * (width - cell_width(cell)) + cell) if is_right else (cell + " " * (width - cell_width(cell)))
                  for cell, width, is_right in zip(row, widths, right, strict=True)]
        lines.append(COLUMN_GAP.join(padded).rstrip())
    return lines


def write_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], right_aligned: Sequence[str] = (),
                show_header: bool = True, title: str | None = None) -> None:
    """Print `aligned_lines` (and a title line above them) to stdout."""
    if title:
        write_line(title)
    for line in aligned_lines(columns, rows, right_aligned, show_header):
        sys.stdout.write(line + "\n")

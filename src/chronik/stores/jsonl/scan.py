"""Reading a JSON Lines ledger file into the index: the rules for what is a committed event.

Scanning from where the index ends, every line must decode as a record whose position is the
previous one plus one (plus its `skip`) and whose `more` counts down within a commit. A commit is
indexed once its last line is in, newline-terminated. What follows the last complete commit is
the tail:

- nothing (the usual case);
- a torn tail: an unterminated last line, the lines of a commit whose last line is missing, or
  zeros and other unparseable bytes. A crash in the middle of a write leaves one; so does a file
  cut short outside chronik, which loses committed events. Scanning never changes the file: the
  tail is described (`Tail.finding`), and only an explicit repair or the next write moves it to a
  quarantine file (`chronik.stores.jsonl.repair`);
- a complete last commit lacking only its final newline (`Tail.unterminated_commit`): not served
  until the newline is added, which a repair or the next write does, keeping every record.

Corruption in the middle raises IntegrityError naming the file and the 1-based line: unparseable
bytes followed by any later line that decodes as a record, a whole record out of sequence, and a
whole newline-terminated line shaped like a record that does not decode (a torn write leaves a
partial line or zeros, not that: it was changed after it was written).
"""

from __future__ import annotations

from chronik.errors import IntegrityError
from chronik.stores.jsonl.files import pread
from chronik.stores.jsonl.format import Record, decode_line, looks_like_a_damaged_record
from chronik.stores.jsonl.index import Index, Tail

# Bytes read per pread while scanning the file for new lines.
SCAN_CHUNK_BYTES = 4 * 1024 * 1024


def scan(index: Index, path: str, size: int) -> Tail:
    """Index every complete commit between `index.end` and `size`; describe what is left.

    Raises IntegrityError for corruption in the middle. Nothing is changed on disk here."""
    scanner = Scanner(index, path)
    offset = index.end
    leftover = b""
    while offset < size:
        chunk = pread(index.fd, min(SCAN_CHUNK_BYTES, size - offset), offset, path)
        if not chunk:
            size = offset  # the file shrank while we read: scan what we have
            break
        buffer = leftover + chunk
        offset += len(chunk)
        last_newline = buffer.rfind(b"\n")
        line_end = offset - len(buffer)  # where the buffer starts in the file
        if last_newline >= 0:
            for line in buffer[:last_newline].split(b"\n"):
                line_end += len(line) + 1
                scanner.line(line, line_end)
        leftover = buffer[last_newline + 1:]
    return scanner.finish(leftover, size)


class Scanner:
    """Checks lines in file order and adds each commit to the index once its last line is in."""

    def __init__(self, index: Index, path: str) -> None:
        self.index = index
        self.path = path
        self.line_no = index.count  # one line per indexed event
        self.commit: list[tuple[Record, int]] = []  # lines of the commit still open
        self.first_junk: int | None = None  # line number of the first unparseable line
        self.junk_lines = 0

    def line(self, raw: bytes, line_end: int) -> None:
        self.line_no += 1
        record = decode_line(raw)
        if self.first_junk is not None:
            if record is not None:
                raise self._corrupt(self.first_junk, "unparseable line followed by more records")
            self.junk_lines += 1
            return
        if record is None:
            if looks_like_a_damaged_record(raw):
                # Refuse rather than "repair" an acknowledged event away.
                raise self._corrupt(self.line_no, "a complete record that no longer parses (changed "
                                                  "after it was written)")
            self.first_junk = self.line_no
            self.junk_lines = 1
            return
        problem = self._sequence_problem(record)
        if problem:
            raise self._corrupt(self.line_no, problem)
        if record.more:
            self.commit.append((record, line_end))
            return
        add = self.index.add
        for done, end in self.commit:
            add(done, end)
        self.commit.clear()
        add(record, line_end)

    def finish(self, unterminated: bytes, size: int) -> Tail:
        index = self.index
        tail = Tail(index.end, size, index.count, index.head_position)
        tail.lines = len(self.commit) + self.junk_lines + (1 if unterminated else 0)
        tail.complete_records = len(self.commit)
        if self.commit:
            tail.commit_events = self.commit[0][0].more + 1
        if not unterminated:
            return tail
        self.line_no += 1
        record = decode_line(unterminated)
        if record is None:
            return tail
        if self.first_junk is not None:
            raise self._corrupt(self.first_junk, "unparseable line followed by more records")
        problem = self._sequence_problem(record)
        if problem:
            raise self._corrupt(self.line_no, problem)
        tail.complete_records += 1
        if tail.commit_events is None and record.more:
            tail.commit_events = record.more + 1
        if record.more == 0:
            tail.unterminated_commit = [*self.commit, (record, size + 1)]
        return tail

    def _sequence_problem(self, record: Record) -> str | None:
        last = self.commit[-1][0].position if self.commit else self.index.head_position
        expected_position = last + 1 + record.skip
        if record.skip < 0 or record.position != expected_position:
            return f"position {record.position} where {expected_position} was expected"
        expected_more = self.commit[-1][0].more - 1 if self.commit else None
        if record.more < 0 or (expected_more is not None and record.more != expected_more):
            return f"batch framing \"more\": {record.more} where {expected_more} was expected"
        return None

    def _corrupt(self, line_no: int, problem: str) -> IntegrityError:
        return IntegrityError(f"{self.path} is corrupt at line {line_no}: {problem}; refusing to "
                              f"read it (nothing was changed). Restore it from a copy, or inspect "
                              f"the line with: sed -n {line_no}p {self.path}")

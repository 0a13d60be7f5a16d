"""Rows of an uploaded CSV file, read so that one broken row never costs another.

The profile import and canvas entry from a CSV both read files this way. The file is
read in binary, split into physical lines, and each line decoded on its own, so a byte
that is not UTF-8 rejects only the row it is on. The csv module then joins lines into
rows where a quoted value holds a line break, which stays legal. A quote still open at
the end of the file, or after 128 KB, is taken for a stray quote: only the row it
started on is rejected, and reading resumes at the physical line after that row's
first line, so the rows it would have swallowed are read as rows of their own.

Memory stays flat: a row may hold at most MAX_ROW_BYTES, and nothing more than one
row, as much again of look-ahead, and one chunk of the file are held at a time.

Whether a row that opens a quote closes it within the limit is decided before the row
is parsed, by scanning ahead in the state the csv module would be in (inside a quoted
value). What that scan learns about each line is kept, so a file of stray quotes that
cascade (each rejected row leaving the next one open too) is still read in linear time.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

MAX_ROW_BYTES = 128 * 1024
_CHUNK_BYTES = 1 << 20
_BOM = b"\xef\xbb\xbf"
_TOO_LONG = "is longer than 128 KB"
_QUOTE_PAST_LIMIT = ("has a quote that is still open 128 KB later (a stray \"?); the lines "
                     "after it were read as rows of their own")
_QUOTE_AT_END = "has a quote that is never closed (a stray \"?)"
_QUOTE_AT_END_WITH_LINES_AFTER = (_QUOTE_AT_END
                                  + "; the lines after it were read as rows of their own")


@dataclass(slots=True)
class CsvRow:
    """One row: its cells, or why it cannot be read (``cells`` is None then)."""

    line: int  # the physical line the row starts on, counted from 1
    cells: list[str] | None
    problem: str = ""

    @property
    def blank(self) -> bool:
        """A row of empty cells, as spreadsheets save at the end: not a row of data."""
        return self.cells is not None and not any(self.cells)


def csv_rows(csv_file: BinaryIO) -> Iterator[CsvRow]:
    """Every row of a CSV file opened in binary, the header first, blank rows included.

    A leading byte-order mark (spreadsheet exports) is dropped. Line breaks may be
    ``\\r\\n``, ``\\n`` or ``\\r``.
    """
    return _Reader(_physical_lines(csv_file)).rows()


@dataclass(slots=True)
class _Line:
    number: int
    text: str
    size: int  # in bytes, line break included
    problem: str  # why the line cannot be used: not UTF-8, or too long


class _GiveUp(Exception):
    """Raised from inside the csv module's loop: the row being read is rejected."""

    def __init__(self, reason: str):
        self.reason = reason


class _Reader:
    """Feeds the csv module physical lines and tells it where each row ends.

    ``_ahead`` holds lines read from the file but not yet used. What the look-ahead scan
    learned about them: each of the first ``_open_count`` lines, entered inside a quoted
    value, ends still inside it (they weigh ``_open_size`` bytes); when
    ``_closing_known``, the line after those closes the quoted value.
    """

    def __init__(self, lines: Iterator[_Line]):
        self._file = lines
        self._ahead: deque[_Line] = deque()
        self._open_count = 0
        self._open_size = 0
        self._closing_known = False
        self._row: list[_Line] = []  # the lines of the row being read
        self._row_size = 0

    def rows(self) -> Iterator[CsvRow]:
        reader = csv.reader(self)
        while True:
            self._row = []
            self._row_size = 0
            try:
                cells = next(reader)
            except StopIteration:
                return
            except _GiveUp as give_up:
                yield CsvRow(self._row[0].number, None, give_up.reason)
                continue
            except csv.Error as error:
                yield CsvRow(self._row[0].number, None, f"cannot be split into cells: {error}")
                continue
            first = self._row[0]
            if first.problem:
                yield CsvRow(first.number, None, first.problem)
                continue
            bad = len(self._row) > 1 and next((line for line in self._row if line.problem), None)
            if bad:
                yield CsvRow(first.number, None, f"goes on to line {bad.number} inside a "
                             f"quoted value, which {bad.problem}")
                continue
            yield CsvRow(first.number, cells)

    # The csv module calls this for each line it needs.
    def __iter__(self) -> _Reader:
        return self

    def __next__(self) -> str:
        if not self._row:
            line = self._pop() if self._ahead else next(self._file)
            self._row.append(line)
            self._row_size = line.size
            if line.size > MAX_ROW_BYTES:
                raise _GiveUp(_TOO_LONG)
            return line.text
        # A quote is open at the end of the row's last line. Once checked, the lines up
        # to the one that closes it are known; the check runs again only if the csv
        # module wants more than that (it never should).
        if len(self._row) == 1 or not (self._open_count or self._closing_known):
            self._check_quote_closes(self._row_size)
        line = self._pop()
        self._row.append(line)
        self._row_size += line.size
        return line.text

    def _pop(self) -> _Line:
        line = self._ahead.popleft()
        if self._open_count:
            self._open_count -= 1
            self._open_size -= line.size
        else:
            self._closing_known = False
        return line

    def _peek(self, index: int) -> _Line | None:
        while len(self._ahead) <= index:
            line = next(self._file, None)
            if line is None:
                return None
            self._ahead.append(line)
        return self._ahead[index]

    def _check_quote_closes(self, row_size: int) -> None:
        """_GiveUp unless the quote open at the row's end closes within the limit."""
        while True:
            size = row_size + self._open_size
            following = self._peek(self._open_count)
            if following is None:
                raise _GiveUp(_QUOTE_AT_END_WITH_LINES_AFTER if self._ahead else _QUOTE_AT_END)
            if size + following.size > MAX_ROW_BYTES:
                raise _GiveUp(_QUOTE_PAST_LIMIT)
            if self._closing_known:
                return
            self._scan_inside_quotes(budget=MAX_ROW_BYTES - size)

    def _scan_inside_quotes(self, *, budget: int) -> None:
        """Learn, for the lines after the known ones, whether each ends inside quotes.

        The csv module reads them after an opening quote, the state they would be read
        in as the continuation of a row; it stops at the line that closes the quoted
        value, at the end of the file, or where the budget in bytes runs out.
        """
        start = self._open_count
        fed: list[_Line] = []
        stopped = False

        def lines() -> Iterator[str]:
            nonlocal stopped
            yield '"'
            spent = 0
            index = start
            while True:
                line = self._peek(index)
                if line is None or spent + line.size > budget:
                    stopped = True
                    return
                if fed:  # the csv module asks for more: the line before stays open
                    self._open_count += 1
                    self._open_size += fed[-1].size
                fed.append(line)
                spent += line.size
                index += 1
                yield line.text

        try:
            next(csv.reader(lines()))
        except csv.Error:
            stopped = True
        if fed and not stopped:
            self._closing_known = True
        elif fed:
            self._open_count += 1
            self._open_size += fed[-1].size


def _physical_lines(binary: BinaryIO) -> Iterator[_Line]:
    """The file's lines, each with its line break, read a chunk at a time.

    A line longer than MAX_ROW_BYTES is reported with its first bytes only, and its
    rest skipped, so that a file without line breaks is not held in memory.
    """
    number = 0
    carry = b""
    skipping = False  # inside a line already reported as too long
    chunk = binary.read(_CHUNK_BYTES)
    if chunk.startswith(_BOM):
        chunk = chunk[len(_BOM):]
    while chunk:
        lines = (carry + chunk).splitlines(keepends=True)
        # The last line may go on in the next chunk (a lone \r may be half of \r\n).
        carry = lines.pop() if not lines[-1].endswith(b"\n") else b""
        for raw in lines:
            if skipping:
                skipping = False
                continue
            number += 1
            try:  # the common case inline: this loop runs once per line of the file
                text = raw.decode()
            except UnicodeDecodeError:
                yield _decoded(number, raw)
            else:
                yield _Line(number, text, len(raw), "")
        if len(carry) > MAX_ROW_BYTES:
            if not skipping:
                number += 1
                yield _Line(number, "", len(carry), _TOO_LONG)
                skipping = True
            carry = carry[-1:] if carry.endswith(b"\r") else b""
        chunk = binary.read(_CHUNK_BYTES)
    if carry and not skipping:
        yield _decoded(number + 1, carry)


def _decoded(number: int, raw: bytes) -> _Line:
    try:
        return _Line(number, raw.decode(), len(raw), "")
    except UnicodeDecodeError as error:
        before = raw[:error.start].decode(errors="replace")[-20:]
        where = f" after {before!r}" if before else " at its start"
        return _Line(number, raw.decode(errors="replace"), len(raw),
                     f"is not UTF-8 text (byte 0x{raw[error.start]:02X}{where}); save the "
                     "file as CSV UTF-8")

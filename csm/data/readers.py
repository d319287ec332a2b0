"""Reading CSV, JSON-array and NDJSON files, and refusing what would crash or hang an import.

A file is told by its first non-blank character: ``[`` JSON, ``{`` NDJSON,
anything else CSV. JSON comes out as ``(location, record)`` pairs ("record 3
(line 4)", "line 7"); a CSV as a :class:`Table` that hands out its rows
``CHUNK_ROWS`` at a time, so an import of any size holds one chunk. The guards
stand next to what they guard: text that is not UTF-8 or holds a NUL, a key
twice in one JSON object, nesting past the recursion limit, a number too long
to read, and a quote that is never closed (named at the line its row starts).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain, islice, pairwise, repeat
from pathlib import Path
from typing import IO, Any, NamedTuple

from csm.data.convert import shown
from csm.errors import DataImportError, InputError

CHUNK_ROWS = 5_000  # a CSV's rows checked and written together

Record = dict[str, Any]


class Chunk(NamedTuple):
    """Rows of a CSV: their numbers, their values a column at a time, and for plain lines
    (no quote: each value is its text between delimiters) their text.

    ``lines``: when the text matched the layout :meth:`Table.chunks` was given, whole, its lines;
    then its values were not split into columns (``columns`` is empty: :func:`split_columns`).
    """

    numbers: Sequence[int]
    columns: list[Sequence[str]]
    text: str | None = None
    lines: Sequence[str] = ()


_FIRST_CHAR_RE = re.compile(r"\S")


@dataclass(frozen=True)
class Table:
    """A CSV file's header, and a reader that hands out its rows in chunks."""

    name: str
    header: list[str]
    header_row: int
    reader: Any  # the csv.reader that read the header: its dialect is the file's
    lines: int  # the file's line count: about its row count, known before reading them
    stream: IO[str]  # what the reader reads, to read a bad row's lines again
    size: int  # the file's bytes (characters, when given as text): what read_so_far() runs up to

    @property
    def delimiter(self) -> str:
        return str(self.reader.dialect.delimiter)

    def read_so_far(self) -> int:
        """How much of the file the reader has taken in: bytes from a file, characters from text."""
        buffer = getattr(self.stream, "buffer", None)
        return min(self.size, buffer.tell() if buffer is not None else self.stream.tell())

    def chunks(self, layout: re.Pattern[str] | None = None) -> Iterator[Chunk]:
        """The rows a chunk at a time; a malformed row raises after those before it.

        A chunk of plain lines (no quote, no lone carriage return, each with the header's count of
        delimiters) is split as one text: no row is built. From the first chunk that is not, csv
        reads the rest, and its rows are turned into columns. ``layout``: a chunk whose text it
        matches whole (plain lines, by the pattern's making) is not split at all (``lines``).
        """
        width = len(self.header)
        unnamed = [i for i, column in enumerate(self.header) if not column]
        delimiter = self.delimiter
        number = lines_read = self.header_row
        lines: list[str] = []
        while width > 1:
            lines = list(islice(self.stream, CHUNK_ROWS))
            numbers = range(number + 1, number + 1 + len(lines))
            text = "".join(lines)
            if layout is not None and lines and _readable(lines) and _matches(layout, text, lines):
                yield Chunk(numbers, [], text, lines)
            else:
                chunk = _plain_chunk(lines, text, width, delimiter, unnamed)
                if chunk is None:
                    break
                yield Chunk(numbers, *chunk)
            number, lines_read = number + len(lines), lines_read + len(lines)
        if width > 1 and not lines:
            return
        reader = csv.reader(chain(lines, self.stream), delimiter=delimiter, strict=True)
        while True:
            first = lines_read + reader.line_num + 1
            try:
                chunk = list(islice(reader, CHUNK_ROWS))
            except csv.Error as exc:
                end = lines_read + reader.line_num
                raise _unreadable(self.name, exc, end, delimiter, self.stream, first) from None
            if not chunk:
                return
            numbers: Sequence[int] = range(number + 1, number + 1 + len(chunk))
            number += len(chunk)
            problem = None
            if unnamed or set(map(len, chunk)) != {width}:
                numbers, chunk, problem = self._tidy(numbers, chunk, width, unnamed)
            if chunk:
                yield Chunk(numbers, list(zip(*chunk, strict=True)))
            if problem:
                raise problem

    def _tidy(
        self, numbers: Sequence[int], chunk: list[list[str]], width: int, unnamed: list[int]
    ) -> tuple[list[int], list[list[str]], DataImportError | None]:
        """Skip blank rows and pad short ones, up to the first that cannot be read."""
        kept_numbers, kept = [], []
        for number, row in zip(numbers, chunk, strict=True):
            problem = self._problem(number, row, width, unnamed)
            if problem is not None:
                return kept_numbers, kept, problem
            if row:
                kept_numbers.append(number)
                kept.append(row + [""] * (width - len(row)))
        return kept_numbers, kept, None

    def _problem(self, number: int, row: list[str], width: int, unnamed: list[int]) -> DataImportError | None:
        if len(row) > width:
            return DataImportError(
                f"{self.name}: row {number} has {len(row)} values; the header has {width}",
                hint="A value with a comma in it needs double quotes around it.",
            )
        if any(row[i].strip() for i in unnamed if i < len(row)):
            return DataImportError(
                f"{self.name}: row {number} has a value in a column with no header; "
                "name the column or delete it"
            )
        return None

    def records(self) -> Iterator[tuple[str, Record]]:
        for numbers, columns, *_text in self.chunks():
            for number, *values in zip(numbers, *columns, strict=True):
                record = dict(zip(self.header, values, strict=True))
                record.pop("", None)
                yield f"row {number}", record


def read_records(
    path: Path | None, *, name: str, stream: IO[str] | None = None
) -> Iterator[tuple[str, Record]]:
    """Records of a CSV, JSON-array or NDJSON file (``path`` None: ``stream``, else stdin).

    The format is told by the first non-blank character: ``[`` JSON, ``{``
    NDJSON, anything else CSV. ``name`` is what error messages call the file.
    """
    parsed = read_input(path, name, stream)
    yield from parsed.records() if isinstance(parsed, Table) else parsed


class Records:
    """A JSON or NDJSON file's records one at a time, and how far into the file they have come."""

    def __init__(self, text: str, size: int, walk: Callable[[Records], Iterator[tuple[str, Record]]]) -> None:
        self.text, self.size = text, size  # size: the file's bytes (characters, when given as text)
        self.at = 0  # characters of text the records so far came from
        self._records = walk(self)

    def __iter__(self) -> Iterator[tuple[str, Record]]:
        return self._records

    def read_so_far(self) -> int:
        """About as many bytes as the records so far came from (characters scaled to the file's bytes)."""
        return min(self.size, self.at * self.size // max(len(self.text), 1))


def reporting_reads(
    parsed: Table | Records, on_progress: Callable[[int], None] | None, on_read: Callable[[int, int], None]
) -> Callable[[int], None]:
    """``on_progress`` that also tells ``on_read`` how far into the file it is: (bytes read, bytes)."""

    def both(rows: int) -> None:
        if on_progress is not None:
            on_progress(rows)
        on_read(parsed.read_so_far(), parsed.size)

    return both


def read_input(path: Path | None, name: str, stream: IO[str] | None) -> Table | Records:
    text, data = _read_text(path, name, stream)
    first = _FIRST_CHAR_RE.search(text)
    if first is None:
        raise DataImportError(f"{name}: the file is empty")
    size = len(text) if data is None else len(data)
    if first.group() == "[":
        return Records(text, size, lambda records: _json_records(records, name))
    if first.group() == "{":
        return Records(text, size, lambda records: _ndjson_records(records, name))
    # From a file, the CSV reader decodes the bytes as it goes (text and bytes are
    # not both held while rows are read), and faster than from a StringIO.
    lines = io.StringIO(text, newline="") if data is None else _decoding(data)
    return _csv_table(text, name, first.start(), lines, size)


def _decoding(data: bytes) -> IO[str]:
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")


_UTF8_HINT = "Save it as UTF-8 (in Excel: File > Save As > CSV UTF-8)."


def _read_text(path: Path | None, name: str, stream: IO[str] | None) -> tuple[str, bytes | None]:
    """The text, checked to be UTF-8, and the bytes it came from (None: read as text)."""
    data = None
    try:
        if stream is None:
            data = sys.stdin.buffer.read() if path is None else path.read_bytes()
        text = stream.read().removeprefix("\ufeff") if data is None else data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataImportError(f"{name}: {_undecodable(exc, data)}", hint=_UTF8_HINT) from None
    except FileNotFoundError:
        raise InputError(f"no file {name}") from None
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror}") from None
    if "\x00" in text:  # text holds none; a binary file, or UTF-16 without its BOM, does
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise DataImportError(f"{name}: line {line}: a NUL character: not a text file", hint=_UTF8_HINT)
    return text, data


def _undecodable(exc: UnicodeDecodeError, data: bytes | None) -> str:
    if data is None:  # a stream's own decoding: where in the file is not known
        return "not UTF-8 text"
    line = exc.object.count(b"\n", 0, exc.start) + 1  # exc.object: the bytes after a BOM
    utf16 = " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
    return f"line {line}: not UTF-8 text{utf16}; byte {exc.object[exc.start]:#04x} cannot be read"


class JsonProblem(ValueError):
    """Valid JSON csm cannot take: a key twice in one object, deep nesting, a number too long."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise JsonProblem(f"the key {shown(key)} appears twice in one object; keep one")
            seen.add(key)
    return record


_DECODER = json.JSONDecoder(object_pairs_hook=_object)
_NOT_SPACE_RE = re.compile(r"[^ \t\n\r]")


def decode_json(text: str, start: int | None = None) -> Any:
    """A JSON document; with ``start``, (the value at that offset, where it ends).

    Raises JSONDecodeError for bad syntax, JsonProblem for what csm cannot take.
    """
    try:
        return _DECODER.decode(text) if start is None else _DECODER.raw_decode(text, start)
    except (json.JSONDecodeError, JsonProblem):
        raise
    except RecursionError:
        raise JsonProblem(f"nested more than {sys.getrecursionlimit():,} levels deep; flatten it") from None
    except ValueError:  # Python's int() refuses a number of more than 4,300 digits
        raise JsonProblem("a number has more digits than the database can hold") from None


def _json_value(text: str, name: str, where: str, line: int, start: int | None = None) -> Any:
    try:
        return decode_json(text, start)
    except json.JSONDecodeError as exc:
        raise _json_error(name, line, exc) from None
    except JsonProblem as exc:
        raise DataImportError(f"{name}: {where}: {exc}") from None


def _json_error(name: str, line: int, exc: json.JSONDecodeError) -> DataImportError:
    """``line``: the file's line (NDJSON), or 0: the error's own line in the text."""
    return DataImportError(f"{name}: line {line or exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}")


def _skip_space(text: str, pos: int) -> int:
    found = _NOT_SPACE_RE.search(text, pos)
    return len(text) if found is None else found.start()


def _json_records(records: Records, name: str) -> Iterator[tuple[str, Record]]:
    """A JSON array's objects one at a time, each located by its index and first line."""
    text = records.text
    pos = _skip_space(text, _skip_space(text, 0) + 1)  # past the "["
    number, line, counted = 0, 1, 0
    while number or not text.startswith("]", pos):
        number += 1
        line, counted = line + text.count("\n", counted, pos), pos
        where = f"record {number} (line {line})"
        item, pos = _json_value(text, name, where, 0, pos)
        if not isinstance(item, dict):
            raise DataImportError(f"{name}: {where} is not an object: {item!r:.40}")
        records.at = pos
        yield where, item
        pos = _skip_space(text, pos)
        if not text.startswith(",", pos):
            break
        pos = _skip_space(text, pos + 1)
    if not text.startswith("]", pos):
        raise _json_error(name, 0, json.JSONDecodeError("Expecting ',' delimiter", text, pos))
    pos = _skip_space(text, pos + 1)
    if pos < len(text):
        raise _json_error(name, 0, json.JSONDecodeError("Extra data", text, pos))
    records.at = len(text)


def _ndjson_records(records: Records, name: str) -> Iterator[tuple[str, Record]]:
    for number, line in enumerate(records.text.split("\n"), 1):
        records.at += len(line) + 1
        if not line.strip():
            continue
        item = _json_value(line, name, f"line {number}", number)
        if not isinstance(item, dict):
            raise DataImportError(f"{name}: line {number} is not a JSON object: {line:.40}")
        yield f"line {number}", item


def _plain_chunk(
    lines: list[str], given: str, width: int, delimiter: str, unnamed: list[int]
) -> tuple[list[Sequence[str]], str] | None:
    """``lines``'s values a column at a time, split as csv would, and their text (``given``: the
    lines joined), if no line needs csv; else None.

    A line needs csv when it holds a quote, a carriage return not before its line feed, a count
    of delimiters other than the header's, a value csv would refuse as too long (a line that long),
    or a value under no header.
    """
    if not lines:
        return None
    text = given
    if '"' in text or not _readable(lines):
        return None
    if "\r" in text:
        if text.count("\r") != text.count("\r\n"):
            return None
        text = text.replace("\r\n", "\n")
    if set(map(str.count, lines, repeat(delimiter))) != {width - 1}:
        return None
    columns = split_columns(text, width, delimiter)
    if any(any(map(str.strip, columns[i])) for i in unnamed):
        return None
    return columns, given


_PIECE_LINES = 500  # a match holds the GIL: a COPY thread waits no longer than one piece's


def _matches(layout: re.Pattern[str], text: str, lines: list[str]) -> bool:
    """Whether ``text`` (``lines`` joined) matches ``layout`` whole, every line ended alike (each
    a carriage return and a line feed, or a line feed: the layout lets a line feed alone, or
    with one carriage return before it, end a line), a few hundred lines at a time."""
    returns = text.count("\r")
    if returns and returns != text.count("\n"):
        return False
    ends = list(accumulate(map(len, lines)))
    starts = [0, *ends[_PIECE_LINES - 1 :: _PIECE_LINES]]
    if starts[-1] != len(text):
        starts.append(len(text))
    return all(layout.fullmatch(text, start, end) for start, end in pairwise(starts))


def _readable(lines: list[str]) -> bool:
    """No line so long that a value in it could be past csv's field limit (which csv refuses)."""
    return max(map(len, lines)) <= csv.field_size_limit()


def split_columns(text: str, width: int, delimiter: str) -> list[Sequence[str]]:
    """Plain lines' values (each line ``width`` values between delimiters), a column at a time."""
    values = text.removesuffix("\n").replace("\n", delimiter).split(delimiter)
    return [values[i::width] for i in range(width)]


def _csv_table(text: str, name: str, start: int, lines: IO[str], size: int) -> Table:
    end = text.find("\n", start)
    header_line = text[start : None if end < 0 else end]  # a slice: the whole text is not copied
    delimiter = ","
    if "," not in header_line:
        delimiter = ";" if ";" in header_line else "\t" if "\t" in header_line else ","
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    try:
        header = next(row for row in reader if row)
    except csv.Error as exc:
        raise _unreadable(name, exc, reader.line_num, delimiter, lines, 1) from None
    names = [h.strip() for h in header]
    for i, column in enumerate(names):
        if column and column in names[:i]:
            first = names.index(column) + 1
            raise DataImportError(f"{name}: columns {first} and {i + 1} are both '{column}'")
    return Table(name, names, reader.line_num, reader, text.count("\n", start), lines, size)


_QUOTE_HINT = 'Close the quote, or escape a quote inside a value as "" (two double quotes).'


def _unreadable(
    name: str, exc: csv.Error, end: int, delimiter: str, stream: IO[str], first: int
) -> DataImportError:
    """What is wrong with a row csv cannot read (from line ``first``; csv stopped at line ``end``),
    at the line the row starts on.

    A quote that is never closed swallows the lines after it, so the line csv
    stopped at is not where to look: the row's first line is.
    """
    reason = str(exc)
    start = _row_start(stream, first, delimiter)
    runs = f" (the value runs on to line {end})" if end > start else ""
    if "end of data" in reason:
        message = "a quote opened in this row is never closed (the value runs to the end of the file)"
    elif "expected after" in reason:
        message = f"a quote opened in this row ends in the middle of a value{runs}"
    elif "field limit" in reason:
        message = f"a value is longer than {csv.field_size_limit():,} characters{runs}"
        if not runs:
            return DataImportError(f"{name}: line {start}: {message}", hint="Shorten it, or leave it out.")
    else:
        return DataImportError(f"{name}: line {end}: not readable as CSV: {reason}")
    return DataImportError(f"{name}: line {start}: {message}", hint=_QUOTE_HINT)


def _row_start(stream: IO[str], first: int, delimiter: str) -> int:
    """The line the first unreadable row from line ``first`` on starts on, read again."""
    if isinstance(stream, io.StringIO):
        text = stream.getvalue()
    else:  # a TextIOWrapper over the file's bytes
        text = stream.buffer.getvalue().decode("utf-8-sig")  # type: ignore[attr-defined]
    reader = csv.reader(
        islice(io.StringIO(text, newline=""), first - 1, None), delimiter=delimiter, strict=True
    )
    start = first
    try:
        for _row in reader:
            start = first + reader.line_num
    except csv.Error:
        pass
    return start

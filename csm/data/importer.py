"""Importing accounts, contacts and usage from CSV, JSON and NDJSON.

Reading yields ``(location, record)`` pairs ("row 2", "record 3", "line 7").
Importing converts the raw values a column at a time with one precompiled
converter per column (a CSV column's repeated values are checked once each),
then upserts them with ``executemany`` of
``INSERT ... ON CONFLICT DO UPDATE ... WHERE <the row differs>``. A CSV goes
through 5,000 rows at a time, so memory stays flat; records (and a CSV that
adds columns, whose type needs every value) are gathered whole first. It is
all one transaction: the first bad row stops the import, and the database is
left exactly as it was.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import gc
import io
import json
import math
import re
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from csm.data import outcomes
from csm.data.mapping import Mapping
from csm.data.store import transaction
from csm.errors import DataImportError, InputError, did_you_mean
from csm.language.fields import DERIVED

KINDS = ("accounts", "contacts", "usage")
PROGRESS_EVERY = 5_000
BULK_ROWS = 20_000  # an upsert this big, and at least the table's size, rebuilds its indexes after

Record = dict[str, Any]
Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class ImportResult:
    kind: str
    source: str
    inserted: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class _Kind:
    key: tuple[str, ...]
    columns: dict[str, str]  # column -> converter name in _CONVERTERS
    required: tuple[str, ...]
    aliases: dict[str, str]
    # Columns an import may set but never clear: unsubscribing is for good.
    sticky: tuple[str, ...] = ()


_SPECS = {
    "accounts": _Kind(
        key=("id",),
        columns={
            "id": "text",
            "name": "text",
            "owner": "email",
            "plan": "text",
            "arr": "number",
            "seats_licensed": "integer",
            "seats_used": "integer",
            "start_date": "date",
            "renewal_date": "date",
            "status": "status",
            "nps": "integer",
            "open_tickets": "integer",
            "last_login_at": "date_or_datetime",
            "health_score": "number",
        },
        required=("id", "name"),
        aliases={},
    ),
    "contacts": _Kind(
        key=("account_id", "email"),
        columns={
            "account_id": "account",
            "email": "email",
            "name": "text",
            "role": "role",
            "title": "text",
            "is_primary": "boolean",
            "unsubscribed": "boolean",
        },
        required=("account_id", "email"),
        aliases={"account": "account_id", "primary": "is_primary"},
        sticky=("unsubscribed",),
    ),
    "usage": _Kind(
        key=("account_id", "metric", "date"),
        columns={"account_id": "account", "metric": "metric", "date": "date", "value": "number"},
        required=("account_id", "metric", "date", "value"),
        aliases={},
    ),
}

# Declared types of extra account columns, and the converter each one takes.
_DECLARED = {
    "INTEGER": "integer",
    "REAL": "number",
    "FLOAT": "number",
    "NUMERIC": "number",
    "DATE": "date",
    "BOOLEAN": "boolean",
}
_DERIVED_NAMES = {f.name for f in DERIVED}
_EXTRA_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_FIRST_CHAR_RE = re.compile(r"\S")


def column_name(header: str) -> str:
    """A header as a snake_case column name: " Renewal Date " / "renewalDate" -> renewal_date."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", header.strip())
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


# -- values: one converter per column type; each raises BadValue saying why ----------------------


class BadValue(ValueError):
    """A value that does not fit its column."""


_GROUPED_RE = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_WHOLE_RE = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3}){1,6}|\d{1,19})")  # at most 19 digits, like int64
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_METRIC_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BOOLEANS = {"true": 1, "false": 0, "yes": 1, "no": 0, "y": 1, "n": 0, "1": 1, "0": 0, "": 0}
_DATETIME_HELP = "expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"


def _shown(value: Any) -> str:
    """A value as a message quotes it: stripped, and cut short when long."""
    text = repr(value.strip() if isinstance(value, str) else value)
    return text if len(text) <= 60 else f"{text[:50]}... ({len(text):,} characters)"


def _storable(number: int | float, given: Any = None) -> int | float:
    """``number`` if SQLite can hold it: a whole number of 64 bits, a float that is not inf or NaN.

    ``given``: the value it was read from, as the message shows it.
    """
    if isinstance(number, float):
        if not math.isfinite(number):
            raise BadValue(f"{number!r} is not a number the database can hold")
    elif not -(2**63) <= number < 2**63:
        shown = number if given is None else given
        as_text = "" if isinstance(shown, str) else "; if it is an ID, give it as text"
        raise BadValue(
            f"{_shown(shown)} is too large for the database (whole numbers go up to "
            f"9,223,372,036,854,775,807){as_text}"
        )
    return number


def _text(value: Any) -> str | None:
    if type(value) is str:
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(_storable(value))
    if isinstance(value, dt.date):
        return value.isoformat()
    kind = "a list" if isinstance(value, list) else "an object"
    raise BadValue(f"{kind} is not a single value; flatten it, or pick a field with --map")


def _parse_number(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        if not _GROUPED_RE.fullmatch(text):
            raise BadValue(f"{_shown(text)} is not a number") from None
        return float(text.replace(",", ""))
    if "_" in text or not math.isfinite(number):
        too_large = not math.isnan(number) and text.lstrip("+-")[:1].isdigit()  # 1e999, not inf
        raise BadValue(f"{_shown(text)} is {'too large for the database' if too_large else 'not a number'}")
    return number


def _number(value: Any) -> float | int | None:
    if type(value) is str:
        text = value.strip()
        return _parse_number(text) if text else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadValue(f"{_shown(value)} is not a number")
    return _storable(value)


def _integer(value: Any) -> int | None:
    if type(value) is str:
        text = value.strip()
        if text.isdecimal() and len(text) <= 19:  # 64 bits hold 19 digits, not all of them
            return int(text) if len(text) < 19 else int(_storable(int(text), value))
    number = _number(value)
    if number is None:
        return None
    if not float(number).is_integer():
        raise BadValue(f"{_shown(value)} is not a whole number")
    return int(_storable(int(number), value))


def _date(value: Any) -> str | None:
    if type(value) is str:
        text = value.strip()
        if not text:
            return None
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            try:
                dt.date.fromisoformat(text)
                return text
            except ValueError:
                pass
    elif value is None:
        return None
    elif isinstance(value, dt.datetime):
        return value.date().isoformat()
    elif isinstance(value, dt.date):
        return value.isoformat()
    raise BadValue(f"{_shown(value)} is not a date (expected YYYY-MM-DD)")


def _date_or_datetime(value: Any) -> str | None:
    """A date as given, or a date-time as YYYY-MM-DDTHH:MM:SS (in UTC if it had an offset)."""
    moment = value
    if type(value) is str and len(value.strip()) > 10:
        text = value.strip()
        if len(text) == 19 and text[10] == "T" and text[4] == "-" and text[7] == "-":
            try:  # already YYYY-MM-DDTHH:MM:SS
                dt.datetime.fromisoformat(text)
                return text
            except ValueError:
                pass
        try:
            if text[4] != "-" or text[7] != "-" or text[10] not in "T ":
                raise ValueError(text)
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise BadValue(f"{_shown(text)} is not a date or date-time ({_DATETIME_HELP})") from None
    if not isinstance(moment, dt.datetime):
        try:
            return _date(value)
        except BadValue:
            raise BadValue(f"{_shown(value)} is not a date or date-time ({_DATETIME_HELP})") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds")


def _email(value: Any) -> str | None:
    """An address as given, lower-cased; an internationalised one (user@bücher.de) too."""
    text = _text(value)
    if text is None:
        return None
    if not _EMAIL_RE.fullmatch(text):
        raise BadValue(f"{_shown(text)} is not an email address (like name@example.com)")
    if not text.isprintable():  # control, bidi-override and zero-width characters
        odd = next(c for c in text if not c.isprintable())
        raise BadValue(f"{_shown(text)} has an invisible character (U+{ord(odd):04X}) in it; retype it")
    address = text.lower()
    if not address.isascii():
        domain = address.rpartition("@")[2]
        problem = _idna_problem(domain)
        if problem:
            raise BadValue(f"{_shown(text)}: {_shown(domain)} is no domain mail can be sent to ({problem})")
    return address


@functools.lru_cache(maxsize=4096)
def _idna_problem(domain: str) -> str | None:
    """Why ``domain`` has no ASCII form for mail to be sent to (bücher.de has: xn--bcher-kva.de)."""
    import idna  # what sending encodes it with (UTS 46, IDNA 2008)

    try:
        idna.encode(domain, uts46=True)
    except UnicodeError as exc:  # idna.IDNAError: a label too long, or characters IDNA refuses
        return f"IDNA: {exc}"
    return None


def _boolean(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, int) and value in (0, 1):
        return int(value)
    if isinstance(value, str):
        flag = _BOOLEANS.get(value.strip().lower())
        if flag is not None:
            return flag
    raise BadValue(f"{_shown(value)} is not true or false (expected true, false, yes, no, 1 or 0)")


def _status(value: Any) -> str:
    text = _text(value)
    return text.lower() if text else "active"


def _role(value: Any) -> str | None:
    text = _text(value)
    return re.sub(r"[\s-]+", "_", text.lower()) if text else None


def _metric(value: Any) -> str | None:
    text = _text(value)
    if text is not None and not _METRIC_RE.fullmatch(text):
        raise BadValue(f"{_shown(text)} is not a metric name (letters, digits and _, like active_users)")
    return text


def _account_ref(ids: set[str]) -> Converter:
    def account_ref(value: Any) -> str | None:
        text = _text(value)
        if text is not None and text not in ids:
            raise BadValue(f"no account {_shown(text)}; import accounts first")
        return text

    return account_ref


def _required(convert: Converter) -> Converter:
    def required(value: Any) -> Any:
        result = convert(value)
        if result is None:
            raise BadValue("a value is required")
        return result

    return required


def _scalar(value: Any) -> Any:
    """A new column's value, kept as it is until the column's type is known."""
    if type(value) is str:
        return value.strip() or None
    if value is None or isinstance(value, dt.date):
        return value
    return _storable(value) if isinstance(value, int | float) else _text(value)


def _whole(value: Any) -> int | None:
    if value is None or type(value) is int:
        return value
    if type(value) is str and _WHOLE_RE.fullmatch(value):
        return int(_storable(int(value.replace(",", ""))))
    raise BadValue("not a whole number")


def _true_false(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None if value is None else int(value)
    flag = {"true": 1, "false": 0}.get(value.lower()) if type(value) is str else None
    if flag is None:
        raise BadValue("not true or false")
    return flag


def _infer_type(values: list[Any]) -> tuple[str, list[Any]]:
    """The declared type every value fits (INTEGER, REAL, DATE, BOOLEAN, else TEXT)."""
    if any(v is not None for v in values):
        for declared, convert in (
            ("INTEGER", _whole),
            ("REAL", _number),
            ("DATE", _date),
            ("BOOLEAN", _true_false),
        ):
            try:
                return declared, [convert(v) for v in values]
            except BadValue:
                continue
    return "TEXT", [_text(v) for v in values]


_CONVERTERS: dict[str, Converter] = {
    "text": _text,
    "number": _number,
    "integer": _integer,
    "date": _date,
    "date_or_datetime": _date_or_datetime,
    "email": _email,
    "boolean": _boolean,
    "status": _status,
    "role": _role,
    "metric": _metric,
}


# -- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """A CSV file's header, and a reader that hands out its rows in chunks."""

    name: str
    header: list[str]
    header_row: int
    reader: Any  # a csv.reader positioned after the header
    lines: int  # the file's line count: about its row count, known before reading them
    stream: IO[str]  # what the reader reads, to read a bad row's lines again

    def chunks(self) -> Iterator[tuple[Sequence[int], list[list[str]]]]:
        """(row numbers, rows) a chunk at a time; a malformed row raises after those before it."""
        number = self.header_row + 1
        width = len(self.header)
        unnamed = [i for i, column in enumerate(self.header) if not column]
        while True:
            first = self.reader.line_num + 1
            try:
                chunk = list(islice(self.reader, PROGRESS_EVERY))
            except csv.Error as exc:
                raise _unreadable(self.name, exc, self.reader, self.stream, first) from None
            if not chunk:
                return
            numbers: Sequence[int] = range(number, number + len(chunk))
            number += len(chunk)
            problem = None
            if unnamed or set(map(len, chunk)) != {width}:
                numbers, chunk, problem = self._tidy(numbers, chunk, width, unnamed)
            if chunk:
                yield numbers, chunk
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
        for numbers, chunk in self.chunks():
            for number, values in zip(numbers, chunk, strict=True):
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
    parsed = _parse(path, name, stream)
    yield from parsed.records() if isinstance(parsed, _Table) else parsed


def _parse(path: Path | None, name: str, stream: IO[str] | None) -> _Table | Iterator[tuple[str, Record]]:
    text, data = _read_text(path, name, stream)
    first = _FIRST_CHAR_RE.search(text)
    if first is None:
        raise DataImportError(f"{name}: the file is empty")
    if first.group() == "[":
        return _json_records(text, name)
    if first.group() == "{":
        return _ndjson_records(text, name)
    # From a file, the CSV reader decodes the bytes as it goes (text and bytes are
    # not both held while rows are read), and faster than from a StringIO.
    lines = io.StringIO(text, newline="") if data is None else _decoding(data)
    return _csv_table(text, name, first.start(), lines)


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
                raise JsonProblem(f"the key {_shown(key)} appears twice in one object; keep one")
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


def _json_records(text: str, name: str) -> Iterator[tuple[str, Record]]:
    """A JSON array's objects one at a time, each located by its index and first line."""
    pos = _skip_space(text, _skip_space(text, 0) + 1)  # past the "["
    number, line, counted = 0, 1, 0
    while number or not text.startswith("]", pos):
        number += 1
        line, counted = line + text.count("\n", counted, pos), pos
        where = f"record {number} (line {line})"
        item, pos = _json_value(text, name, where, 0, pos)
        if not isinstance(item, dict):
            raise DataImportError(f"{name}: {where} is not an object: {item!r:.40}")
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


def _ndjson_records(text: str, name: str) -> Iterator[tuple[str, Record]]:
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        item = _json_value(line, name, f"line {number}", number)
        if not isinstance(item, dict):
            raise DataImportError(f"{name}: line {number} is not a JSON object: {line:.40}")
        yield f"line {number}", item


def _csv_table(text: str, name: str, start: int, lines: IO[str]) -> _Table:
    end = text.find("\n", start)
    header_line = text[start : None if end < 0 else end]  # a slice: the whole text is not copied
    delimiter = ","
    if "," not in header_line:
        delimiter = ";" if ";" in header_line else "\t" if "\t" in header_line else ","
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    try:
        header = next(row for row in reader if row)
    except csv.Error as exc:
        raise _unreadable(name, exc, reader, lines, 1) from None
    names = [h.strip() for h in header]
    for i, column in enumerate(names):
        if column and column in names[:i]:
            first = names.index(column) + 1
            raise DataImportError(f"{name}: columns {first} and {i + 1} are both '{column}'")
    return _Table(name, names, reader.line_num, reader, text.count("\n", start), lines)


_QUOTE_HINT = 'Close the quote, or escape a quote inside a value as "" (two double quotes).'


def _unreadable(name: str, exc: csv.Error, reader: Any, stream: IO[str], first: int) -> DataImportError:
    """What is wrong with a row csv cannot read, at the line the row starts on.

    A quote that is never closed swallows the lines after it, so the line csv
    stopped at is not where to look: the row's first line is.
    """
    reason, end = str(exc), reader.line_num
    start = _row_start(stream, first, reader.dialect.delimiter)
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


# -- importing -----------------------------------------------------------------------------------


def _spec(kind: str) -> _Kind:
    if kind not in _SPECS:
        choices = ", ".join(KINDS)
        raise InputError(f"unknown kind '{kind}'{did_you_mean(kind, KINDS)}; use one of: {choices}")
    return _SPECS[kind]


class _Columns:
    """The columns one import fills, each with its converter; grows as new fields appear."""

    def __init__(self, conn: sqlite3.Connection, kind: str, source: str) -> None:
        self.spec = _spec(kind)
        self.kind = kind
        self.source = source
        ids: set[str] = set()
        if "account_id" in self.spec.columns:
            ids = {row[0] for row in conn.execute("SELECT id FROM accounts")}
        self.known: dict[str, Converter] = {
            col: _account_ref(ids) if conv == "account" else _CONVERTERS[conv]
            for col, conv in self.spec.columns.items()
        }
        if kind == "accounts":
            for row in conn.execute("PRAGMA table_info(accounts)"):
                declared = (row[2] or "").upper()
                self.known.setdefault(row[1], _CONVERTERS[_DECLARED.get(declared, "text")])
        for col in self.spec.required:
            self.known[col] = _required(self.known[col])
        self.names: list[str] = list(self.spec.key)
        self.converters: list[Converter] = [self.known[c] for c in self.spec.key]
        self.new_extras: set[str] = set()

    def plan(self, fields: Iterable[tuple[str, Any]], location: str) -> list[Any]:
        """Where each column so far is in a record, from its (field name, where) pairs."""
        sources: dict[str, Any] = {}
        labels: dict[str, str] = {}
        for label, source in fields:
            col = column_name(label)
            col = self.spec.aliases.get(col, col)
            if col in sources:
                raise self.error(f"{location}: '{labels[col]}' and '{label}' are both '{col}'")
            sources[col], labels[col] = source, label
        for col in self.spec.required:
            if col not in sources:
                need = ", ".join(self.spec.required)
                raise DataImportError(
                    f"{self.source}: {location}: no '{col}' column ({self.kind} need {need})",
                    hint="Name the column so, or read a CRM export with --map NAME.",
                )
        for col, label in labels.items():
            if col not in self.known:
                self._add_extra(label, col, location)
            if col not in self.names:
                self.names.append(col)
                self.converters.append(self.known[col])
        return [sources.get(col) for col in self.names]

    def _add_extra(self, label: str, col: str, location: str) -> None:
        if self.kind != "accounts":
            raise self.error(
                f"{location}: unknown column '{label}'{did_you_mean(col, self.spec.columns)}; "
                f"{self.kind} columns are: {', '.join(self.spec.columns)}"
            )
        if not _EXTRA_NAME_RE.match(col):
            raise self.error(f"{location}: column '{label}' needs a name that starts with a letter")
        if col in _DERIVED_NAMES:
            raise self.error(f"{location}: column '{label}' would hide the derived field '{col}'; rename it")
        self.known[col] = _scalar
        self.new_extras.add(col)

    def error(self, message: str) -> DataImportError:
        return DataImportError(f"{self.source}: {message}")


def import_records(
    conn: sqlite3.Connection,
    kind: str,
    records: Iterable[tuple[str, Record]],
    *,
    source: str,
    now: str,
    mapping: Mapping | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Check and upsert ``(location, record)`` pairs in one transaction.

    The first bad record stops it all; ``source`` names the input in messages
    and on the timeline, and ``now`` is the timeline entry's timestamp.
    """
    return _import(conn, kind, records, source, now, mapping, None, on_progress)


def import_file(
    conn: sqlite3.Connection,
    kind: str,
    path: Path | None,
    *,
    now: str,
    mapping: Mapping | None = None,
    on_progress: Callable[[int], None] | None = None,
    stream: IO[str] | None = None,
) -> ImportResult:
    """Import one file (``path`` None: ``stream``, else stdin, called "stdin" in messages)."""
    _spec(kind)
    name = "stdin" if path is None else str(path)
    parsed = _parse(path, name, stream)
    if isinstance(parsed, _Table) and mapping is None:
        return _import(conn, kind, (), name, now, None, parsed, on_progress)
    records = parsed.records() if isinstance(parsed, _Table) else parsed
    return _import(conn, kind, records, name, now, mapping, None, on_progress)


def summary(result: ImportResult) -> str:
    """ "3 new, 2 updated, 5 unchanged"."""
    return f"{result.inserted} new, {result.updated} updated, {result.unchanged} unchanged"


def _import(
    conn: sqlite3.Connection,
    kind: str,
    items: Iterable[tuple[Any, Any]],
    source: str,
    now: str,
    mapping: Mapping | None,
    table: _Table | None,
    on_progress: Callable[[int], None] | None,
) -> ImportResult:
    with transaction(conn):
        result = _check_and_upsert(conn, kind, items, source, now, mapping, table, on_progress)
        record_on_timeline(conn, now, "import", f"imported {source}: {summary(result)}")
    return result


def upsert_records(
    conn: sqlite3.Connection,
    kind: str,
    records: Iterable[tuple[str, Record]],
    *,
    source: str,
    now: str,
    mapping: Mapping | None = None,
) -> ImportResult:
    """Check and upsert records inside the caller's transaction (a sync's several kinds)."""
    _spec(kind)
    return _check_and_upsert(conn, kind, records, source, now, mapping, None, None)


def record_on_timeline(conn: sqlite3.Connection, now: str, kind: str, summary_text: str) -> None:
    conn.execute(
        "INSERT INTO timeline (account_id, at, kind, touch, summary) VALUES (NULL, ?, ?, 0, ?)",
        (now, kind, summary_text),
    )


def _check_and_upsert(
    conn: sqlite3.Connection,
    kind: str,
    items: Iterable[tuple[Any, Any]],
    source: str,
    now: str,
    mapping: Mapping | None,
    table: _Table | None,
    on_progress: Callable[[int], None] | None,
) -> ImportResult:
    with _collector_paused():
        columns = _Columns(conn, kind, source)
        gathered = _Gathered(columns, table)
        batches: Iterable[list[list[Any]]]
        if table is not None and not columns.new_extras:
            # A CSV goes through a chunk at a time: memory stays flat at any size.
            batches, size = gathered.stream(on_progress), table.lines
        else:  # records may bring new fields as they go, and new columns need all values for a type
            gathered.gather(items, mapping, on_progress)
            values = gathered.convert()
            _add_extra_columns(conn, columns, values)
            batches, size = [values], len(values[0])
        before = outcomes.decided(conn) if kind == "accounts" else None
        result = ImportResult(kind, source, *_upsert(conn, kind, columns, batches, size))
        if before is not None:
            outcomes.record_imported(conn, before, now)
    return result


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while an import holds millions of rows.

    The rows hold no reference cycles, and each full collection walks every one
    of them: a fifth of a 1M-row import's time. Reference counting still frees
    them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Gathered:
    """An import's raw values, then converted a column at a time.

    Converting by column lets a CSV column's repeated values (dates, owners,
    plans) be checked once each. When anything is wrong, :meth:`first_problem`
    walks the rows in order, so the error is always the first bad row's.
    """

    def __init__(self, columns: _Columns, table: _Table | None) -> None:
        self.columns = columns
        self.table = table
        self.wheres: list[Any] = []  # each row's location; for a CSV, its row number
        self.rows: list[list[Any]] = []  # CSV: values as read; records: values per column
        self.locate: Callable[[Any], str] = str if table is None else "row {}".format
        self.sources: list[Any] = []
        if table is not None:
            header = [(label, i) for i, label in enumerate(table.header) if label]
            self.sources = columns.plan(header, self.locate(table.header_row))

    def gather(
        self,
        items: Iterable[tuple[Any, Any]],
        mapping: Mapping | None,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        wheres, rows, columns = self.wheres, self.rows, self.columns
        keys: Any = None
        try:
            if self.table is not None:
                for numbers, chunk in self.table.chunks():
                    wheres.extend(numbers)
                    rows.extend(chunk)
                    if on_progress is not None:
                        on_progress(len(rows))
            for where, record in items:
                if mapping is not None:
                    record = mapping.apply(record, f"{columns.source}: {where}")
                if record.keys() != keys:
                    self.sources = columns.plan([(str(k), k) for k in record], where)
                    keys = record.keys()
                get = record.get
                wheres.append(where)
                rows.append([get(src) for src in self.sources])
                if on_progress is not None and len(rows) % PROGRESS_EVERY == 0:
                    on_progress(len(rows))
        except DataImportError as exc:
            raise self.first_problem() or exc from None
        if not rows:
            raise columns.error(f"no {columns.kind} to import")
        if on_progress is not None and self.table is None:
            on_progress(len(rows))

    def stream(self, on_progress: Callable[[int], None] | None) -> Iterator[list[list[Any]]]:
        """A CSV's converted values a chunk at a time; a key repeated from an earlier chunk raises."""
        assert self.table is not None
        seen: dict[Any, Any] = {}  # key -> where it first was
        done = 0
        # A malformed row raises from chunks() once the rows before it are through:
        # they were checked already, so its message is the first problem.
        for numbers, chunk in self.table.chunks():
            self.wheres, self.rows = list(numbers), chunk
            values = self.convert(seen)
            fresh = dict(zip(self._keys(values), self.wheres, strict=True))
            if not seen.keys().isdisjoint(fresh):
                raise self.first_problem(seen) or AssertionError("a repeated key went missing")
            seen.update(fresh)
            done += len(chunk)
            if on_progress is not None:
                on_progress(done)
            yield values
        if not done:
            raise self.columns.error(f"no {self.columns.kind} to import")

    def _keys(self, converted: list[list[Any]]) -> list[Any]:
        width = len(self.columns.spec.key)
        return converted[0] if width == 1 else list(zip(*converted[:width], strict=True))

    def raw_columns(self) -> list[list[Any]]:
        """The gathered values a column at a time, in column order."""
        positions: Iterable[int] = self.sources
        if self.table is None:
            positions = range(len(self.columns.names))
            for row in self.rows:
                if len(row) < len(self.columns.names):  # a later record brought new fields
                    row.extend([None] * (len(self.columns.names) - len(row)))
        return [list(map(itemgetter(i), self.rows)) for i in positions]

    def convert(self, seen: Mapping[Any, Any] | None = None) -> list[list[Any]]:
        """Converted values, one list per column; the first bad row raises.

        ``seen``: the keys of rows before these (a streamed CSV's earlier chunks).
        """
        converted = []
        dedupe = self.table is not None  # JSON's 1 == 1.0 == True would collide
        try:
            for convert, raw in zip(self.columns.converters, self.raw_columns(), strict=True):
                converted.append(_convert_column(convert, raw, dedupe))
        except BadValue:
            raise self.first_problem(seen) or AssertionError("a value failed only once") from None
        keys = self._keys(converted)
        if len(set(keys)) != len(keys):
            raise self.first_problem(seen) or AssertionError("a duplicate key went missing")
        return converted

    def first_problem(self, before: Mapping[Any, Any] | None = None) -> DataImportError | None:
        """The first bad value or repeated key, row by row, in the rows gathered so far.

        ``before``: keys (a value, or a tuple for a compound key) already taken, and where.
        """
        if not self.rows:
            return None
        columns = self.columns
        key_width = len(columns.spec.key)
        seen: dict[Any, Any] = dict(before or {})
        raw = self.raw_columns()
        for index, where in enumerate(self.wheres):
            row = []
            for name, convert, values in zip(columns.names, columns.converters, raw, strict=True):
                try:
                    row.append(convert(values[index]))
                except BadValue as exc:
                    return columns.error(f"{self.locate(where)}, column '{name}': {exc}")
            key = row[0] if key_width == 1 else tuple(row[:key_width])
            if key in seen:
                described = _describe_key(columns.spec.key, key if key_width > 1 else (key,))
                again = f"is also in {self.locate(seen[key])}; each may appear once"
                return columns.error(f"{self.locate(where)}: {described} {again}")
            seen[key] = where
        return None


def _convert_column(convert: Converter, values: Sequence[Any], dedupe: bool) -> list[Any]:
    # Check each distinct value once, where a sample shows values repeat.
    if dedupe and len(set(values[:1000])) * 2 <= min(len(values), 1000):
        uniques = dict.fromkeys(values)
        if len(uniques) * 2 <= len(values):
            for value in uniques:
                uniques[value] = convert(value)
            return list(map(uniques.__getitem__, values))
    return list(map(convert, values))


def _describe_key(names: tuple[str, ...], key: tuple[Any, ...]) -> str:
    return ", ".join(f"{n} {v!r}" for n, v in zip(names, key, strict=True))


def _add_extra_columns(conn: sqlite3.Connection, columns: _Columns, values: list[list[Any]]) -> None:
    """Give each new accounts column the narrowest type all its values fit, and add it."""
    for index, col in enumerate(columns.names):
        if col in columns.new_extras:
            declared, values[index] = _infer_type(values[index])
            conn.execute(f'ALTER TABLE accounts ADD COLUMN "{col}" {declared}')


def _upsert(
    conn: sqlite3.Connection, table: str, columns: _Columns, batches: Iterable[list[list[Any]]], size: int
) -> tuple[int, int, int]:
    """Insert new keys, update rows that differ; (inserted, updated, unchanged).

    ``batches``: converted values, a list per column, a batch at a time; ``size``:
    about how many rows they hold in all, to judge a bulk load before reading them.
    """
    names = columns.names
    key = columns.spec.key
    new = {
        c: f'max("{c}", excluded."{c}")' if c in columns.spec.sticky else f'excluded."{c}"'
        for c in names
        if c not in key
    }
    on_conflict = "DO NOTHING"
    if new:
        sets = ", ".join(f'"{c}" = {expr}' for c, expr in new.items())
        differs = " OR ".join(f'"{c}" IS NOT {expr}' for c, expr in new.items())
        on_conflict = f"DO UPDATE SET {sets} WHERE {differs}"
    cols = ", ".join(f'"{c}"' for c in names)
    count = f"SELECT count(*) FROM main.{table}"
    before, changes = conn.execute(count).fetchone()[0], conn.total_changes
    sql = (
        f"INSERT INTO main.{table} ({cols})"
        f" VALUES ({', '.join('?' * len(names))}) ON CONFLICT ({', '.join(key)}) {on_conflict}"
    )
    total = 0
    with _bulk(conn, table, size >= max(before, BULK_ROWS)):
        for values in batches:
            conn.executemany(sql, zip(*values, strict=True))
            total += len(values[0])
    # An upsert whose WHERE is false changes nothing, so it is not in total_changes.
    inserted = conn.execute(count).fetchone()[0] - before
    updated = conn.total_changes - changes - inserted
    return inserted, updated, total - inserted - updated


@contextmanager
def _bulk(conn: sqlite3.Connection, table: str, bulk: bool) -> Iterator[None]:
    """A bulk load builds the table's secondary indexes once, after it, not row by row.

    Inside the import's transaction, so a failed import leaves them as they were.
    """
    indexes = (
        conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            (table,),
        ).fetchall()
        if bulk
        else []
    )
    for name, _sql in indexes:
        conn.execute(f'DROP INDEX main."{name}"')
    yield
    for _name, sql in indexes:
        conn.execute(sql)

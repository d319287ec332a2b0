"""Importing accounts, contacts, usage and events from CSV, JSON and NDJSON: checking and upserting.

Reading (:mod:`csm.data.readers`) yields ``(location, record)`` pairs ("row
2", "record 3", "line 7"), or a CSV's rows a chunk at a time. Importing
converts the raw values a column at a time with one precompiled converter per
column (:mod:`csm.data.convert`; which column a field fills is
:mod:`csm.data.kinds`), so a CSV column's repeated values are checked once
each in the whole file (:class:`csm.data.convert.Remembered`), then upserts them with ``executemany`` of
``INSERT ... ON CONFLICT DO UPDATE ... WHERE <the row differs>`` (on PostgreSQL, by COPY: a
chunk whose text matches each column's spelling, whole, goes as that text with no value
converted, :func:`csm.data.convert.spelling`). A CSV goes
through 5,000 rows at a time, so memory stays flat; records (and a CSV that
adds columns, whose type needs every value) are gathered whole first. It is
all one transaction: the first bad row stops the import, and the database is
left exactly as it was.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from csm.collector import paused
from csm.data import history, outcomes, rollup, timeline
from csm.data.backend import SQLITE, Dialect, dialect_of
from csm.data.convert import BadValue, Remembered, convert_texts, infer_type, read_verbatim, spelling
from csm.data.copytext import copy_text
from csm.data.freshness import import_ref
from csm.data.kinds import Columns, spec
from csm.data.metrics import note, noting
from csm.data.readers import CHUNK_ROWS, Record, Table, read_input, reporting_reads, split_columns
from csm.data.store import transaction
from csm.errors import DataImportError

if TYPE_CHECKING:
    from csm.data.mapping import Mapping

BULK_ROWS = 20_000  # an upsert this big, and at least the table's size, rebuilds its indexes after


@dataclass(frozen=True)
class ImportResult:
    kind: str
    source: str
    inserted: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class _Input:
    """What one import reads: ``(location, record)`` pairs, or a CSV table a chunk at a time."""

    kind: str
    source: str  # names the input in messages and on the timeline
    now: str
    records: Iterable[tuple[Any, Any]] = ()
    table: Table | None = None
    mapping: Mapping | None = None
    on_progress: Callable[[int], None] | None = None


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
    return _import(conn, _Input(kind, source, now, records, mapping=mapping, on_progress=on_progress))


def import_file(
    conn: sqlite3.Connection,
    kind: str,
    path: Path | None,
    *,
    now: str,
    mapping: Mapping | None = None,
    on_progress: Callable[[int], None] | None = None,
    stream: IO[str] | None = None,
    on_read: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Import one file (``path`` None: ``stream``, else stdin, called "stdin" in messages).

    ``on_progress`` hears the rows gathered so far; ``on_read``, at the same moments,
    how far the reader is through the file: (bytes read, the file's bytes).
    """
    spec(kind)
    name = "stdin" if path is None else str(path)
    parsed = read_input(path, name, stream)
    if on_read is not None:
        on_progress = reporting_reads(parsed, on_progress, on_read)
    if isinstance(parsed, Table) and mapping is None:
        return _import(conn, _Input(kind, name, now, table=parsed, on_progress=on_progress))
    records = parsed.records() if isinstance(parsed, Table) else parsed
    return _import(conn, _Input(kind, name, now, records, mapping=mapping, on_progress=on_progress))


def summary(result: ImportResult) -> str:
    """ "3 new, 2 updated, 5 unchanged"."""
    return f"{result.inserted} new, {result.updated} updated, {result.unchanged} unchanged"


def _import(conn: sqlite3.Connection, job: _Input) -> ImportResult:
    with transaction(conn):
        result = _check_and_upsert(conn, job)
        summary_text = f"imported {job.source}: {summary(result)}"
        timeline.record(conn, None, "import", summary_text, job.now, import_ref(job.kind))
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
    spec(kind)
    return _check_and_upsert(conn, _Input(kind, source, now, records, mapping=mapping))


def _check_and_upsert(conn: sqlite3.Connection, job: _Input) -> ImportResult:
    kind, table = job.kind, job.table
    with paused():  # no cycles among the rows
        columns = Columns(conn, kind, job.source)
        gathered = _Gathered(columns, table)
        postgres = dialect_of(conn).name != "sqlite"
        batches: Iterable[list[list[Any]]]
        if table is not None and not columns.new_extras:
            # A CSV goes through a chunk at a time: memory stays flat at any size.
            batches, size = gathered.stream(job.on_progress, verbatim=postgres), table.lines
        else:  # records may bring new fields as they go, and new columns need all values for a type
            gathered.gather(job.records, job.mapping, job.on_progress)
            values = gathered.convert()
            _add_extra_columns(conn, columns, values)
            batches, size = [values], len(values[0])
        rollup.invalidate(conn)  # built again by the next run; the fields compute until then
        if kind == "accounts":
            outcomes.decided(conn)
        metrics: set[str] = set()
        if kind == "usage":  # remembered, so `csm check` can name a metric nothing holds
            batches = noting(batches, columns.names.index("metric"), metrics)
        if not postgres:
            with history.kept(conn, kind, job.now) as kept:
                inserted, updated, unchanged = _upsert(conn, kind, columns, batches, size)
            updated, unchanged = updated - kept.rows, unchanged + kept.rows
        else:
            inserted, updated, unchanged = _upsert_staged(conn, kind, gathered, batches, job.now)
        result = ImportResult(kind, job.source, inserted, updated, unchanged)
        if kind == "accounts":
            outcomes.record_imported(conn, job.now)
        if metrics:
            note(conn, metrics)
    return result


class _Gathered:
    """An import's raw values, then converted a column at a time.

    Converting by column lets a CSV column's repeated values (dates, owners,
    plans) be checked once each. When anything is wrong, :meth:`first_problem`
    walks the rows in order, so the error is always the first bad row's.
    """

    def __init__(self, columns: Columns, table: Table | None) -> None:
        self.columns = columns
        self.table = table
        self.wheres: Sequence[Any] = []  # each row's location; for a CSV, its row number
        self.rows: list[list[Any]] = []  # each record's values, in column order
        self.by_position: list[Any] = []  # a CSV's values as read, a column at a time
        self.locate: Callable[[Any], str] = str if table is None else "row {}".format
        self.sources: list[Any] = []
        if table is not None:
            self.by_position = [[] for _ in table.header]
            header = [(label, i) for i, label in enumerate(table.header) if label]
            self.sources = columns.plan(header, self.locate(table.header_row))
        self.memos = [Remembered() for _ in columns.converters]  # a CSV column's converted values
        self.as_csv: CsvText | None = None  # the chunk streamed last, if its text can be stored as it is

    def gather(
        self,
        items: Iterable[tuple[Any, Any]],
        mapping: Mapping | None,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        """Every row, unconverted: the table's, if any, then ``items``'s (records, mapped when asked)."""
        if mapping is not None:
            source = self.columns.source
            items = ((where, mapping.apply(record, f"{source}: {where}")) for where, record in items)
        try:
            if self.table is not None:
                self._gather_table(on_progress)
            self._gather_records(items, on_progress)
        except DataImportError as exc:
            raise self.first_problem() or exc from None
        if not self.wheres:
            raise self.columns.error(f"no {self.columns.kind} to import")
        if on_progress is not None and self.table is None:
            on_progress(len(self.rows))

    def _gather_table(self, on_progress: Callable[[int], None] | None) -> None:
        assert self.table is not None
        wheres: list[Any] = []
        self.wheres = wheres
        for numbers, columns, *_text in self.table.chunks():
            wheres.extend(numbers)
            for gathered, column in zip(self.by_position, columns, strict=True):
                gathered.extend(column)
            if on_progress is not None:
                on_progress(len(wheres))

    def _gather_records(
        self, items: Iterable[tuple[Any, Any]], on_progress: Callable[[int], None] | None
    ) -> None:
        """Records may bring new fields as they go: a record whose keys differ is planned again."""
        wheres: list[Any] = list(self.wheres)  # a table's rows before these, if any
        self.wheres, rows, columns = wheres, self.rows, self.columns
        keys: Any = None
        for where, record in items:
            if record.keys() != keys:
                self.sources = columns.plan([(str(k), k) for k in record], where)
                keys = record.keys()
            get = record.get
            wheres.append(where)
            rows.append([get(src) for src in self.sources])
            if on_progress is not None and len(rows) % CHUNK_ROWS == 0:
                on_progress(len(rows))

    def stream(
        self, on_progress: Callable[[int], None] | None, verbatim: bool = False
    ) -> Iterator[list[Sequence[Any]]]:
        """A CSV's converted values a chunk at a time; a key repeated from an earlier chunk raises.

        ``verbatim``: say of each chunk whether its CSV text could go to the database as it is
        (:attr:`as_csv`). A chunk whose text matches :meth:`_layout` whole is checked by that
        alone: it yields no values (an empty list), only :attr:`as_csv`. No kind that needs the
        values beside the text (usage's metrics) has a layout: its account_id has no spelling.
        """
        assert self.table is not None
        claimed = _Claimed()
        done = 0
        file_order = self._file_order() if verbatim else None
        layout = None if file_order is None else self._layout()
        # A malformed row raises from chunks() once the rows before it are through:
        # they were checked already, so its message is the first problem.
        for numbers, columns, text, lines in self.table.chunks(layout):
            self.wheres, self.by_position = numbers, columns
            values: list[Sequence[Any]] = []
            if lines:
                self._claim(claimed, lines)
            else:
                values = self.convert(claimed)
            self.as_csv = None
            if file_order is not None and text is not None and (lines or self._read_verbatim(values)):
                self.as_csv = CsvText(file_order, self.table.delimiter, text)
            done += len(numbers)
            if on_progress is not None:
                on_progress(done)
            yield values
        if not done:
            raise self.columns.error(f"no {self.columns.kind} to import")

    def _file_order(self) -> list[str] | None:
        """The columns in the CSV's order, when each of its columns is one stored column."""
        assert self.table is not None
        names = self.columns.names
        if "" in self.table.header or self.columns.stored != names or len(names) != len(self.table.header):
            return None
        return [name for _position, name in sorted(zip(self.sources, names, strict=True))]

    def _layout(self) -> re.Pattern[str] | None:
        """What a chunk's text (its lines, as the CSV gives them) must match whole to be stored as
        it is with no value converted: each column's :func:`~csm.data.convert.spelling`, in the
        CSV's order; None when a column has none."""
        assert self.table is not None
        by_position = sorted(zip(self.sources, self.columns.converters, strict=True))
        delimiter = self.table.delimiter
        spellings = [spelling(convert, delimiter) for _position, convert in by_position]
        if None in spellings:
            return None
        line = re.escape(delimiter).join(map(str, spellings))
        return re.compile(f"(?:{line}(?:\\r?\\n|\\Z))*+")

    def _claim(self, claimed: _Claimed, lines: Sequence[str]) -> None:
        """Claim the keys of a chunk checked by its text (``lines``): each key is the text of its
        columns (a key column's spelling is its value's)."""
        assert self.table is not None
        delimiter, width = self.table.delimiter, len(self.table.header)
        positions = self.sources[: len(self.columns.spec.key)]  # the key comes first in column order
        if max(positions) == width - 1:  # the last column: its value ends at the line's end
            lines = list(map(methodcaller("rstrip", "\r\n"), lines))
        fields = map(methodcaller("split", delimiter, max(positions) + 1), lines)
        if not claimed.add(list(map(itemgetter(*positions), fields)), self.wheres):
            text = "".join(line.rstrip("\r\n") + "\n" for line in lines)
            self.by_position = split_columns(text, width, delimiter)
            raise self.first_problem(claimed.where()) or AssertionError("a repeated key went missing")

    def _read_verbatim(self, converted: list[Sequence[Any]]) -> bool:
        """Whether the database, reading this chunk's values as text, gets what they converted to."""
        columns = self.columns.converters, self.raw_columns(), converted, self.memos
        return all(map(read_verbatim, *columns))

    def _keys(self, converted: list[list[Any]]) -> list[Any]:
        width = len(self.columns.spec.key)
        return converted[0] if width == 1 else list(zip(*converted[:width], strict=True))

    def raw_columns(self) -> list[Sequence[Any]]:
        """The gathered values a column at a time, in column order."""
        if self.table is not None:
            return [self.by_position[i] for i in self.sources]
        width = len(self.columns.names)
        for row in self.rows:
            if len(row) < width:  # a later record brought new fields
                row.extend([None] * (width - len(row)))
        return [list(map(itemgetter(i), self.rows)) for i in range(width)]

    def convert(self, claimed: _Claimed | None = None) -> list[Sequence[Any]]:
        """Converted values, one list per column; the first bad row raises.

        ``claimed``: the keys of rows before these (a streamed CSV's earlier chunks);
        these rows' keys are added to it.
        """
        raw, converters = self.raw_columns(), self.columns.converters
        try:
            if self.table is not None:  # each column's values remembered from chunk to chunk
                converted = list(map(convert_texts, converters, raw, self.memos))
            else:  # JSON's 1 == 1.0 == True would collide in convert_texts' dict
                converted = [
                    list(map(convert, values)) for convert, values in zip(converters, raw, strict=True)
                ]
        except BadValue:
            before = None if claimed is None else claimed.where()
            raise self.first_problem(before) or AssertionError("a value failed only once") from None
        claimed = claimed or _Claimed()
        if not claimed.add(self._keys(converted), self.wheres):
            raise self.first_problem(claimed.where()) or AssertionError("a repeated key went missing")
        return converted

    def first_problem(self, before: dict[Any, Any] | None = None) -> DataImportError | None:
        """The first bad value or repeated key, row by row, in the rows gathered so far.

        ``before``: keys (a value, or a tuple for a compound key) already taken, and where.
        """
        if not self.wheres:
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


@dataclass(frozen=True)
class CsvText:
    """A chunk of a CSV as it was given, for a database to read: its columns in its order."""

    columns: list[str]
    delimiter: str
    text: str


class _Claimed:
    """The keys of an import's rows so far, each once; where one was is looked for only when one repeats."""

    def __init__(self) -> None:
        self.keys: set[Any] = set()
        self.chunks: list[tuple[Sequence[Any], Sequence[Any]]] = []  # (keys, where each row was)

    def add(self, keys: Sequence[Any], wheres: Sequence[Any]) -> bool:
        """These rows' keys; False when one was there already, or is twice in them (then the
        keys claimed are no longer sure: only :meth:`where` holds)."""
        size = len(self.keys)
        self.keys.update(keys)
        if len(self.keys) != size + len(keys):
            return False
        self.chunks.append((keys, wheres))
        return True

    def where(self) -> dict[Any, Any]:
        """Each key added, and where its row was."""
        return {key: where for keys, wheres in self.chunks for key, where in zip(keys, wheres, strict=True)}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _describe_key(names: tuple[str, ...], key: tuple[Any, ...]) -> str:
    return ", ".join(f"{n} {v!r}" for n, v in zip(names, key, strict=True))


def _add_extra_columns(conn: sqlite3.Connection, columns: Columns, values: list[list[Any]]) -> None:
    """Give each new column the narrowest type all its values fit, and add it."""
    for index, col in enumerate(columns.names):
        if col in columns.new_extras:
            declared, values[index] = infer_type(values[index])
            conn.execute(f'ALTER TABLE {columns.kind} ADD COLUMN "{col}" {dialect_of(conn).ddl(declared)}')


def _upsert(
    conn: sqlite3.Connection, table: str, columns: Columns, batches: Iterable[list[list[Any]]], size: int
) -> tuple[int, int, int]:
    """Insert new keys, update rows that differ; (inserted, updated, unchanged).

    ``batches``: converted values, a list per column, a batch at a time; ``size``:
    about how many rows they hold in all, to judge a bulk load before reading them.
    """
    sql = _upsert_sql(table, columns)
    count = f"SELECT count(*) FROM main.{table}"
    before, changes = conn.execute(count).fetchone()[0], conn.total_changes
    total = 0
    with _bulk(conn, table, size >= max(before, BULK_ROWS)):
        for values in batches:
            conn.executemany(sql, zip(*columns.fold(values), strict=True))
            total += len(values[0])
    # An upsert whose WHERE is false changes nothing, so it is not in total_changes.
    inserted = conn.execute(count).fetchone()[0] - before
    updated = conn.total_changes - changes - inserted
    return inserted, updated, total - inserted - updated


def _upsert_sql(table: str, columns: Columns) -> str:
    """INSERT the row, or on its key UPDATE the columns that differ (a sticky one only upwards)."""
    names, key = columns.stored, columns.spec.key
    new = _new_values(SQLITE, columns, f"main.{table}", "excluded")
    on_conflict = "DO NOTHING"
    if new:
        sets = ", ".join(f'"{c}" = {expr}' for c, expr in new.items())
        on_conflict = f"DO UPDATE SET {sets} WHERE {_differs(SQLITE, new, f'main.{table}')}"
    cols = ", ".join(f'"{c}"' for c in names)
    return (
        f"INSERT INTO main.{table} ({cols})"
        f" VALUES ({', '.join('?' * len(names))}) ON CONFLICT ({', '.join(key)}) {on_conflict}"
    )


def _new_values(dialect: Dialect, columns: Columns, target: str, new: str) -> dict[str, str]:
    """Each non-key column's value after the upsert: the new row's (``new``), a sticky one only upwards."""
    larger = "max" if dialect.name == "sqlite" else "greatest"
    return {
        c: f'{larger}({target}."{c}", {new}."{c}")' if c in columns.spec.sticky else f'{new}."{c}"'
        for c in columns.stored
        if c not in columns.spec.key
    }


def _differs(dialect: Dialect, new: dict[str, str], target: str) -> str:
    """True where the upsert changes the row ``target`` holds."""
    distinct = "IS NOT" if dialect.name == "sqlite" else "IS DISTINCT FROM"
    return " OR ".join(f'{target}."{c}" {distinct} {expr}' for c, expr in new.items()) or "0 = 1"


_STAGED = "csm_import_staged"  # a TEMP table: one batch of an import on PostgreSQL


def _upsert_staged(
    conn: Any, table: str, gathered: _Gathered, batches: Iterable[list[list[Any]]], now: str
) -> tuple[int, int, int]:
    """:func:`_upsert` where no TEMP trigger keeps the history and no total_changes counts (PostgreSQL).

    Into an empty table the batches go straight in by COPY: no row to update or keep. Else
    every batch goes into a TEMP table first, by COPY (the keys were checked across the whole
    input as it streamed); from there, once, in SQL: the rows it will change leave their old
    values (:func:`history.keep_before`), the new and changed rows are counted, and one
    INSERT ... SELECT ... ON CONFLICT writes them. Once, not per batch: each pass joins the
    whole table, so a pass per batch would cost batches × rows.
    """
    dialect, columns = dialect_of(conn), gathered.columns
    dialect.serialise(conn, f"import {table}")  # a second import of this kind sees this one's rows
    names, key = columns.stored, columns.spec.key
    flags = [t == "BOOLEAN" for t in map(dialect.column_types(conn, table).get, names)]
    if conn.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {table})").fetchone()[0]:
        return _copy_batches(conn, table, gathered, flags, batches), 0, 0
    cols = ", ".join(f'"{c}"' for c in names)
    conn.execute(f"DROP TABLE IF EXISTS {_STAGED}")
    conn.execute(f"CREATE TEMP TABLE {_STAGED} AS SELECT {cols} FROM {table} WHERE 1 = 0")
    same_key = " AND ".join(f's."{k}" = t."{k}"' for k in key)
    new = _new_values(dialect, columns, "t", "s")
    staged = ", ".join(f"s.{_quoted(c)}" for c in names)
    changing = (
        f"SELECT {staged} FROM {_STAGED} s JOIN {table} t ON {same_key} WHERE {_differs(dialect, new, 't')}"
    )
    changed_keys = f"SELECT {', '.join(f'c.{_quoted(k)}' for k in key)} FROM ({changing}) AS c"
    fresh = f"SELECT 1 FROM {_STAGED} s WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {same_key})"
    on_conflict = "DO NOTHING"
    if new:
        excluded = _new_values(dialect, columns, table, "excluded")
        sets = ", ".join(f'"{c}" = {expr}' for c, expr in excluded.items())
        on_conflict = f"DO UPDATE SET {sets} WHERE {_differs(dialect, excluded, table)}"
    upsert = (
        f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {_STAGED} WHERE 1 = 1"  # WHERE: SQLite's parser
        f" ON CONFLICT ({', '.join(key)}) {on_conflict}"
    )
    total = _copy_batches(conn, _STAGED, gathered, flags, batches)
    conn.execute(f"ANALYZE {_STAGED}")  # its size, for the joins' plans: a TEMP table has no statistics
    history.keep_before(conn, table, now, changed_keys)
    inserted = conn.execute(f"SELECT count(*) FROM ({fresh}) AS f").fetchone()[0]
    updated = conn.execute(f"SELECT count(*) FROM ({changing}) AS c").fetchone()[0]
    conn.execute(upsert)
    conn.execute(f"DROP TABLE {_STAGED}")
    return inserted, updated, total - inserted - updated


def _copy_batches(
    conn: Any, table: str, gathered: _Gathered, flags: list[bool], batches: Iterable[list[list[Any]]]
) -> int:
    """Each batch's rows into ``table`` by COPY (``flags``: the BOOLEAN columns); how many rows.

    A batch whose CSV text the server reads as what it converted to goes as that text (the
    server parses it, as it would the file); else as COPY's text of the converted values.
    A COPY a batch, not one for all: between batches the connection is free, so the import's
    progress (and whatever it reads) sees the rows stored so far; one COPY bought about 5%.
    One batch in flight: while the server stores a batch, Python reads and checks the next
    (a COPY holds the connection, so anything else that uses it waits for the batch to be in).
    """
    columns, total = gathered.columns, 0
    with _InFlight() as in_flight:
        for values in batches:
            given = gathered.as_csv
            if given is not None:
                copy = functools.partial(conn.copy_csv, table, given.columns, given.delimiter, given.text)
            else:
                text = copy_text(columns.fold(values), flags)
                copy = functools.partial(conn.copy_text, table, columns.stored, text)
            in_flight.start(copy)
            total += len(gathered.wheres)  # the batch's rows (a batch checked by its text has no values)
    return total


HANDOFF_S = 0.0001  # the interpreter's switch interval while a batch is in flight (its default: 5 ms)


class _InFlight:
    """One call at a time on a thread of its own; the next starts once it is done, and its
    error is raised then. Used with ``with``: leaving waits for the last call (and raises its
    error, unless another is on its way out: the connection is free again for the rollback).

    Inside, the GIL is handed over within :data:`HANDOFF_S`. The COPY thread wakes each time
    the socket takes more of a batch, and must then wait for this thread, busy checking the
    next batch, to give up the GIL: at the default 5 ms the server idles between wakings, and
    the import's wall time is close to the sum of Python's and the server's work instead of the
    larger (100k accounts: 1.72x psycopg COPY of the file at 5 ms, 1.48x at 0.1 ms, the same
    CPU; benchmarks/RESULTS.md).
    """

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.interval = sys.getswitchinterval()  # as it was, for __exit__

    def __enter__(self) -> _InFlight:
        sys.setswitchinterval(HANDOFF_S)
        return self

    def __exit__(self, error_type: type[BaseException] | None, *_: object) -> None:
        try:
            if error_type is None:
                self.finish()
            else:
                self.join()  # the error on its way out is the one told
        finally:
            sys.setswitchinterval(self.interval)

    def start(self, call: Callable[[], None]) -> None:
        self.finish()

        def run() -> None:
            try:
                call()
            except BaseException as exc:  # raised in the caller's thread, by finish()
                self.error = exc

        self.thread = threading.Thread(target=run, name="csm-copy", daemon=True)
        self.thread.start()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None

    def finish(self) -> None:
        self.join()
        if self.error is not None:
            error, self.error = self.error, None
            raise error


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

"""`csm db copy`: a workspace's data moved between databases (SQLite, PostgreSQL), checked.

Both ends are opened with :func:`csm.data.store.connect`, so both hold the current
schema; every table of the source is copied in schema order into the target, in one
transaction on the target. Then each table is counted and checksummed on both sides,
from the values each database hands back: any difference rolls the copy back, and the
caller reports it. A target that holds any row is refused unless ``replace`` is set.

The checksum of a table is the sum, modulo 2**128, of a hash of each row: the row's
values in column-name order, normalised (a boolean as 0/1, a whole float as an integer,
NULL as null) so that SQLite's loose types and PostgreSQL's strict ones give the same
text for the same value. Both hand back a date as its ISO text and a NUMERIC as an int or
a float already (see :func:`csm.data.backend.connect_postgres`). A sum does not depend
on row order, so no ``ORDER BY`` is needed (and the two databases would not sort text the
same way anyway).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from csm.data import store
from csm.data.backend import dialect_of, is_postgres_url, redact
from csm.errors import CsmError, WorkspaceError

BATCH = 2_000
_MODULUS = 1 << 128


@dataclass(frozen=True)
class TableCheck:
    """One table as the source and the target hold it after the copy."""

    table: str
    rows_from: int
    rows_to: int
    checksum_from: str
    checksum_to: str

    @property
    def ok(self) -> bool:
        return self.rows_from == self.rows_to and self.checksum_from == self.checksum_to


@dataclass(frozen=True)
class CopyResult:
    source: str  # as shown: a file path, or the URL with any password hidden
    target: str
    tables: tuple[TableCheck, ...]
    committed: bool  # False: a table differed, and the target was left as it was

    @property
    def ok(self) -> bool:
        return self.committed and all(t.ok for t in self.tables)

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.source,
            "to": self.target,
            "copied": self.committed,
            "tables": [
                {
                    "table": t.table,
                    "rows_from": t.rows_from,
                    "rows_to": t.rows_to,
                    "checksum_from": t.checksum_from,
                    "checksum_to": t.checksum_to,
                    "ok": t.ok,
                }
                for t in self.tables
            ],
        }


def shown(where: str | Path) -> str:
    """A database as a person reads it: the path, or the URL with any password hidden."""
    return redact(where) if isinstance(where, str) else str(where)


def target_of(argument: str) -> str | Path:
    """A command-line FROM or TO: a ``postgresql://`` URL, else a SQLite file's path."""
    return argument if is_postgres_url(argument) else Path(argument).resolve()


class _Mismatch(Exception):
    def __init__(self, checks: tuple[TableCheck, ...]) -> None:
        self.checks = checks


def copy_database(
    source: str | Path,
    target: str | Path,
    *,
    replace: bool = False,
    password_from: str | None = None,
) -> CopyResult:
    """Copy every table of ``source`` into ``target`` and check both sides agree, table by table."""
    if shown(source) == shown(target):
        raise WorkspaceError(f"{shown(source)} is both the source and the target of the copy")
    src = store.connect(source, password_from=password_from)
    try:
        dst = store.connect(target, create=True, password_from=password_from)
        try:
            checks, committed = _copy(src, dst, shown(target), replace=replace)
        finally:
            dst.close()
    finally:
        src.close()
    return CopyResult(shown(source), shown(target), checks, committed)


def _copy(src: Any, dst: Any, target: str, *, replace: bool) -> tuple[tuple[TableCheck, ...], bool]:
    tables = dialect_of(src).tables(src)
    held = held_tables(dst)
    if held and not replace:
        refuse_held(target, held)
    src.execute(dialect_of(src).begin_snapshot)  # one consistent picture of a source still in use
    try:
        with store.transaction(dst):
            for table in reversed(held):
                dst.execute(f"DELETE FROM {table}")
            checks = tuple(_copy_table(src, dst, table) for table in tables)
            if not all(check.ok for check in checks):
                raise _Mismatch(checks)
    except _Mismatch as mismatch:
        return mismatch.checks, False
    finally:
        src.execute("ROLLBACK")  # it only read
    return checks, True


def held_tables(conn: Any) -> list[str]:
    """The tables of a database that hold any row: a copy's target must have none."""
    return [table for table in dialect_of(conn).tables(conn) if _count(conn, table)]


def refuse_held(target: str, held: list[str]) -> None:
    more = ", ..." if len(held) > 5 else ""
    raise WorkspaceError(
        f"{target} already holds data ({', '.join(held[:5])}{more}); a copy never mixes two workspaces",
        hint="Copy into a new, empty database, or pass --replace to delete what it holds first.",
    )


def _copy_table(src: Any, dst: Any, table: str) -> TableCheck:
    source_types = dialect_of(src).column_types(src, table)
    target_types = _with_columns(dst, table, source_types)
    columns = sorted(source_types)
    names = ", ".join(_quoted(c) for c in columns)
    insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
    writers = [_writer(dialect_of(dst).name, target_types[c]) for c in columns]
    summed = Checksum()
    try:
        for batch in _batches(src.execute(f"SELECT {names} FROM {table}")):
            summed.add_all(batch)
            dst.executemany(insert, [[w(v) for w, v in zip(writers, row, strict=True)] for row in batch])
    except CsmError:
        raise
    except Exception as exc:
        problem = store.database_problem(exc, None)
        if problem is not None:
            raise problem from None
        raise WorkspaceError(
            f"cannot copy table {table}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}",
            hint="Nothing was written to the target. A value the target's column type refuses"
            " (text in a number column) must be fixed in the source first.",
        ) from None
    dialect_of(dst).reset_identity(dst, table, columns)
    copied = table_checksum(dst, table, columns)
    return TableCheck(table, summed.rows, copied.rows, summed.hex, copied.hex)


def _with_columns(dst: Any, table: str, wanted: dict[str, str]) -> dict[str, str]:
    """The target's columns, after adding those the source has and it lacks (an import's extras)."""
    have = dialect_of(dst).column_types(dst, table)
    for name, declared in wanted.items():
        if name not in have:
            sql_type = dialect_of(dst).ddl(declared or "TEXT")
            dst.execute(f"ALTER TABLE {table} ADD COLUMN {_quoted(name)} {sql_type}")
            have[name] = declared or "TEXT"
    return have


def table_checksum(conn: Any, table: str, columns: Sequence[str]) -> Checksum:
    """The row count and checksum of ``columns`` of ``table`` (see the module's docstring)."""
    summed = Checksum()
    names = ", ".join(_quoted(c) for c in columns)
    for batch in _batches(conn.execute(f"SELECT {names} FROM {table}")):
        summed.add_all(batch)
    return summed


class Checksum:
    """A running count and order-free checksum of rows."""

    def __init__(self) -> None:
        self.rows = 0
        self.total = 0

    def add_all(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            text = json.dumps([_canonical(v) for v in row], ensure_ascii=False, separators=(",", ":"))
            self.total = (self.total + int.from_bytes(hashlib.sha256(text.encode()).digest()[:16])) % _MODULUS
            self.rows += 1

    @property
    def hex(self) -> str:
        return f"{self.total:032x}"


def _canonical(value: Any) -> Any:
    """One spelling per value, whichever database handed it back."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else repr(value)
    if isinstance(value, bytes | memoryview):
        return "\\x" + bytes(value).hex()
    return str(value)


def _writer(dialect: str, declared: str) -> Callable[[Any], Any]:
    """How a value read from the source is written into a target column of this type: as it came,
    but SQLite's 0/1 into a PostgreSQL BOOLEAN (sqlite3 stores a bool as 0/1 by itself)."""
    if dialect == "postgresql" and declared == "BOOLEAN":
        return lambda v: v if v is None or isinstance(v, bool) else bool(v)
    return _same


def _same(value: Any) -> Any:
    return value


def _batches(cursor: Any) -> Iterator[list[Any]]:
    while batch := cursor.fetchmany(BATCH):
        yield batch


def _count(conn: Any, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'

"""Rows with a life (drafts, tasks): born once per dedupe key, moved only as a table allows.

Each owning module writes its statuses and moves once, as a table of
:class:`Move`, and changes a status only through :func:`shift`: one
``UPDATE ... WHERE <which rows> AND status IN (<the move's sources>)`` inside
the caller's write transaction. A row in any other status is left as it was,
so two processes can never make the same move twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from csm.data.backend import dialect_of
from csm.errors import StateError


@dataclass(frozen=True)
class Move:
    """One action on a row: the statuses it starts from, those it may end in, and how it reads."""

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    done: str  # "only <sources> drafts can be <done>"
    hint: str | None = None  # what to do instead, for the StateError


@dataclass(frozen=True)
class Sql:
    """A value computed by SQLite from the row itself, e.g. ``Sql("attempts + 1")``."""

    text: str


def shift(
    conn: sqlite3.Connection,
    table: str,
    move: Move,
    new: str,
    where: str,
    params: Mapping[str, Any],
    changes: Mapping[str, Any],
) -> int:
    """Move the rows matching ``where`` that are in one of ``move``'s sources to ``new``; how many moved.

    ``changes`` are the other columns the move sets. Raises ValueError for a
    target the move does not have (a bug, not bad input).
    """
    sql, fixed = _shift_sql(conn, table, move, new, where, changes)
    values = {k: v for k, v in changes.items() if not isinstance(v, Sql)}
    return conn.execute(sql, {**params, **values, **fixed}).rowcount


def shift_each(
    conn: sqlite3.Connection,
    table: str,
    move: Move,
    new: str,
    where: str,
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """:func:`shift` for many rows at once: each of ``rows`` maps ``where``'s parameters and the
    changes (the same columns in every row). One statement sent for all of them, so PostgreSQL
    gets them in one round trip, not one a row."""
    if not rows:
        return
    changes = {k: v for k, v in rows[0].items() if f":{k}" not in where}
    sql, fixed = _shift_sql(conn, table, move, new, where, changes)
    conn.executemany(sql, [{**row, **fixed} for row in rows])


def _shift_sql(
    conn: sqlite3.Connection, table: str, move: Move, new: str, where: str, changes: Mapping[str, Any]
) -> tuple[str, dict[str, str]]:
    """The UPDATE of a move, and its parameters that do not change from row to row."""
    if new not in move.targets:
        raise ValueError(f"a move to {move.done} ends in {' or '.join(move.targets)}, not {new}")
    if not conn.in_transaction:
        raise RuntimeError(f"moving {table} rows needs the caller's write transaction (store.transaction)")
    sets = "".join(
        f", {column} = {value.text}" if isinstance(value, Sql) else f", {column} = :{column}"
        for column, value in changes.items()
    )
    marks = ", ".join(f":_from{i}" for i in range(len(move.sources)))
    fixed = {"_new": new, **{f"_from{i}": status for i, status in enumerate(move.sources)}}
    return f"UPDATE {table} SET status = :_new{sets} WHERE ({where}) AND status IN ({marks})", fixed


def refused(noun: str, row_id: int, current: str, move: Move) -> StateError:
    """The error for a move the row's ``current`` status does not allow."""
    return StateError(
        f"{noun} #{row_id} is {current}; only {' or '.join(move.sources)} {noun}s can be {move.done}",
        hint=move.hint,
    )


_CHUNK = 500
_Key = TypeVar("_Key", str, int)  # a dedupe key or a row's id


def keyed(conn: sqlite3.Connection, table: str, keys: list[str]) -> dict[str, int]:
    """The ids of the rows in ``table`` holding these dedupe keys, a chunk at a time."""
    found: dict[str, int] = {}
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: a run's new rows are read back, tens of thousands
    for chunk in chunks(keys):
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT dedupe_key, id FROM {table} WHERE dedupe_key IN ({marks})"
        found.update(cursor.execute(sql, chunk).fetchall())
    return found


def insert_new(
    conn: sqlite3.Connection, table: str, sql: str, rows: Mapping[str, Mapping[str, Any] | Sequence[Any]]
) -> dict[str, int]:
    """Insert the rows (by dedupe key, each as ``sql`` takes it) whose key is new, in one statement;
    their ids by key.

    Inside the caller's write transaction no other run can add a key between
    the check and the insert (on PostgreSQL: the transaction's lock on ``table``'s
    keys), so this is what INSERT OR IGNORE row by row would do.
    """
    dialect_of(conn).serialise(conn, f"{table} keys")
    taken = keyed(conn, table, list(rows))
    fresh = [key for key in rows if key not in taken]
    conn.executemany(sql, (rows[key] for key in fresh))
    return keyed(conn, table, fresh)


def chunks(keys: list[_Key]) -> list[list[_Key]]:
    """``keys`` in pieces small enough for one statement's parameters."""
    return [keys[start : start + _CHUNK] for start in range(0, len(keys), _CHUNK)]

"""Helpers for the import tests (test_importer, test_readers, test_convert, test_kinds).

The ``chunk_rows`` fixture they use is in conftest.py; test_importer, test_convert and
test_kinds override ``conn`` with conftest's ``db``, so each of their tests runs on SQLite and
on PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from csm.data.backend import dialect_of
from csm.data.importer import ImportResult, import_file
from csm.errors import DataImportError

NOW = "2026-11-23T07:00:00+00:00"

ACCOUNTS_CSV = """\
id,name,owner,arr,renewal_date,status
A1,Acme,Dana@Example.com,"48,000",2027-01-31,Active
A2,Beta,sam@example.com,48000.50,,churned
A3,Cobalt,,,2026-12-01,
"""

GOOD = "id,name\nA1,Acme\nA2,Beta\n"


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding=encoding)
    return path


def dump(conn: Any) -> str:
    """Every table's columns and rows, for "nothing changed" assertions, on either backend."""
    if dialect_of(conn).name == "sqlite":
        return "\n".join(conn.iterdump())
    tables = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        " ORDER BY table_name"
    )
    lines = []
    for (table,) in list(tables):
        lines.append(f"{table} {dialect_of(conn).column_types(conn, table)}")
        lines.extend(sorted(map(repr, conn.execute(f'SELECT * FROM "{table}"'))))
    return "\n".join(lines)


def rows(conn: sqlite3.Connection, sql: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in conn.execute(sql)]


def load(conn: sqlite3.Connection, tmp_path: Path, kind: str, name: str, text: str) -> ImportResult:
    return import_file(conn, kind, write(tmp_path, name, text), now=NOW)


def refusal_test(table: list[Any]) -> Callable[..., None]:
    """A test that importing each row of ``table`` fails with its message and changes nothing.

    A row is (kind, file name, text, message); each runs with one chunk and with
    a chunk a row (the ``chunk_rows`` fixture). Name it in a test module:
    ``test_x = refusal_test(ROWS)``.
    """

    @pytest.mark.parametrize(("kind", "name", "text", "message"), table)
    def test(
        conn: sqlite3.Connection,
        tmp_path: Path,
        kind: str,
        name: str,
        text: str,
        message: str,
        chunk_rows: int,
    ) -> None:
        load(conn, tmp_path, "accounts", "good.csv", GOOD)
        before = dump(conn)
        with pytest.raises(DataImportError) as exc:
            load(conn, tmp_path, kind, name, text)
        assert exc.value.message == f"{tmp_path}/{message}"
        assert dump(conn) == before

    return test

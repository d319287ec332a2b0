"""Helpers for the import tests (test_importer, test_readers, test_convert, test_kinds).

The ``conn`` and ``chunk_rows`` fixtures they use are in conftest.py.
"""

from __future__ import annotations

import sqlite3
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

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


def dump(conn: sqlite3.Connection) -> str:
    return "\n".join(conn.iterdump())


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

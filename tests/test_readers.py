"""Readers: CSV, JSON and NDJSON in, and input that would crash or hang an import refused."""

from __future__ import annotations

import io
import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from importing import NOW, load, refusal_test, rows, write

from csm.data import readers, store
from csm.data.importer import import_file
from csm.data.readers import Table, read_input, read_records
from csm.errors import DataImportError


def test_csv_tolerates_a_bom_and_header_spacing_and_case(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeff ID ,Account Name, Renewal Date ,seatsUsed\r\nA1,x,2027-01-31,4\r\n".encode())
    with pytest.raises(DataImportError, match="no 'name' column"):
        import_file(conn, "accounts", path, now=NOW)
    path.write_bytes("\ufeff ID , Name , Renewal Date ,seatsUsed\r\nA1,Acme,2027-01-31,4\r\n".encode())
    import_file(conn, "accounts", path, now=NOW)
    assert rows(conn, "SELECT id, name, renewal_date, seats_used FROM accounts") == [
        ("A1", "Acme", "2027-01-31", 4)
    ]


FORMATS = {
    "csv": "id,name,arr\nA1,Acme,100\nA2,Beta,\n",
    "json": '[{"id": "A1", "name": "Acme", "arr": 100}, {"id": "A2", "name": "Beta", "arr": null}]',
    "ndjson": '{"id": "A1", "name": "Acme", "arr": 100}\n\n{"id": "A2", "name": "Beta"}\n',
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_from_a_file_and_from_stdin(fmt: str, tmp_path: Path) -> None:
    for source in ("file", "stdin"):
        with closing(store.connect(tmp_path / f"{fmt}-{source}.db", create=True)) as conn:
            if source == "file":
                result = import_file(conn, "accounts", write(tmp_path, f"a.{fmt}", FORMATS[fmt]), now=NOW)
            else:
                stream = io.StringIO("\ufeff" + FORMATS[fmt])
                result = import_file(conn, "accounts", None, now=NOW, stream=stream)
                assert result.source == "stdin"
            assert (result.inserted, result.updated, result.unchanged) == (2, 0, 0)
            assert rows(conn, "SELECT id, name, arr FROM accounts ORDER BY id") == [
                ("A1", "Acme", 100.0),
                ("A2", "Beta", None),
            ]


def test_read_records_names_each_location(tmp_path: Path) -> None:
    csv_text = 'id,name\nA1,"two\nlines"\n\nA2,Beta\n'
    assert [loc for loc, _ in read_records(write(tmp_path, "a.csv", csv_text), name="a.csv")] == [
        "row 2",
        "row 4",
    ]
    json_text = '[{"id": "A1"},\n  {"id": "A2",\n   "name": "Beta"},\n  {"id": "A3"}]'
    assert [loc for loc, _ in read_records(None, name="-", stream=io.StringIO(json_text))] == [
        "record 1 (line 1)",
        "record 2 (line 2)",
        "record 3 (line 4)",
    ]
    ndjson = read_records(None, name="-", stream=io.StringIO(FORMATS["ndjson"]))
    assert [(loc, rec["id"]) for loc, rec in ndjson] == [("line 1", "A1"), ("line 3", "A2")]


def test_semicolon_csv_and_an_empty_trailing_column(conn: sqlite3.Connection, tmp_path: Path) -> None:
    load(conn, tmp_path, "accounts", "eu.csv", "id;name;arr;\nA1;Acme;12;\n")
    assert rows(conn, "SELECT id, name, arr FROM accounts") == [("A1", "Acme", 12.0)]


# -- unreadable input ------------------------------------------------------------------------------


BAD_ROWS = [
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,name,arr\nA9,Acme,48,000\n",
        "accounts.csv: row 2 has 4 values; the header has 3",
        id="unquoted comma",
    ),
    pytest.param("accounts", "accounts.csv", "\n \n", "accounts.csv: the file is empty", id="empty"),
    pytest.param(
        "accounts",
        "accounts.json",
        '[{"id": "A9", "name": "Acme"},\n {"id": "A8" "name": "Beta"}]',
        "accounts.json: line 2, column 14: invalid JSON: Expecting ',' delimiter",
        id="malformed json",
    ),
    pytest.param(
        "accounts",
        "accounts.json",
        '[{"id": "A9", "name": "Acme"}, ["A8"]]',
        "accounts.json: record 2 (line 1) is not an object: ['A8']",
        id="json not an object",
    ),
    pytest.param(
        "accounts",
        "accounts.ndjson",
        '{"id": "A9", "name": "Acme"}\n{"id": "A8", "name": }\n',
        "accounts.ndjson: line 2, column 22: invalid JSON: Expecting value",
        id="malformed ndjson",
    ),
]


# Input that once crashed or hung an import, or slipped into the database.
HOSTILE = [
    pytest.param(
        "accounts",
        "accounts.ndjson",
        '{"id": "A9", "name": "Acme"}\n{"id": "A8", "name": "Beta", "name": "Again"}\n',
        "accounts.ndjson: line 2: the key 'name' appears twice in one object; keep one",
        id="ndjson duplicate key",
    ),
    pytest.param(
        "accounts",
        "accounts.json",
        '[{"id": "A9", "name": "Acme"},\n {"id": "A8",\n  "name": "Beta", "p": {"x": 1, "x": 2}}]',
        "accounts.json: record 2 (line 2): the key 'x' appears twice in one object; keep one",
        id="json nested duplicate key",
    ),
    pytest.param(
        "accounts",
        "accounts.json",
        '[{"id": "A9", "name": "Acme", "arr": ' + "9" * 5000 + "}]",
        "accounts.json: record 1 (line 1): a number has more digits than the database can hold",
        id="json 5000 digits",
    ),
    pytest.param(
        "accounts",
        "accounts.json",
        "[" * 10_000 + "]" * 10_000,
        "accounts.json: record 1 (line 1): nested more than 1,000 levels deep; flatten it",
        id="json nested 10,000 deep",
    ),
    pytest.param(
        "accounts",
        "accounts.ndjson",
        '{"id": "A9", "name": "Acme"}\n{"id": "A8", "x": ' + "[" * 10_000 + "]" * 10_000 + "}\n",
        "accounts.ndjson: line 2: nested more than 1,000 levels deep; flatten it",
        id="ndjson nested 10,000 deep",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        'id,name\nA9,Acme\nA8,"Beta\nA7,Cobalt\nA6,Dune\n',
        "accounts.csv: line 3: a quote opened in this row is never closed (the value runs to the end of "
        "the file)",
        id="csv unclosed quote",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        'id,name\nA9,"Acme\nInc."\nA8,"Beta\nA7,"Cobalt"\nA6,Dune\n',
        "accounts.csv: line 4: a quote opened in this row ends in the middle of a value "
        "(the value runs on to line 5)",
        id="csv quote closed by the next row's",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        'id,name\nA9,"say "hi" there"\n',
        "accounts.csv: line 2: a quote opened in this row ends in the middle of a value",
        id="csv quote not doubled",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        'id,name\nA9,Acme\nA8,"Beta\n' + "A7,Cobalt\n" * 20_000,
        "accounts.csv: line 3: a value is longer than 131,072 characters (the value runs on to line 13110)",
        id="csv unclosed quote past the field limit",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,name\nA9,Acme\nA8," + "x" * 200_000 + "\n",
        "accounts.csv: line 3: a value is longer than 131,072 characters",
        id="csv field past the field limit",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        'id,"name\nA9,Acme\n',
        "accounts.csv: line 1: a quote opened in this row is never closed (the value runs to the end of "
        "the file)",
        id="csv unclosed quote in the header",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,name\nA9,Acme\nA8,Be\x00ta\n",
        "accounts.csv: line 3: a NUL character: not a text file",
        id="NUL",
    ),
]


test_unreadable_input_stops_the_import_and_changes_nothing = refusal_test(BAD_ROWS + HOSTILE)


_HEADERS = ["id,name,arr\n", "id,name,,x\r\n", "id;name\n", "id\tname\tplan\n", "id\n"]


def _chunks_read(path: Path, through_csv: bool, chunk_rows: int) -> list[Any]:
    """What a CSV's chunks come out as (row numbers, columns), or the message that stops them."""
    from csm.data import readers

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(readers, "CHUNK_ROWS", chunk_rows)
        if through_csv:
            patch.setattr(readers, "_plain_chunk", lambda *_args: None)
        seen: list[Any] = []
        try:
            table = readers.read_input(path, "t.csv", None)
            assert isinstance(table, readers.Table)
            for numbers, columns, *_text in table.chunks():
                seen.append((list(numbers), [list(column) for column in columns]))
        except DataImportError as exc:
            seen.append(str(exc))
        return seen


_CELL = st.text(alphabet=st.sampled_from(list("ab é\u2028")), max_size=3)
_ANY = st.text(alphabet=st.sampled_from(list('ab ,;\t"\r\né\u2028')), max_size=8)
_ENDS = st.sampled_from(["\n", "\r\n", "\r", ""])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.sampled_from(_HEADERS),
    lines=st.lists(st.tuples(st.lists(_CELL, min_size=1, max_size=4), _ENDS, _ANY), max_size=8),
    chunk_rows=st.sampled_from([1, 2, 3, 5_000]),
)
def test_plain_lines_split_as_csv_reads_them(
    tmp_path: Path, header: str, lines: list[tuple[list[str], str, str]], chunk_rows: int
) -> None:
    """A chunk of plain lines is split without csv: the same rows, numbers, columns and errors.

    Each line: cells joined by the header's delimiter, a line end, and mostly nothing after
    (else text that may hold quotes, other delimiters, carriage returns).
    """
    delimiter = "," if "," in header else ";" if ";" in header else "\t"
    body = "".join(
        delimiter.join(cells) + end + (noise if len(cells) == 4 else "") for cells, end, noise in lines
    )
    path = tmp_path / "t.csv"
    path.write_bytes((header + body).encode())
    assert _chunks_read(path, False, chunk_rows) == _chunks_read(path, True, chunk_rows)


def test_plain_lines_come_out_as_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from csm.data import readers

    path = write(tmp_path, "a.csv", "id,name\r\nA1, Acme \r\nA2,Bé\r\n\r\nA3,x,y\r\n")
    monkeypatch.setattr(readers, "CHUNK_ROWS", 2)
    table = read_input(path, "a.csv", None)
    assert isinstance(table, Table)
    chunks = table.chunks()
    text = "A1, Acme \r\nA2,Bé\r\n"
    assert next(chunks) == (range(2, 4), [["A1", "A2"], [" Acme ", "Bé"]], text, ())  # plain lines, one chunk
    with pytest.raises(DataImportError, match="row 5 has 3 values; the header has 2"):
        next(chunks)  # the blank line and the long row went through csv


@pytest.mark.parametrize(
    ("change", "matched"),
    [
        (None, True),
        ("crlf", True),  # every line ended alike
        ("bad value", False),
        ("one crlf", False),  # a line ended unlike the others
        ("lone cr", False),
        ("no last line end", True),
    ],
)
def test_a_chunk_matches_a_layout_whole_every_line_ended_alike(change: str | None, matched: bool) -> None:
    """Matched a few hundred lines at a time (the GIL let go between): any line of any piece counts."""
    layout = re.compile(r"(?:[a-z]+,[0-9]+(?:\r?\n|\Z))*+")
    lines = [f"a,{n}\n" for n in range(1_203)]
    if change == "crlf":
        lines = [line.replace("\n", "\r\n") for line in lines]
    elif change == "bad value":
        lines[1_101] = "a,x\n"  # in the third piece
    elif change == "one crlf":
        lines[700] = "a,700\r\n"
    elif change == "lone cr":
        lines[1_000] = "a,1000\r"
    elif change == "no last line end":
        lines[-1] = "a,1202"
    assert readers._matches(layout, "".join(lines), lines) is matched

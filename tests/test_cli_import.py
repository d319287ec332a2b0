"""`csm import` end to end: exact output, exit codes, and an untouched database on errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import connect, db_dump
from typer.testing import CliRunner

from csm.cli import app
from csm.init import create

DATA = Path(__file__).parent / "data"
ACCOUNTS = "id,name,arr\nA1,Acme,100\nA2,Beta,200\n"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return create(tmp_path / "ws")


def csm(ws: Path, *args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["--workspace", str(ws), *args], input=input)


def dump(ws: Path) -> str:
    return "\n".join(db_dump(ws))


def test_import_prints_the_counts(ws: Path, tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text(ACCOUNTS)
    result = csm(ws, "import", "accounts", str(path))
    assert (result.exit_code, result.stdout) == (0, f"Imported {path}: 2 new, 0 updated, 0 unchanged.\n")
    path.write_text("id,name,arr\nA1,Acme,150\nA2,Beta,200\nA3,Cobalt,\n")
    result = csm(ws, "import", "accounts", str(path))
    assert result.stdout == f"Imported {path}: 1 new, 1 updated, 1 unchanged.\n"


def test_import_reads_stdin_and_prints_json(ws: Path) -> None:
    result = csm(ws, "import", "accounts", "-", "--json", input=ACCOUNTS)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "kind": "accounts",
        "source": "stdin",
        "inserted": 2,
        "updated": 0,
        "unchanged": 0,
    }
    result = csm(ws, "import", "contacts", "-", input='{"account": "A1", "email": "ann@acme.example"}\n')
    assert result.stdout == "Imported stdin: 1 new, 0 updated, 0 unchanged.\n"


def test_a_bad_row_exits_1_and_leaves_the_database_as_it_was(ws: Path, tmp_path: Path) -> None:
    assert csm(ws, "import", "accounts", "-", input=ACCOUNTS).exit_code == 0
    before = dump(ws)
    path = tmp_path / "accounts.csv"
    path.write_text("id,name,renewal_date\nA1,Acme,2027-01-31\nA4,Dune,2026-13-01\n")
    result = csm(ws, "import", "accounts", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: {path}: row 3, column 'renewal_date': '2026-13-01' is not a date (expected YYYY-MM-DD)\n"
    )
    assert dump(ws) == before


def test_import_through_a_builtin_mapping(ws: Path) -> None:
    export = DATA / "salesforce-accounts.csv"
    result = csm(ws, "import", "accounts", str(export), "--map", "salesforce-accounts")
    assert result.stdout == f"Imported {export}: 3 new, 0 updated, 0 unchanged.\n"
    with connect(ws) as conn:
        stored = conn.execute("SELECT renewal_date FROM accounts WHERE id = '0015g00000XyZ13AAB'").fetchone()
    assert stored == ("2026-10-31",)


def test_a_csv_export_without_its_mapping_says_which_column_is_missing(ws: Path) -> None:
    result = csm(ws, "import", "accounts", str(DATA / "hubspot-companies.csv"))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {DATA / 'hubspot-companies.csv'}: row 1: no 'id' column (accounts need id, name)\n"
        "Name the column so, or read a CRM export with --map NAME.\n"
    )


def test_an_unknown_mapping_lists_the_choices(ws: Path, tmp_path: Path) -> None:
    result = csm(ws, "import", "accounts", "-", "--map", "hubspot", input=ACCOUNTS)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: no mapping named 'hubspot'; available: hubspot-companies, salesforce-accounts,"
        " zendesk-tickets\n"
        f"Add your own as {ws.resolve() / 'mappings' / 'hubspot'}.toml.\n"
    )


def test_an_unknown_kind_is_a_usage_error(ws: Path) -> None:
    result = csm(ws, "import", "acounts", "-", input=ACCOUNTS)
    assert result.exit_code == 2
    assert "Invalid value for KIND: 'acounts' is not one of: accounts, contacts, usage" in result.stderr


def test_a_missing_file(ws: Path, tmp_path: Path) -> None:
    result = csm(ws, "import", "usage", str(tmp_path / "nope.csv"))
    assert (result.exit_code, result.stderr) == (1, f"Error: no file {tmp_path / 'nope.csv'}\n")


def test_import_is_in_the_help() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert "import" in result.stdout
    result = CliRunner().invoke(app, ["import", "--help"])
    assert "--map NAME" in result.stdout and "- reads stdin" in result.stdout


def test_an_unclosed_quote_names_the_line_it_opened_on(ws: Path, tmp_path: Path) -> None:
    assert csm(ws, "import", "accounts", "-", input=ACCOUNTS).exit_code == 0
    before = dump(ws)
    path = tmp_path / "accounts.csv"
    path.write_text(
        'id,name,arr\nA1,Acme,100\nA3,"Cobalt,300\n' + "".join(f"A{i},N{i},1\n" for i in range(4, 500))
    )
    result = csm(ws, "import", "accounts", str(path))
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: {path}: line 3: a quote opened in this row is never closed (the value runs to the end of "
        "the file)\n"
        'Close the quote, or escape a quote inside a value as "" (two double quotes).\n'
    )
    assert dump(ws) == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"id,name\nA1,Acme\nA2,Caf\xe9\n", "line 3: not UTF-8 text; byte 0xe9 cannot be read"),
        ("id,name\nA1,Acme\n".encode("utf-16"), "line 1: not UTF-8 text (it looks like UTF-16); byte 0xff"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "line 1: not UTF-8 text; byte 0x89 cannot be read"),
        (b"id,name\nA1,Acme\n\x00\x00\x00", "line 3: a NUL character: not a text file"),
    ],
)
def test_a_file_that_is_not_utf8_text_names_the_line(
    ws: Path, tmp_path: Path, data: bytes, message: str
) -> None:
    before = dump(ws)
    path = tmp_path / "accounts.csv"
    path.write_bytes(data)
    for source, name, stdin in ((str(path), str(path), None), ("-", "stdin", data)):
        result = csm(ws, "import", "accounts", source, input=stdin)
        assert result.exit_code == 1
        assert result.stderr.startswith(f"Error: {name}: {message}")
        assert result.stderr.endswith("\nSave it as UTF-8 (in Excel: File > Save As > CSV UTF-8).\n")
    assert dump(ws) == before


def test_a_mapping_number_too_long_and_a_mapping_nested_too_deep(ws: Path, tmp_path: Path) -> None:
    mappings = ws / "mappings"
    mappings.mkdir(exist_ok=True)
    (mappings / "ours.toml").write_text('id = "ID"\nname = "Name"\narr = { from = "ARR", number = true }\n')
    path = tmp_path / "export.csv"
    path.write_text(f"ID,Name,ARR\nA1,Acme,$100\nA2,Beta,${'9' * 5000}\n")
    before = dump(ws)
    result = csm(ws, "import", "accounts", str(path), "--map", "ours")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {path}: row 3, field 'ARR': '${'9' * 58} is too large\n"
    (mappings / "deep.toml").write_text("id = " + "[" * 10_000 + "]" * 10_000 + "\n")
    result = csm(ws, "import", "accounts", str(path), "--map", "deep")
    assert result.exit_code == 1
    deep = mappings / "deep.toml"
    assert result.stderr == f"Error: {deep}:1:1: TOML syntax: arrays or inline tables nested too deeply\n"
    assert dump(ws) == before

"""CRM field mappings: the built-ins on sample exports, each transform, and errors."""

from __future__ import annotations

import datetime as dt
import sqlite3
import tomllib
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from csm.data import store
from csm.data.importer import import_file
from csm.data.mapping import BUILTIN_DIR, available_mappings, load_mapping, parse_mapping
from csm.errors import DataImportError, InputError

DATA = Path(__file__).parent / "data"
NOW = "2026-11-23T07:00:00+00:00"


def accounts(conn: sqlite3.Connection, columns: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(f"SELECT {columns} FROM accounts ORDER BY id")]


def declared(conn: sqlite3.Connection) -> dict[str, str]:
    return {r[1]: r[2] for r in conn.execute("PRAGMA table_info(accounts)")}


# -- built-ins -------------------------------------------------------------------------------------


def test_hubspot_companies_export(conn: sqlite3.Connection, tmp_path: Path) -> None:
    mapping = load_mapping("hubspot-companies", tmp_path)
    result = import_file(conn, "accounts", DATA / "hubspot-companies.csv", now=NOW, mapping=mapping)
    assert (result.inserted, result.updated, result.unchanged) == (3, 0, 0)
    assert accounts(
        conn, "id, name, owner, company_revenue, start_date, status, hubspot_lifecycle_stage, employees"
    ) == [
        (
            "9012345678",
            "Northwind Logistics",
            "dana.reyes@northwind-cs.example",
            1200000.0,
            "2023-04-12",
            "active",
            "customer",
            140,
        ),
        (
            "9012345679",
            "Bluefin Analytics",
            "sam.okafor@northwind-cs.example",
            86000.5,
            "2024-01-08",
            "active",
            "customer",
            22,
        ),
        (
            "9012345680",
            "Cedar Harbor Dental",
            "dana.reyes@northwind-cs.example",
            None,
            "2025-11-30",
            "active",
            "evangelist",
            9,
        ),
    ]
    types = declared(conn)
    assert (types["employees"], types["industry"], types["country"]) == ("INTEGER", "TEXT", "TEXT")
    again = import_file(conn, "accounts", DATA / "hubspot-companies.csv", now=NOW, mapping=mapping)
    assert again.unchanged == 3


def test_salesforce_accounts_report(conn: sqlite3.Connection, tmp_path: Path) -> None:
    mapping = load_mapping("salesforce-accounts", tmp_path)
    import_file(conn, "accounts", DATA / "salesforce-accounts.csv", now=NOW, mapping=mapping)
    assert accounts(
        conn, "id, name, owner, company_revenue, start_date, renewal_date, account_type, country"
    ) == [
        (
            "0015g00000XyZ12AAB",
            "Summit Quartz Energy",
            "priya.natarajan@northwind-cs.example",
            1200000.0,
            "2024-03-14",
            "2027-03-13",
            "customer - direct",
            "United States",
        ),
        (
            "0015g00000XyZ13AAB",
            "Ember Media",
            "sam.okafor@northwind-cs.example",
            86000.0,
            "2025-11-01",
            "2026-10-31",
            "customer - channel",
            "Canada",
        ),
        (
            "0015g00000XyZ14AAB",
            "Lumen Robotics",
            "dana.reyes@northwind-cs.example",
            None,
            "2026-01-15",
            "2027-01-14",
            "customer - direct",
            "Germany",
        ),
    ]
    assert declared(conn)["account_type"] == "TEXT"


@pytest.mark.parametrize("path", sorted(BUILTIN_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_every_builtin_mapping_parses(path: Path) -> None:
    mapping = parse_mapping(tomllib.loads(path.read_text(encoding="utf-8")), str(path))
    kind = path.stem.rpartition("-")[2]  # hubspot-companies: accounts; zendesk-tickets: events
    required = {"id", "account_id", "kind", "occurred_at"} if kind == "tickets" else {"id", "name"}
    assert required <= {f.column for f in mapping.fields}


def test_builtins_live_inside_the_package_so_the_wheel_ships_them() -> None:
    import csm

    assert BUILTIN_DIR.is_relative_to(Path(csm.__file__).parent)
    assert {p.name for p in BUILTIN_DIR.glob("*.toml")} >= {
        "hubspot-companies.toml",
        "salesforce-accounts.toml",
    }


def test_a_workspace_mapping_wins_over_the_builtin(tmp_path: Path) -> None:
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "hubspot-companies.toml").write_text('id = "ID"\nname = "Company"\n')
    (tmp_path / "mappings" / "pipedrive.toml").write_text('id = "Org ID"\nname = "Org"\n')
    mapping = load_mapping("hubspot-companies", tmp_path)
    assert mapping.apply({"ID": "7", "Company": "Acme"}, "row 2") == {"id": "7", "name": "Acme"}
    assert available_mappings(tmp_path) == [
        "hubspot-companies",
        "pipedrive",
        "salesforce-accounts",
        "zendesk-tickets",
    ]


def test_an_unknown_mapping_lists_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        load_mapping("hubspot-company", tmp_path)
    assert exc.value.message == (
        "no mapping named 'hubspot-company' (did you mean 'hubspot-companies'?); "
        "available: hubspot-companies, salesforce-accounts, zendesk-tickets"
    )
    assert exc.value.hint == f"Add your own as {tmp_path / 'mappings' / 'hubspot-company'}.toml."
    with pytest.raises(InputError, match=r"^no mapping named '\.\./csm'"):
        load_mapping("../csm", tmp_path)


def test_a_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "mappings").mkdir()
    path = tmp_path / "mappings" / "mine.toml"
    path.write_text('id = "Record ID"\nname = \n')
    with pytest.raises(InputError, match=rf"^{path}:2:8: TOML syntax: Invalid value"):
        load_mapping("mine", tmp_path)


def test_a_mapping_file_past_the_size_cap_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mappings").mkdir()
    path = tmp_path / "mappings" / "mine.toml"
    path.write_text('id = "Record ID"\n' + "# padding\n" * 20_000)
    with pytest.raises(InputError, match=rf"^{path}:1:1: the file is larger than 128 KB"):
        load_mapping("mine", tmp_path)


# -- transforms ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "record", "expected"),
    [
        ("Company name", {"Company name": "Acme"}, "Acme"),
        ("Company name", {" company NAME ": "Acme"}, "Acme"),
        ({"from": "properties.name"}, {"properties": {"name": "Acme"}}, "Acme"),
        ({"from": "properties.name"}, {"properties.name": "flat"}, "flat"),
        (
            {"from": "Close Date", "date_format": "%m/%d/%Y"},
            {"Close Date": "3/14/2027"},
            dt.date(2027, 3, 14),
        ),
        (
            {"from": "Seen", "date_format": "%d.%m.%Y %H:%M"},
            {"Seen": "14.03.2027 09:30"},
            dt.datetime(2027, 3, 14, 9, 30),
        ),
        ({"from": "Close Date", "date_format": "%m/%d/%Y"}, {"Close Date": " "}, None),
        ({"from": "ARR", "number": True}, {"ARR": "$48,000.50"}, 48000.5),
        ({"from": "ARR", "number": True}, {"ARR": "EUR 1,200"}, 1200),
        ({"from": "ARR", "number": True}, {"ARR": "12 GBP"}, 12),
        ({"from": "ARR", "number": True}, {"ARR": 7.5}, 7.5),
        ({"from": "ARR", "number": True}, {"ARR": ""}, None),
        ({"from": "Owner", "lowercase": True}, {"Owner": "Dana@X.example"}, "dana@x.example"),
        ({"value": "active"}, {}, "active"),
        ({"value": 0}, {}, 0),
    ],
)
def test_each_transform(spec: Any, record: dict[str, Any], expected: Any) -> None:
    mapping = parse_mapping({"col": spec}, "m.toml")
    assert mapping.apply(record, "row 2") == {"col": expected}


@pytest.mark.parametrize(
    ("spec", "record", "message"),
    [
        (
            "Record ID",
            {"ID": "1"},
            "accounts.csv: row 2: no field 'Record ID' (mapping 'm' reads it for 'col')",
        ),
        (
            {"from": "properties.name"},
            {"properties": {"title": "x"}},
            "accounts.csv: row 2: no field 'properties.name' (mapping 'm' reads it for 'col')",
        ),
        (
            {"from": "Close Date", "date_format": "%m/%d/%Y"},
            {"Close Date": "2027-03-14"},
            "accounts.csv: row 2, field 'Close Date': '2027-03-14' does not match the date format "
            "%m/%d/%Y (like 03/14/2026)",
        ),
        (
            {"from": "ARR", "number": True},
            {"ARR": "1.5k"},
            "accounts.csv: row 2, field 'ARR': '1.5k' is not a number",
        ),
    ],
)
def test_apply_errors_name_the_row_and_the_field(spec: Any, record: dict[str, Any], message: str) -> None:
    mapping = parse_mapping({"col": spec}, "mappings/m.toml")
    with pytest.raises(DataImportError) as exc:
        mapping.apply(record, "accounts.csv: row 2")
    assert exc.value.message == message


def test_an_import_through_a_mapping_stops_at_the_bad_row(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Record ID,Company name,Close\n1,Acme,3/14/2027\n2,Beta,14/3/2027\n")
    mapping = parse_mapping(
        {
            "id": "Record ID",
            "name": "Company name",
            "renewal_date": {"from": "Close", "date_format": "%m/%d/%Y"},
        },
        "m.toml",
    )
    before = "\n".join(conn.iterdump())
    with pytest.raises(DataImportError) as exc:
        import_file(conn, "accounts", path, now=NOW, mapping=mapping)
    assert exc.value.message == (
        f"{path}: row 3, field 'Close': '14/3/2027' does not match the date format %m/%d/%Y (like 03/14/2026)"
    )
    assert "\n".join(conn.iterdump()) == before


# -- parse errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, 'm.toml: the mapping is empty; add lines like id = "Record ID"'),
        (
            {"Account Name": "Name"},
            "m.toml: 'Account Name': not a csm column name "
            "(lowercase letters, digits and _, like renewal_date)",
        ),
        ({"arr": 3}, "m.toml: 'arr': expected a field name or a table like { from = \"...\" }, got 3"),
        (
            {"arr": {"from": "ARR", "numbr": True}},
            "m.toml: 'arr': unknown option 'numbr' (did you mean 'number'?)",
        ),
        (
            {"arr": {"number": True}},
            "m.toml: 'arr': give exactly one of from = \"Field name\" or value = constant",
        ),
        (
            {"arr": {"from": "ARR", "value": 1}},
            "m.toml: 'arr': give exactly one of from = \"Field name\" or value = constant",
        ),
        (
            {"status": {"value": "active", "lowercase": True}},
            "m.toml: 'status': a constant value takes no other options",
        ),
        ({"status": {"value": [1]}}, "m.toml: 'status': value must be text, a number or true/false, got [1]"),
        ({"arr": {"from": ""}}, "m.toml: 'arr': from must be a field name"),
        ({"arr": {"from": "ARR", "number": "yes"}}, "m.toml: 'arr': number must be true or false"),
        (
            {"d": {"from": "D", "date_format": "MM/DD/YYYY"}},
            "m.toml: 'd': date_format must be a format like \"%m/%d/%Y\", got 'MM/DD/YYYY'",
        ),
        (
            {"d": {"from": "D", "date_format": "%Q"}},
            "m.toml: 'd': date_format '%Q' does not work: 'Q' is a bad directive in format '%Q'",
        ),
        (
            {"d": {"from": "D", "date_format": "%Y", "number": True}},
            "m.toml: 'd': choose one of date_format, number and lowercase",
        ),
    ],
)
def test_parse_errors_name_the_file_and_the_key(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_mapping(raw, "m.toml")
    assert exc.value.message == message


def test_zendesk_tickets_export(conn: sqlite3.Connection, tmp_path: Path) -> None:
    """A helpdesk export becomes ticket events: dates read, the chosen columns kept as attributes."""
    for account in ("A1", "A2"):
        conn.execute("INSERT INTO accounts (id, name) VALUES (?, ?)", (account, account))
    mapping = load_mapping("zendesk-tickets", tmp_path)
    result = import_file(conn, "events", DATA / "zendesk-tickets.csv", now=NOW, mapping=mapping)
    assert (result.inserted, result.updated, result.unchanged) == (3, 0, 0)
    rows = conn.execute(
        "SELECT id, account_id, kind, contact, occurred_at, closed_at, attributes FROM events ORDER BY id"
    )
    assert [tuple(r) for r in rows] == [
        ("48007", "A2", "ticket", "ana@globex.example", "2026-10-15T08:30:00", "2026-10-16T09:00:00",
         '{"satisfaction": "bad", "severity": "low", "status": "closed", "subject": "Invoice address",'
         ' "ticket_type": "task"}'),
        ("48190", "A1", "ticket", "sam.okafor@acme.example", "2026-11-02T13:05:55", "2026-11-03T10:01:17",
         '{"satisfaction": "good", "severity": "normal", "status": "solved", "subject": "How do I add SSO?",'
         ' "ticket_type": "question"}'),
        ("48213", "A1", "ticket", "dana.reyes@acme.example", "2026-11-20T09:14:03", None,
         '{"satisfaction": "unoffered", "severity": "urgent", "status": "open",'
         ' "subject": "Exports fail with a timeout", "ticket_type": "incident"}'),
    ]  # fmt: skip
    again = import_file(conn, "events", DATA / "zendesk-tickets.csv", now=NOW, mapping=mapping)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)


# -- why they bought: goals, use case, success criteria, integrations -------------------------------


def test_salesforce_goals_become_lists_and_an_export_without_them_keeps_them(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    mapping = load_mapping("salesforce-accounts", tmp_path)
    header, *rows = (DATA / "salesforce-accounts.csv").read_text(encoding="utf-8").splitlines()
    with_goals = tmp_path / "with-goals.csv"
    with_goals.write_text(
        "\n".join(
            [
                header + ',"Goals","Use Case","Connected Integrations"',
                rows[0]
                + ',"Close the books in 3 days; Retire the spreadsheets","Month-end close","Slack;Jira"',
                rows[1] + ',"","",""',
            ]
        ),
        encoding="utf-8",
    )
    import_file(conn, "accounts", with_goals, now=NOW, mapping=mapping)
    assert accounts(conn, "goals, use_case, success_criteria, integrations") == [
        ("Close the books in 3 days\nRetire the spreadsheets", "Month-end close", None, "Slack\nJira"),
        (None, None, None, None),
    ]
    import_file(conn, "accounts", DATA / "salesforce-accounts.csv", now=NOW, mapping=mapping)
    assert accounts(conn, "goals, integrations")[0] == (
        "Close the books in 3 days\nRetire the spreadsheets",
        "Slack\nJira",
    )


def test_goals_from_json_are_a_list_and_a_nested_value_is_refused(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(
        '[{"id": "A1", "name": "Acme", "goals": ["Cut churn", " ", "Grow seats"], "use_case": "Reporting"},'
        ' {"id": "A2", "name": "Bo", "goals": [{"x": 1}]}]',
        encoding="utf-8",
    )
    with pytest.raises(DataImportError, match=r"record 2 .*column .goals.: an object is not a single value"):
        import_file(conn, "accounts", path, now=NOW)
    assert accounts(conn, "id") == []
    path.write_text(
        '[{"id": "A1", "name": "Acme", "goals": ["Cut churn", " ", "Grow seats"]}]', encoding="utf-8"
    )
    import_file(conn, "accounts", path, now=NOW)
    assert accounts(conn, "goals") == [("Cut churn\nGrow seats",)]


def test_optional_must_be_true_or_false(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="'goals': optional must be true or false"):
        parse_mapping({"id": "ID", "goals": {"from": "Goals", "optional": "yes"}}, "m.toml")


def test_the_move_to_schema_10_keeps_goals_an_import_brought_as_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path, isolation_level=None)
    for version, migration in enumerate(store.MIGRATIONS[:9], start=1):
        migration(old)
        old.execute(f"PRAGMA user_version = {version}")
    old.execute("ALTER TABLE accounts ADD COLUMN goals TEXT")  # an import brought it as an extra column
    old.execute("INSERT INTO accounts (id, name, goals) VALUES ('A1', 'Acme', 'Cut churn')")
    old.close()
    with closing(store.connect(path)) as conn:
        assert store.schema_version(conn) == store.SCHEMA_VERSION
        assert accounts(conn, "goals, use_case, success_criteria, integrations") == [
            ("Cut churn", None, None, None)
        ]

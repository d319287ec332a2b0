"""Imports: upsert counts, one transaction, streaming, progress, and rows that clash."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from importing import ACCOUNTS_CSV, GOOD, NOW, dump, load, refusal_test, rows, write

from csm.data import store
from csm.data.backend import dialect_of
from csm.data.importer import ImportResult, import_file, import_records
from csm.errors import DataImportError, InputError


@pytest.fixture
def conn(db: Any) -> Any:
    """Each import test runs on SQLite and on PostgreSQL (conftest's ``db``)."""
    return db


def test_csv_values_are_checked_and_typed(conn: sqlite3.Connection, tmp_path: Path) -> None:
    result = load(conn, tmp_path, "accounts", "accounts.csv", ACCOUNTS_CSV)
    assert result == ImportResult("accounts", str(tmp_path / "accounts.csv"), 3, 0, 0)
    assert rows(conn, "SELECT id, name, owner, arr, renewal_date, status FROM accounts ORDER BY id") == [
        ("A1", "Acme", "dana@example.com", 48000.0, "2027-01-31", "active"),
        ("A2", "Beta", "sam@example.com", 48000.5, None, "churned"),
        ("A3", "Cobalt", None, None, "2026-12-01", "active"),
    ]


# -- upserts ---------------------------------------------------------------------------------------


def test_second_import_counts_new_updated_unchanged(
    conn: sqlite3.Connection, tmp_path: Path, chunk_rows: int
) -> None:
    load(conn, tmp_path, "accounts", "accounts.csv", ACCOUNTS_CSV)
    conn.execute("UPDATE accounts SET health_score = 71 WHERE id = 'A1'")
    again = "id,name,arr\nA1,Acme,48000\nA2,Beta Corp,48000.5\nA4,Dune,10\n"
    result = load(conn, tmp_path, "accounts", "again.csv", again)
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 1)
    # Columns the file does not carry are left alone.
    assert rows(conn, "SELECT id, name, status, health_score, renewal_date FROM accounts ORDER BY id") == [
        ("A1", "Acme", "active", 71.0, "2027-01-31"),
        ("A2", "Beta Corp", "churned", None, None),
        ("A3", "Cobalt", "active", None, "2026-12-01"),
        ("A4", "Dune", "active", None, None),
    ]
    assert rows(conn, "SELECT account_id, at, kind, touch, summary FROM timeline ORDER BY id") == [
        (None, NOW, "import", 0, f"imported {tmp_path / 'accounts.csv'}: 3 new, 0 updated, 0 unchanged"),
        (None, NOW, "import", 0, f"imported {tmp_path / 'again.csv'}: 1 new, 1 updated, 1 unchanged"),
    ]


def test_an_import_is_put_on_the_timeline_by_timeline_record(
    conn: sqlite3.Connection, tmp_path: Path, timeline_writes: list[tuple[object, ...]]
) -> None:
    load(conn, tmp_path, "accounts", "good.csv", GOOD)
    import_records(conn, "accounts", [("record 1", {"id": "A3", "name": "C"})], source="api", now=NOW)
    assert timeline_writes == [
        (None, "import", f"imported {tmp_path / 'good.csv'}: 2 new, 0 updated, 0 unchanged"),
        (None, "import", "imported api: 1 new, 0 updated, 0 unchanged"),
    ]
    assert rows(conn, "SELECT account_id, kind, summary FROM timeline ORDER BY id") == timeline_writes


def test_contacts_aliases_roles_and_booleans(conn: sqlite3.Connection, tmp_path: Path) -> None:
    load(conn, tmp_path, "accounts", "accounts.csv", ACCOUNTS_CSV)
    contacts = """\
        Account,Email,Name,Role,Primary
        A1,Ann@Acme.example,Ann,Economic Buyer,yes
        A1,bo@acme.example,Bo,champion,
        A2,cy@beta.example,Cy,,Y
        """
    result = load(conn, tmp_path, "contacts", "contacts.csv", contacts)
    assert (result.inserted, result.updated, result.unchanged) == (3, 0, 0)
    assert rows(conn, "SELECT account_id, email, role, is_primary FROM contacts ORDER BY email") == [
        ("A1", "ann@acme.example", "economic_buyer", 1),
        ("A1", "bo@acme.example", "champion", 0),
        ("A2", "cy@beta.example", None, 1),
    ]


def test_an_import_never_resubscribes_a_contact(conn: sqlite3.Connection, tmp_path: Path) -> None:
    load(conn, tmp_path, "accounts", "accounts.csv", ACCOUNTS_CSV)
    load(conn, tmp_path, "contacts", "c.csv", "account_id,email,unsubscribed\nA1,a@x.example,true\n")
    result = load(
        conn, tmp_path, "contacts", "c.csv", "account_id,email,unsubscribed\nA1,a@x.example,false\n"
    )
    assert (result.updated, result.unchanged) == (0, 1)
    assert rows(conn, "SELECT unsubscribed FROM contacts") == [(1,)]


def test_usage_upserts_by_account_metric_and_date(conn: sqlite3.Connection, tmp_path: Path) -> None:
    load(conn, tmp_path, "accounts", "accounts.csv", ACCOUNTS_CSV)
    usage = "account_id,metric,date,value\nA1,active_users,2026-11-01,40\nA1,active_users,2026-11-02,41\n"
    assert load(conn, tmp_path, "usage", "u.csv", usage).inserted == 2
    usage = "account_id,metric,date,value\nA1,active_users,2026-11-01,40\nA1,active_users,2026-11-02,45\n"
    result = load(conn, tmp_path, "usage", "u.csv", usage)
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 1)
    assert rows(conn, "SELECT date, value FROM usage ORDER BY date") == [
        ("2026-11-01", 40.0),
        ("2026-11-02", 45.0),
    ]


def test_json_records_may_bring_fields_as_they_go(conn: sqlite3.Connection, tmp_path: Path) -> None:
    records = [
        ("record 1", {"id": "A1", "name": "Acme"}),
        ("record 2", {"id": "A2", "name": "B", "region": "EU"}),
    ]
    import_records(conn, "accounts", records, source="api", now=NOW)
    assert rows(conn, "SELECT id, region FROM accounts ORDER BY id") == [("A1", None), ("A2", "EU")]


# -- bad rows --------------------------------------------------------------------------------------


BAD_ROWS = [
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,name\nA9,Acme\nA8,Beta\nA9,Again\n",
        "accounts.csv: row 4: id 'A9' is also in row 2; each may appear once",
        id="duplicate",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,name\n",
        "accounts.csv: no accounts to import",
        id="no rows",
    ),
    pytest.param(
        "contacts",
        "contacts.csv",
        "account_id,email\nA1,ann@acme.example\nA1,ANN@acme.example\n",
        "contacts.csv: row 3: account_id 'A1', email 'ann@acme.example' is also in row 2; "
        "each may appear once",
        id="duplicate contact",
    ),
]


test_a_bad_row_stops_the_import_and_changes_nothing = refusal_test(BAD_ROWS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # Checked a column at a time, reported a row at a time: row 2 comes first.
        ("id,name,arr,renewal_date\nA1,Acme,abc,2026-01-01\nA2,Beta,1,2026-13-01\n", "row 2, column 'arr'"),
        ("id,name,arr\nA1,Acme,1\nA2,Beta,x\nA1,Again,1\n", "row 3, column 'arr'"),
        ("id,name,arr\nA1,Acme,1\nA1,Again,1\nA2,Beta,x\n", "row 3: id 'A1' is also in row 2"),
        ("id,name,arr\nA1,Acme,x\nA2,Beta,1,2\n", "row 2, column 'arr'"),
    ],
)
def test_the_first_bad_row_is_the_one_reported(
    conn: sqlite3.Connection, tmp_path: Path, text: str, message: str, chunk_rows: int
) -> None:
    with pytest.raises(DataImportError, match=f"^{tmp_path}/a.csv: {message}"):
        load(conn, tmp_path, "accounts", "a.csv", text)
    assert rows(conn, "SELECT count(*) FROM accounts") == [(0,)]  # earlier chunks rolled back too


@pytest.mark.parametrize(
    ("text", "message"),
    [  # two rows a chunk: rows 2-3, 4-5, 6-7
        ("id,name\nA1,a\nA2,b\nA3,c\nA3,d\nA1,e\n", "row 5: id 'A3' is also in row 4"),
        ("id,name\nA1,a\nA2,b\nA3,c\nA4,d\nA5,e\nA2,f\n", "row 7: id 'A2' is also in row 3"),
    ],
)
def test_a_repeated_key_in_a_later_chunk_names_its_first_row(
    conn: sqlite3.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    from csm.data import readers

    monkeypatch.setattr(readers, "CHUNK_ROWS", 2)
    with pytest.raises(DataImportError, match=f"^{tmp_path}/a.csv: {message}; each may appear once"):
        load(conn, tmp_path, "accounts", "a.csv", text)
    assert rows(conn, "SELECT count(*) FROM accounts") == [(0,)]


def test_the_first_bad_record_wins_over_a_later_unknown_field(conn: sqlite3.Connection) -> None:
    records = [("record 1", {"id": "A1", "name": ""}), ("record 2", {"id": "A2", "name": "B", "x y": []})]
    with pytest.raises(DataImportError) as exc:
        import_records(conn, "accounts", records, source="api", now=NOW)
    assert exc.value.message == "api: record 1, column 'name': a value is required"


def test_a_failure_after_writing_rolls_everything_back(conn: sqlite3.Connection, tmp_path: Path) -> None:
    load(conn, tmp_path, "accounts", "good.csv", GOOD)
    before = dump(conn)
    if dialect_of(conn).name == "sqlite":
        conn.execute(
            "CREATE TEMP TRIGGER no_timeline BEFORE INSERT ON main.timeline"
            " BEGIN SELECT RAISE(ABORT, 'boom'); END"
        )
    else:
        conn.execute(
            "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'boom'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER no_timeline BEFORE INSERT ON timeline FOR EACH ROW EXECUTE FUNCTION boom()"
        )
        before = dump(conn)
    with pytest.raises(Exception, match="boom"):
        load(conn, tmp_path, "accounts", "more.csv", "id,name,region\nA1,Acme,EU\nA5,Eve,US\n")
    assert dump(conn) == before  # no new rows, no updates, no new 'region' column


def test_unknown_kind_missing_file_and_bad_encoding(conn: sqlite3.Connection, tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=r"^unknown kind 'acounts' \(did you mean 'accounts'\?\); use one of: "
    ):
        import_file(conn, "acounts", tmp_path / "a.csv", now=NOW)
    with pytest.raises(InputError, match=r"^no file "):
        import_file(conn, "accounts", tmp_path / "missing.csv", now=NOW)
    latin = write(tmp_path, "latin.csv", "id,name\nA1,Café\n", encoding="latin-1")
    with pytest.raises(DataImportError, match=r"latin.csv: line 2: not UTF-8 text; byte 0xe9 cannot be read"):
        import_file(conn, "accounts", latin, now=NOW)


def test_progress_is_reported_every_5000_rows(conn: sqlite3.Connection, tmp_path: Path) -> None:
    text = "id,name\n" + "".join(f"A{i},Account {i}\n" for i in range(12_000))
    seen: list[int] = []
    import_file(conn, "accounts", write(tmp_path, "a.csv", text), now=NOW, on_progress=seen.append)
    assert seen == [5_000, 10_000, 12_000]
    seen.clear()
    records = ((f"record {i}", {"id": f"A{i}", "name": "x"}) for i in range(12_000))
    import_records(conn, "accounts", records, source="api", now=NOW, on_progress=seen.append)
    assert seen == [5_000, 10_000, 12_000]


def test_a_csvs_reading_is_reported_in_bytes_of_the_file(conn: sqlite3.Connection, tmp_path: Path) -> None:
    text = "id,name\n" + "".join(f"A{i},Café {i}\n" for i in range(12_000))  # é: two bytes
    path = write(tmp_path, "a.csv", text)
    read: list[tuple[int, int]] = []
    import_file(conn, "accounts", path, now=NOW, on_read=lambda done, size: read.append((done, size)))
    size = path.stat().st_size
    assert len(read) == 3 and {total for _done, total in read} == {size}
    assert read[0][0] < read[1][0] < read[2][0] == size


@pytest.mark.parametrize("form", ["json", "ndjson"])
def test_json_records_report_how_far_into_the_file_they_came(
    conn: sqlite3.Connection, tmp_path: Path, form: str
) -> None:
    records = [{"id": f"A{i}", "name": f"Café {i}"} for i in range(12_000)]
    text = json.dumps(records) if form == "json" else "\n".join(map(json.dumps, records)) + "\n"
    path = write(tmp_path, f"a.{form}", text)
    read: list[tuple[int, int]] = []
    import_file(conn, "accounts", path, now=NOW, on_read=lambda done, size: read.append((done, size)))
    size = path.stat().st_size
    assert [total for _done, total in read] == [size] * 3  # at 5,000 and 10,000 records, and the end
    assert read[0][0] < read[1][0] < read[2][0] == size
    assert abs(read[0][0] - size * 5 / 12) < size * 0.01  # 5,000 of 12,000 like-sized records


def test_a_csv_streams_through_a_chunk_at_a_time(conn: sqlite3.Connection, tmp_path: Path) -> None:
    text = "id,name\n" + "".join(f"A{i},Account {i}\n" for i in range(12_000))
    stored: list[int] = []  # rows already written, each time a chunk has been read and checked

    def progress(_rows: int) -> None:
        stored.append(conn.execute("SELECT count(*) FROM accounts").fetchone()[0])

    import_file(conn, "accounts", write(tmp_path, "a.csv", text), now=NOW, on_progress=progress)
    assert stored == [0, 5_000, 10_000]  # not all 12,000 held in memory before the first write
    assert rows(conn, "SELECT count(*) FROM accounts") == [(12_000,)]


def test_the_garbage_collector_is_back_on_after_an_import(conn: sqlite3.Connection, tmp_path: Path) -> None:
    import gc

    load(conn, tmp_path, "accounts", "good.csv", "id,name\nA1,Acme\n")
    assert gc.isenabled()
    with pytest.raises(DataImportError):
        load(conn, tmp_path, "accounts", "bad.csv", "id,name\nA1,\n")
    assert gc.isenabled()


# -- properties ------------------------------------------------------------------------------------


_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
_account = st.fixed_dictionaries(
    {"name": _text.filter(str.strip)},
    optional={
        "arr": st.one_of(st.none(), st.floats(0, 1e9, allow_nan=False)),
        "seats_used": st.one_of(st.none(), st.integers(0, 10_000)),
        "renewal_date": st.one_of(st.none(), st.dates().map(lambda d: d.isoformat())),
        "plan": _text,
    },
)


@settings(max_examples=25, deadline=None)
@given(st.lists(_account, min_size=1, max_size=8))
def test_importing_the_same_records_twice_changes_nothing(accounts: list[dict[str, object]]) -> None:
    records = [(f"record {i}", {"id": f"A{i}", **a}) for i, a in enumerate(accounts, 1)]
    with tempfile.TemporaryDirectory() as folder:
        conn = store.connect(Path(folder) / "csm.db", create=True)
        first = import_records(conn, "accounts", records, source="a.json", now=NOW)
        before = rows(conn, "SELECT * FROM accounts ORDER BY id")
        again = import_records(conn, "accounts", json.loads(json.dumps(records)), source="a.json", now=NOW)
        assert (first.inserted, again.unchanged) == (len(records), len(records))
        assert rows(conn, "SELECT * FROM accounts ORDER BY id") == before
        conn.close()


def test_a_bulk_load_rebuilds_the_indexes_after_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's alone: PostgreSQL upserts from a staged batch and rebuilds no index."""
    from csm.data import importer

    with closing(store.connect(tmp_path / "bulk.db", create=True)) as conn:
        monkeypatch.setattr(importer, "BULK_ROWS", 2)
        indexes = (
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'accounts' ORDER BY name"
        )
        before = rows(conn, indexes)
        csv_text = "id,name,owner,renewal_date\n" + "".join(
            f"A{i},Acme {i},csm{i % 3}@vendor.example,2027-0{1 + i % 9}-01\n" for i in range(50)
        )
        assert load(conn, tmp_path, "accounts", "bulk.csv", csv_text).inserted == 50
        assert rows(conn, indexes) == before
        plan = rows(conn, "EXPLAIN QUERY PLAN SELECT id FROM accounts WHERE owner = 'csm1@vendor.example'")
        assert "USING INDEX accounts_owner" in plan[0][-1]
        assert rows(conn, "SELECT count(*) FROM accounts WHERE owner = 'csm1@vendor.example'") == [(17,)]
        assert rows(conn, "PRAGMA integrity_check") == [("ok",)]


def test_an_import_keeps_the_values_it_changes_on_both_backends(conn: Any, tmp_path: Path) -> None:
    """The point-in-time history: a changed row leaves its old values, dated the import's day, once a day."""
    load(conn, tmp_path, "accounts", "a.csv", "id,name,arr\nA1,Acme,10\nA2,Beta,20\n")
    assert rows(conn, "SELECT count(*) FROM account_history") == [(0,)]  # a first import keeps none
    result = load(conn, tmp_path, "accounts", "b.csv", "id,name,arr\nA1,Acme,15\nA2,Beta,20\n")
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 1)
    load(conn, tmp_path, "accounts", "c.csv", "id,name,arr\nA1,Acme,25\n")  # the same day again
    kept = rows(conn, "SELECT account_id, valid_until, data FROM account_history")
    assert [(a, day) for a, day, _ in kept] == [("A1", NOW[:10])]
    assert json.loads(str(kept[0][2]))["arr"] == 10  # the values from before the day's first import
    load(conn, tmp_path, "contacts", "c.csv", "account_id,email,unsubscribed\nA1,x@y.io,yes\n")
    again = load(conn, tmp_path, "contacts", "d.csv", "account_id,email,unsubscribed,name\nA1,x@y.io,no,X\n")
    assert (again.updated, rows(conn, "SELECT unsubscribed, name FROM contacts")) == (1, [(1, "X")])
    assert rows(conn, "SELECT account_id, email FROM contact_history") == [("A1", "x@y.io")]


# Values at the edges of what a database reads as their converted value, each changed alone in a
# row of values in their own spelling, and each row its own chunk: a row goes as its CSV text
# (verbatim, True) or as its converted values; either way the same stored values.
_BASE = {
    "name": "Acme",
    "owner": "dana@example.com",
    "plan": "team",
    "arr": "900",
    "seats_licensed": "5",
    "start_date": "2026-01-02",
    "renewal_date": "2027-01-02",
    "status": "active",
    "nps": "9",
    "last_login_at": "2026-11-20",
}
_EDGES = [
    (None, None, True),
    ("name", " Padded ", False),
    ("name", "Bücher Café", True),
    ("owner", "Dana@Example.com", False),
    ("owner", "x@bücher.de", True),
    ("owner", "", True),
    ("plan", "a\\b", True),
    ("plan", "", True),  # NULL either way
    ("arr", "1e3", False),
    ("arr", " 900", False),
    ("arr", "+1", False),
    ("arr", "007.50", True),
    ("arr", "-0", True),
    ("arr", "0.1", True),
    ("arr", "12345678901234567", False),
    ("arr", "", True),
    ("seats_licensed", "+1", False),
    ("seats_licensed", "007", True),
    ("seats_licensed", "1e3", False),
    ("seats_licensed", "5.0", False),
    ("seats_licensed", " 5 ", False),
    ("seats_licensed", "-0", True),
    ("seats_licensed", "9223372036854775807", True),
    ("seats_licensed", "-12345678901234567", False),  # read through a float: not exactly
    ("seats_licensed", "", True),
    ("start_date", " 2026-01-02", False),
    ("start_date", "2024-02-29", True),
    ("renewal_date", "", True),
    ("status", "Active", False),
    ("status", "", False),
    ("nps", " ", False),
    ("nps", "+3", False),
    ("last_login_at", "2026-11-20T10:00:00", True),
    ("last_login_at", "2026-11-20 10:00:00", False),
    ("last_login_at", "2026-11-20T10:00:00+02:00", False),
    ("last_login_at", "", True),
]


def test_a_chunk_stored_from_its_csv_text_is_stored_as_converted(
    conn: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str, request: pytest.FixtureRequest
) -> None:
    from csm.data import importer, readers
    from csm.data.backend import PgConnection

    lines = ["id," + ",".join(_BASE)]
    for n, (column, value, _verbatim) in enumerate(_EDGES):
        lines.append(",".join([f"A{n:02}", *({**_BASE, column: value} if column else _BASE).values()]))
    text = "\n".join(lines) + "\n"
    monkeypatch.setattr(readers, "CHUNK_ROWS", 1)
    as_text: list[str] = []
    copy_csv = PgConnection.copy_csv
    monkeypatch.setattr(
        PgConnection, "copy_csv", lambda self, *args: as_text.append(args[-1][:3]) or copy_csv(self, *args)
    )
    load(conn, tmp_path, "accounts", "a.csv", text)
    stored = rows(conn, "SELECT * FROM accounts ORDER BY id")
    verbatim = [f"A{n:02}" for n, (_column, _value, verbatim) in enumerate(_EDGES) if verbatim]
    assert as_text == (verbatim if backend == "postgresql" else [])
    monkeypatch.setattr(importer, "read_verbatim", lambda *_args: False)  # every chunk as converted
    monkeypatch.setattr(importer, "spelling", lambda *_args: None)
    other = request.getfixturevalue("pg_database")() if backend == "postgresql" else tmp_path / "other.db"
    with closing(store.connect(other, create=True)) as converted:
        load(converted, tmp_path, "accounts", "a.csv", text)
        assert repr(rows(converted, "SELECT * FROM accounts ORDER BY id")) == repr(stored)  # -0.0 too
    assert len(stored) == len(_EDGES) and len(as_text) == (len(verbatim) if backend == "postgresql" else 0)
    assert stored[1][1] == "Padded" and stored[6][3] == "a\\b" and stored[8][4] == 1000.0


def test_a_batch_the_server_refuses_while_the_next_is_read_stops_the_import(
    conn: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """On PostgreSQL a batch is stored while the next is read and checked: its error still stops
    the import, and nothing is stored."""
    from csm.data import readers

    if backend != "postgresql":
        pytest.skip("batches are in flight on PostgreSQL only")
    conn.execute("ALTER TABLE accounts ADD CONSTRAINT small_arr CHECK (arr < 100)")
    monkeypatch.setattr(readers, "CHUNK_ROWS", 1)
    with pytest.raises(Exception, match="small_arr"):
        load(conn, tmp_path, "accounts", "a.csv", "id,name,arr\nA1,a,1\nA2,b,500\nA3,c,2\nA4,d,3\n")
    assert rows(conn, "SELECT count(*) FROM accounts") == [(0,)]
    load(conn, tmp_path, "accounts", "b.csv", "id,name,arr\nA1,a,1\nA2,b,5\n")  # the connection is fine
    assert rows(conn, "SELECT id FROM accounts ORDER BY id") == [("A1",), ("A2",)]


def test_the_gil_is_handed_over_promptly_only_while_batches_are_in_flight(
    conn: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """While a batch is sent the switch interval is short (the sender is not kept waiting on
    the checks of the next batch); after the import, stored or refused, it is what it was."""
    import sys

    from csm.data import importer, readers
    from csm.data.backend import PgConnection

    if backend != "postgresql":
        pytest.skip("batches are in flight on PostgreSQL only")
    monkeypatch.setattr(readers, "CHUNK_ROWS", 1)
    seen: list[float] = []
    for name in ("copy_csv", "copy_text"):
        sent = getattr(PgConnection, name)
        monkeypatch.setattr(
            PgConnection,
            name,
            lambda self, *args, sent=sent: seen.append(sys.getswitchinterval()) or sent(self, *args),
        )
    before = sys.getswitchinterval()
    load(conn, tmp_path, "accounts", "a.csv", "id,name,arr\nA1,a,1\nA2,b,+2\nA3,c,3\n")
    assert seen == [pytest.approx(importer.HANDOFF_S)] * 3 and sys.getswitchinterval() == before
    conn.execute("ALTER TABLE accounts ADD CONSTRAINT small_arr CHECK (arr < 100)")
    with pytest.raises(Exception, match="small_arr"):
        load(conn, tmp_path, "accounts", "b.csv", "id,name,arr\nA4,d,1\nA5,e,500\nA6,f,2\n")
    assert sys.getswitchinterval() == before


# A bad value of each kind in a later chunk, after chunks checked by their text alone (on
# PostgreSQL, each column's spelling): the same message, row and refusal as on SQLite.
_CANONICAL = "A{n},Acme {n},dana@example.com,team,900.5,5,-3,2026-01-02,2026-11-20T10:00:00,active"
_LATER_BAD = [
    ("2026-02-29", 7, "row 4, column 'start_date': '2026-02-29' is not a date (expected YYYY-MM-DD)"),
    (
        "x",
        8,
        "row 4, column 'last_login_at': 'x' is not a date or date-time (expected YYYY-MM-DD or "
        "YYYY-MM-DDTHH:MM:SS)",
    ),
    ("12,5", 4, "row 4 has 11 values; the header has 10"),
    ("abc", 4, "row 4, column 'arr': 'abc' is not a number"),
    ("1.5", 6, "row 4, column 'nps': '1.5' is not a whole number"),
    (
        "dana at example.com",
        2,
        "row 4, column 'owner': 'dana at example.com' is not an email address (like name@example.com)",
    ),
    ("", 1, "row 4, column 'name': a value is required"),
    ("A1", 0, "row 4: id 'A1' is also in row 2; each may appear once"),
    ("x" * 140_000, 3, "line 4: a value is longer than 131,072 characters"),
]


@pytest.fixture
def by_text(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The first row of each chunk checked by its text alone, as the import reads them."""
    from csm.data import readers

    seen: list[int] = []
    chunks = readers.Table.chunks

    def spied(self: readers.Table, layout: Any = None) -> Any:
        for chunk in chunks(self, layout):
            if chunk.lines:
                seen.append(chunk.numbers[0])
            yield chunk

    monkeypatch.setattr(readers.Table, "chunks", spied)
    return seen


@pytest.mark.parametrize(("value", "column", "message"), _LATER_BAD)
def test_a_bad_value_after_chunks_checked_by_their_text_is_reported_as_before(
    conn: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    by_text: list[int],
    value: str,
    column: int,
    message: str,
) -> None:
    from csm.data import readers

    header = "id,name,owner,plan,arr,seats_used,nps,start_date,last_login_at,status"
    lines = [_CANONICAL.format(n=n).split(",") for n in range(1, 6)]
    lines[2][column] = value
    monkeypatch.setattr(readers, "CHUNK_ROWS", 1)
    with pytest.raises(DataImportError) as exc:
        load(conn, tmp_path, "accounts", "a.csv", "\n".join([header, *map(",".join, lines)]) + "\n")
    assert exc.value.message == f"{tmp_path}/a.csv: {message}"
    assert rows(conn, "SELECT count(*) FROM accounts") == [(0,)]
    checked = [2, 3, 4] if value == "A1" else [2, 3]  # the rows before it (and a repeated key's own)
    assert by_text == (checked if backend == "postgresql" else [])


def test_chunks_checked_by_their_text_store_what_converting_them_stores(
    conn: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    request: pytest.FixtureRequest,
    by_text: list[int],
) -> None:
    """Two chunks of rows in their own spelling (a CRLF file, the id last, values at the edges of
    each spelling), stored by their text, then again as converted values: the same rows."""
    from csm.data import importer, readers

    header = "name,owner,plan,arr,seats_used,nps,start_date,last_login_at,status,id"
    values = [
        ["Ac  me", "", "", "0.000000000000001", "007", "-0", "2000-02-29", "2026-11-20T23:59:59", "at risk"],
        [
            "Bücher\tCafé",
            "a.b+c@x-y.example",
            "t\\n",
            "-123456789012345",
            "999999999999999999",
            "",
            "",
            "",
            "x",
        ],
        ["a\\b", "z@q.io", "é", "", "", "-999999999999999", "0001-01-01", "9999-12-31", "churned"],
    ]
    text = "\r\n".join([header, *(",".join([*v, f"A{n}"]) for n, v in enumerate(values * 2))]) + "\r\n"
    monkeypatch.setattr(readers, "CHUNK_ROWS", 3)
    load(conn, tmp_path, "accounts", "a.csv", text)
    stored = rows(conn, "SELECT * FROM accounts ORDER BY id")
    assert by_text == ([2, 5] if backend == "postgresql" else [])
    monkeypatch.setattr(importer, "spelling", lambda *_args: None)  # every chunk converted
    other = request.getfixturevalue("pg_database")() if backend == "postgresql" else tmp_path / "other.db"
    with closing(store.connect(other, create=True)) as converted:
        load(converted, tmp_path, "accounts", "a.csv", text)
        assert repr(rows(converted, "SELECT * FROM accounts ORDER BY id")) == repr(stored)
    assert len(stored) == 6 and stored[0][1] == "Ac  me" and stored[1][6] == 999999999999999999

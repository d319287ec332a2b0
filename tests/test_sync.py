"""`csm sync` against a real HTTP server on loopback: pagination, auth, retries, failures; what it
writes, on SQLite and PostgreSQL (the `db` fixture)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import db_dump, rows
from importing import dump
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from csm.data import store
from csm.data.sources import Source, parse_sources
from csm.data.sync import SourceUnavailable, SyncError, last_sync_key, sync_source
from csm.errors import WorkspaceError

NOW = dt.datetime(2026, 11, 23, 6, 30, tzinfo=dt.UTC)
ACCOUNTS = [
    {
        "id": f"C{i}",
        "company": f"Company {i}",
        "mrr": f"${i},000",
        "csm": "DANA@EXAMPLE.COM",
        "renews": "03/01/2027",
    }
    for i in range(1, 8)
]
FIELDS = (
    'id = "id"\nname = "company"\narr = { from = "mrr", number = true }\n'
    'owner = { from = "csm", lowercase = true }\n'
    'renewal_date = { from = "renews", date_format = "%m/%d/%Y" }\n'
)


def settings(server: HTTPServer, body: str) -> str:
    return f'[sources.crm]\nbase_url = "{server.url_for("/api")}"\n{body}'


def load(workspace: Path, text: str) -> Source:
    import tomllib

    path = workspace / "csm.toml"
    return parse_sources(tomllib.loads(text)["sources"], path, workspace)["crm"]


def write_settings(workspace: Path, text: str) -> None:
    path = workspace / "csm.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")


def accounts_in(db: Any) -> list[tuple[Any, ...]]:
    return [
        tuple(r) for r in db.execute("SELECT id, name, arr, owner, renewal_date FROM accounts ORDER BY id")
    ]


def paged(size: int, key: Callable[[Request], int]) -> Callable[[Request], Response]:
    """A handler serving ACCOUNTS in pages of ``size``; ``key`` reads the first index from a request."""

    def handler(request: Request) -> Response:
        start = key(request)
        return Response(json.dumps({"data": ACCOUNTS[start : start + size]}), content_type="application/json")

    return handler


# -- pagination --------------------------------------------------------------------------------


def test_page_number_pagination(httpserver: HTTPServer, workspace: Path, db: Any) -> None:
    httpserver.expect_request("/api/companies").respond_with_handler(
        paged(3, lambda r: (int(r.args["page"]) - 1) * int(r.args["per_page"]))
    )
    source = load(
        workspace,
        settings(
            httpserver,
            '[sources.crm.accounts]\npath = "/companies"\nrecords = "data"\n'
            'pagination = { style = "page", param = "page", size_param = "per_page", size = 3 }\n'
            f"[sources.crm.accounts.fields]\n{FIELDS}",
        ),
    )
    result = sync_source(db, source, now=NOW)
    assert [r.args["page"] for r, _ in httpserver.log] == ["1", "2", "3"]
    assert result.pulled == {"accounts": 7}
    assert (result.results[0].inserted, result.results[0].updated) == (7, 0)
    assert accounts_in(db)[0] == ("C1", "Company 1", 1000.0, "dana@example.com", "2027-03-01")


def test_offset_pagination(httpserver: HTTPServer, workspace: Path, db: Any) -> None:
    httpserver.expect_request("/api/companies").respond_with_handler(paged(4, lambda r: int(r.args["skip"])))
    source = load(
        workspace,
        settings(
            httpserver,
            '[sources.crm.accounts]\npath = "companies"\nrecords = "data"\n'
            'pagination = { style = "offset", offset_param = "skip", limit_param = "take", size = 4 }\n'
            f"[sources.crm.accounts.fields]\n{FIELDS}",
        ),
    )
    sync_source(db, source, now=NOW)
    assert [(r.args["skip"], r.args["take"]) for r, _ in httpserver.log] == [("0", "4"), ("4", "4")]
    assert len(accounts_in(db)) == 7


def test_cursor_pagination(httpserver: HTTPServer, workspace: Path, db: Any) -> None:
    def handler(request: Request) -> Response:
        start = int(request.args.get("after", "0"))
        chunk = ACCOUNTS[start : start + 5]
        nxt = str(start + 5) if start + 5 < len(ACCOUNTS) else None
        return Response(
            json.dumps({"results": chunk, "paging": {"next": nxt}}), content_type="application/json"
        )

    httpserver.expect_request("/api/companies").respond_with_handler(handler)
    source = load(
        workspace,
        settings(
            httpserver,
            '[sources.crm.accounts]\npath = "/companies"\nrecords = "results"\n'
            'pagination = { style = "cursor", cursor_field = "paging.next", param = "after" }\n'
            f"[sources.crm.accounts.fields]\n{FIELDS}",
        ),
    )
    sync_source(db, source, now=NOW)
    assert [r.args.get("after") for r, _ in httpserver.log] == [None, "5"]
    assert len(accounts_in(db)) == 7


def test_link_header_pagination(httpserver: HTTPServer, workspace: Path, db: Any) -> None:
    def handler(request: Request) -> Response:
        start = int(request.args.get("from", "0"))
        headers = {}
        if start + 3 < len(ACCOUNTS):
            headers["Link"] = f'<{httpserver.url_for("/api/companies")}?from={start + 3}>; rel="next"'
        return Response(
            json.dumps(ACCOUNTS[start : start + 3]), content_type="application/json", headers=headers
        )

    httpserver.expect_request("/api/companies").respond_with_handler(handler)
    source = load(
        workspace,
        settings(
            httpserver,
            '[sources.crm.accounts]\npath = "/companies"\npagination = { style = "link" }\n'
            f"[sources.crm.accounts.fields]\n{FIELDS}",
        ),
    )
    sync_source(db, source, now=NOW)
    assert [r.args.get("from") for r, _ in httpserver.log] == [None, "3", "6"]
    assert len(accounts_in(db)) == 7


# -- auth ----------------------------------------------------------------------------------------

AUTHS = [
    ('{ type = "bearer", token_env = "CRM_TOKEN" }', "Authorization", "Bearer s3cret-token"),
    (
        '{ type = "basic", username = "csm", password_env = "CRM_TOKEN" }',
        "Authorization",
        "Basic Y3NtOnMzY3JldC10b2tlbg==",
    ),
    ('{ type = "header", header = "X-Api-Key", key_env = "CRM_TOKEN" }', "X-Api-Key", "s3cret-token"),
]


@pytest.mark.parametrize(("auth", "header", "expected"), AUTHS)
def test_each_auth_kind_sends_its_header(
    httpserver: HTTPServer,
    workspace: Path,
    db: Any,
    monkeypatch: pytest.MonkeyPatch,
    auth: str,
    header: str,
    expected: str,
) -> None:
    monkeypatch.setenv("CRM_TOKEN", "s3cret-token")
    httpserver.expect_request("/api/companies", headers={header: expected}).respond_with_json(ACCOUNTS[:2])
    source = load(
        workspace,
        settings(
            httpserver,
            f'auth = {auth}\n[sources.crm.accounts]\npath = "/companies"\n'
            f"[sources.crm.accounts.fields]\n{FIELDS}",
        ),
    )
    sync_source(db, source, now=NOW)
    assert len(accounts_in(db)) == 2


def test_a_missing_secret_names_the_variable(workspace: Path, db: Any) -> None:
    text = (
        '[sources.crm]\nbase_url = "http://127.0.0.1:9"\n'
        'auth = { type = "bearer", token_env = "CRM_TOKEN" }\n'
    )
    source = load(workspace, text + '[sources.crm.accounts]\npath = "/x"\n')
    with pytest.raises(WorkspaceError, match="the environment variable CRM_TOKEN is not set"):
        sync_source(db, source, now=NOW)


def test_401_names_source_and_endpoint_never_the_token(
    httpserver: HTTPServer, workspace: Path, monkeypatch: pytest.MonkeyPatch, invoke: Any
) -> None:
    monkeypatch.setenv("CRM_TOKEN", "s3cret-token")
    httpserver.expect_request("/api/companies").respond_with_data("nope", status=401)
    write_settings(
        workspace,
        settings(
            httpserver,
            'auth = { type = "bearer", token_env = "CRM_TOKEN" }\n'
            '[sources.crm.accounts]\npath = "/companies"\n',
        ),
    )
    before = db_dump(workspace)
    result = invoke("-w", str(workspace), "sync")
    assert result.exit_code == 1
    assert "source 'crm', accounts, page 1 (GET /companies): HTTP 401 UNAUTHORIZED" in result.stderr
    assert "Check the secret in $CRM_TOKEN" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout
    assert db_dump(workspace) == before


def test_404_points_at_the_path_setting(httpserver: HTTPServer, workspace: Path, db: Any) -> None:
    httpserver.expect_request("/api/companeis").respond_with_data("not found", status=404)
    source = load(workspace, settings(httpserver, '[sources.crm.accounts]\npath = "/companeis"\n'))
    with pytest.raises(SyncError, match=r"GET /companeis\): HTTP 404") as info:
        sync_source(db, source, now=NOW)
    assert "sources.crm.accounts.path" in str(info.value)


# -- retries and failures -------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "headers", "delay"), [(429, {"Retry-After": "7"}, 7.0), (500, {}, None)])
def test_temporary_failure_then_success(
    httpserver: HTTPServer,
    workspace: Path,
    db: Any,
    status: int,
    headers: dict[str, str],
    delay: float | None,
) -> None:
    httpserver.expect_oneshot_request("/api/companies").respond_with_data(
        "busy", status=status, headers=headers
    )
    httpserver.expect_request("/api/companies").respond_with_json(ACCOUNTS[:3])
    source = load(
        workspace,
        settings(
            httpserver,
            f'[sources.crm.accounts]\npath = "/companies"\n[sources.crm.accounts.fields]\n{FIELDS}',
        ),
    )
    slept: list[float] = []
    sync_source(db, source, now=NOW, sleep=slept.append)
    assert len(httpserver.log) == 2
    assert len(slept) == 1 and (delay is None or slept == [delay])
    assert len(accounts_in(db)) == 3


def test_retries_are_bounded(httpserver: HTTPServer, workspace: Path, db: Any) -> None:
    httpserver.expect_request("/api/companies").respond_with_data("down", status=503)
    source = load(
        workspace, settings(httpserver, 'retries = 2\n[sources.crm.accounts]\npath = "/companies"\n')
    )
    slept: list[float] = []
    with pytest.raises(SourceUnavailable, match="HTTP 503"):
        sync_source(db, source, now=NOW, sleep=slept.append)
    assert len(httpserver.log) == 3 and len(slept) == 2


def test_a_timeout_is_reported(httpserver: HTTPServer, workspace: Path, db: Any) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.6)
        return Response("[]", content_type="application/json")

    httpserver.expect_request("/api/companies").respond_with_handler(slow)
    source = load(
        workspace,
        settings(httpserver, 'timeout = 0.2\nretries = 0\n[sources.crm.accounts]\npath = "/companies"\n'),
    )
    with pytest.raises(SourceUnavailable, match=r"no answer within 0.2s"):
        sync_source(db, source, now=NOW)


def test_bad_json_names_the_page(httpserver: HTTPServer, workspace: Path, db: Any) -> None:
    httpserver.expect_request("/api/companies").respond_with_data(
        "<html>oops</html>", content_type="text/html"
    )
    source = load(workspace, settings(httpserver, '[sources.crm.accounts]\npath = "/companies"\n'))
    with pytest.raises(SyncError, match=r"source 'crm', accounts, page 1: the response is not JSON"):
        sync_source(db, source, now=NOW)


def test_records_not_where_the_setting_says(httpserver: HTTPServer, workspace: Path, db: Any) -> None:
    httpserver.expect_request("/api/companies").respond_with_json({"items": ACCOUNTS})
    source = load(
        workspace, settings(httpserver, '[sources.crm.accounts]\npath = "/companies"\nrecords = "data"\n')
    )
    with pytest.raises(SyncError, match="expected a list of records at 'data', found nothing") as info:
        sync_source(db, source, now=NOW)
    assert "sources.crm.accounts.records" in str(info.value)


def test_a_missing_mapped_field_names_the_record(
    httpserver: HTTPServer, workspace: Path, invoke: Any
) -> None:
    records = [dict(a) for a in ACCOUNTS[:4]]
    del records[2]["company"]
    httpserver.expect_request("/api/companies").respond_with_json(records)
    write_settings(
        workspace,
        settings(
            httpserver,
            f'[sources.crm.accounts]\npath = "/companies"\n[sources.crm.accounts.fields]\n{FIELDS}',
        ),
    )
    before = db_dump(workspace)
    result = invoke("-w", str(workspace), "sync", "crm")
    assert result.exit_code == 1
    assert "source 'crm' accounts: record 3: no field 'company'" in result.stderr
    assert db_dump(workspace) == before


def test_an_interrupted_sync_leaves_the_database_unchanged(
    httpserver: HTTPServer, workspace: Path, db: Any
) -> None:
    """Accounts pulled fine, then the contacts endpoint fails: nothing of either is written."""
    httpserver.expect_request("/api/companies").respond_with_json(ACCOUNTS)
    httpserver.expect_request("/api/people").respond_with_data("gone", status=502)
    source = load(
        workspace,
        settings(
            httpserver,
            'retries = 0\n[sources.crm.accounts]\npath = "/companies"\n'
            f'[sources.crm.accounts.fields]\n{FIELDS}[sources.crm.contacts]\npath = "/people"\n',
        ),
    )
    before = dump(db)
    with pytest.raises(SourceUnavailable):
        sync_source(db, source, now=NOW)
    assert dump(db) == before


def test_a_bad_contact_rolls_back_the_accounts_too(httpserver: HTTPServer, workspace: Path, db: Any) -> None:
    httpserver.expect_request("/api/companies").respond_with_json(ACCOUNTS)
    httpserver.expect_request("/api/people").respond_with_json(
        [{"account_id": "C1", "email": "ana@c1.example"}, {"account_id": "C2", "email": "not-an-email"}]
    )
    source = load(
        workspace,
        settings(
            httpserver,
            '[sources.crm.accounts]\npath = "/companies"\n'
            f'[sources.crm.accounts.fields]\n{FIELDS}[sources.crm.contacts]\npath = "/people"\n',
        ),
    )
    before = dump(db)
    with pytest.raises(Exception, match="record 2, column 'email'"):
        sync_source(db, source, now=NOW)
    assert dump(db) == before


def test_events_sync_with_the_accounts_their_attributes_kept(
    httpserver: HTTPServer, workspace: Path, db: Any
) -> None:
    """A helpdesk API's tickets arrive as events beside the accounts they belong to, in one go."""
    httpserver.expect_request("/api/companies").respond_with_json(ACCOUNTS)
    httpserver.expect_request("/api/tickets").respond_with_json(
        {"tickets": [
            {"id": 48213, "org": "C1", "opened": "2026-11-20T09:14:03Z", "priority": "urgent",
             "by": "Ann@C1.example"},
            {"id": 48190, "org": "C2", "opened": "2026-11-02T13:05:55Z", "priority": "low", "by": None},
        ]}
    )  # fmt: skip
    source = load(
        workspace,
        settings(
            httpserver,
            '[sources.crm.accounts]\npath = "/companies"\n'
            f"[sources.crm.accounts.fields]\n{FIELDS}"
            '[sources.crm.events]\npath = "/tickets"\nrecords = "tickets"\n'
            '[sources.crm.events.fields]\nid = "id"\naccount_id = "org"\nkind = { value = "ticket" }\n'
            'occurred_at = "opened"\ncontact = { from = "by", lowercase = true }\n'
            'severity = "priority"\n',
        ),
    )
    result = sync_source(db, source, now=NOW)
    assert [(r.kind, r.inserted) for r in result.results] == [("accounts", 7), ("events", 2)]
    assert [tuple(r) for r in db.execute("SELECT * FROM events ORDER BY id")] == [
        ("48190", "C2", "ticket", None, "2026-11-02T13:05:55", None, '{"severity": "low"}'),
        ("48213", "C1", "ticket", "ann@c1.example", "2026-11-20T09:14:03", None, '{"severity": "urgent"}'),
    ]


# -- incremental, dry run, CLI --------------------------------------------------------------------


def test_incremental_sync_sends_the_stored_time(httpserver: HTTPServer, workspace: Path, db: Any) -> None:
    httpserver.expect_request("/api/companies").respond_with_json(ACCOUNTS[:2])
    source = load(
        workspace,
        settings(
            httpserver,
            'since_param = "updated_since"\n[sources.crm.accounts]\npath = "/companies"\n'
            f"[sources.crm.accounts.fields]\n{FIELDS}",
        ),
    )
    first = sync_source(db, source, now=NOW)
    assert first.since is None and "updated_since" not in httpserver.log[0][0].args
    assert store.get_meta(db, last_sync_key("crm")) == "2026-11-23T06:30:00Z"
    second = sync_source(db, source, now=NOW + dt.timedelta(days=1))
    assert httpserver.log[1][0].args["updated_since"] == "2026-11-23T06:30:00Z"
    assert (second.results[0].inserted, second.results[0].unchanged) == (0, 2)
    sync_source(db, source, now=NOW + dt.timedelta(days=2), full=True)
    assert "updated_since" not in httpserver.log[2][0].args


def test_a_failed_sync_keeps_the_last_good_time(httpserver: HTTPServer, workspace: Path, db: Any) -> None:
    httpserver.expect_oneshot_request("/api/companies").respond_with_json(ACCOUNTS[:1])
    httpserver.expect_request("/api/companies").respond_with_data("down", status=500)
    source = load(
        workspace,
        settings(
            httpserver,
            'retries = 0\nsince_param = "since"\n[sources.crm.accounts]\npath = "/companies"\n'
            f"[sources.crm.accounts.fields]\n{FIELDS}",
        ),
    )
    sync_source(db, source, now=NOW)
    with pytest.raises(SourceUnavailable):
        sync_source(db, source, now=NOW + dt.timedelta(days=1))
    assert store.get_meta(db, last_sync_key("crm")) == "2026-11-23T06:30:00Z"


def test_cli_sync_counts_timeline_and_json(
    httpserver: HTTPServer, workspace: Path, invoke: Any, timeline_writes: list[tuple[object, ...]]
) -> None:
    httpserver.expect_request("/api/companies").respond_with_json(ACCOUNTS[:3])
    write_settings(
        workspace,
        settings(
            httpserver,
            f'[sources.crm.accounts]\npath = "/companies"\n[sources.crm.accounts.fields]\n{FIELDS}',
        ),
    )
    result = invoke("-w", str(workspace), "sync")
    assert result.exit_code == 0, result.output
    assert "Synced crm" in result.stdout
    assert "│ accounts │      3 │   3 │       0 │         0 │" in result.stdout
    again = invoke("-w", str(workspace), "sync", "--json")
    data = json.loads(again.stdout)
    assert data[0]["results"] == [{"kind": "accounts", "inserted": 0, "updated": 0, "unchanged": 3}]
    kinds = [r[0] for r in rows(workspace, "SELECT summary FROM timeline WHERE kind = 'sync' ORDER BY id")]
    assert kinds[0] == "synced crm: accounts 3 new, 0 updated, 0 unchanged"
    assert timeline_writes == [(None, "sync", summary) for summary in kinds]  # timeline.record wrote them


def test_cli_dry_run_shows_mapped_records_and_writes_nothing(
    httpserver: HTTPServer, workspace: Path, invoke: Any
) -> None:
    httpserver.expect_request("/api/companies").respond_with_json(ACCOUNTS)
    write_settings(
        workspace,
        settings(
            httpserver,
            'since_param = "since"\n[sources.crm.accounts]\n'
            f'path = "/companies"\n[sources.crm.accounts.fields]\n{FIELDS}',
        ),
    )
    before = db_dump(workspace)
    result = invoke("-w", str(workspace), "sync", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Would sync crm" in result.stdout
    assert "id=C1, name=Company 1, arr=1000, owner=dana@example.com, renewal_date=2027-03-01" in result.stdout
    assert "id=C4" not in result.stdout
    assert "Dry run: nothing was written." in result.stderr
    assert db_dump(workspace) == before


def test_cli_unknown_source_and_no_sources(workspace: Path, invoke: Any) -> None:
    result = invoke("-w", str(workspace), "sync")
    assert result.exit_code == 1 and "no [sources.NAME] tables" in result.stderr
    write_settings(
        workspace, '[sources.crm]\nbase_url = "http://127.0.0.1:9"\n[sources.crm.accounts]\npath = "/a"\n'
    )
    result = invoke("-w", str(workspace), "sync", "cmr")
    assert (
        result.exit_code == 1
        and "no source named 'cmr'" in result.stderr
        and "did you mean 'crm'" in result.stderr
    )


# -- settings validation --------------------------------------------------------------------------

BAD_SETTINGS = [
    ('basee_url = "http://x"\n', "setting 'sources.crm.basee_url': unknown key (did you mean 'base_url'?)"),
    (
        'base_url = "ftp://x"\n[sources.crm.accounts]\npath = "/a"\n',
        "expected an http:// or https:// address",
    ),
    ('base_url = "http://x"\n', "a source needs at least one of accounts, contacts, usage, events"),
    (
        'base_url = "http://x"\n[sources.crm.accounts]\nrecords = "x"\n',
        "'sources.crm.accounts.path': required",
    ),
    (
        'base_url = "http://x"\n[sources.crm.accounts]\npath = "/a"\npagination = { style = "pages" }\n',
        "'sources.crm.accounts.pagination.style': expected one of none, page, offset, cursor, link",
    ),
    (
        'base_url = "http://x"\n[sources.crm.accounts]\npath = "/a"\npagination = { style = "cursor" }\n',
        "'sources.crm.accounts.pagination.cursor_field': required",
    ),
    (
        'base_url = "http://x"\nauth = { type = "bearer", token = "abc" }\n'
        '[sources.crm.accounts]\npath = "/a"\n',
        "'sources.crm.auth.token': unknown key (did you mean 'token_env'?)",
    ),
    (
        'base_url = "http://x"\ntimeout = 0\n[sources.crm.accounts]\npath = "/a"\n',
        "'sources.crm.timeout': expected a number",
    ),
    (
        'base_url = "http://x"\n[sources.crm.accounts]\npath = "/a"\nmapping = "hubspot-companys"\n',
        "no mapping named 'hubspot-companys' (did you mean 'hubspot-companies'?)",
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD_SETTINGS)
def test_bad_source_settings_are_caught_by_check(
    workspace: Path, invoke: Any, body: str, message: str
) -> None:
    write_settings(workspace, "[sources.crm]\n" + body)
    result = invoke("-w", str(workspace), "check")
    assert result.exit_code == 1
    assert message in result.stderr
    assert str(workspace / "csm.toml") in result.stderr or "mapping" in message


# -- secrets never printed ------------------------------------------------------------------------

SECRET = "SECRET123"


def csm_process(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`csm ARGS` as cron runs it: a real process, every line it prints captured."""
    env = dict(os.environ, CRM_TOKEN=SECRET)
    return subprocess.run(
        [sys.executable, "-m", "csm", "-w", str(workspace), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _next_link_then_500(server: HTTPServer) -> Callable[[Request], Response]:
    def handler(request: Request) -> Response:
        if "page" in request.args:
            return Response("down", status=500, headers={"Retry-After": "0"})
        link = f'<{server.url_for("/api/companies")}?api_key={SECRET}&page=2>; rel="next"'
        return Response(json.dumps(ACCOUNTS[:1]), content_type="application/json", headers={"Link": link})

    return handler


FAILURES = [
    pytest.param(
        lambda server: lambda r: Response("down", status=500, headers={"Retry-After": "0"}),
        "page 1 (GET /companies?api_key=***): HTTP 500 INTERNAL SERVER ERROR",
        id="500 until the retries run out",
    ),
    pytest.param(
        lambda server: lambda r: Response(f"<html>{SECRET}</html>", content_type="text/html"),
        "page 1: the response is not JSON (Expecting value: line 1 column 1 (char 0))",
        id="not JSON",
    ),
    pytest.param(
        lambda server: lambda r: Response('[{"id": "A1", "id": "A2"}]', content_type="application/json"),
        "page 1: the response is not JSON (the key 'id' appears twice in one object; keep one)",
        id="a key twice",
    ),
    pytest.param(
        lambda server: lambda r: Response("no", status=401),
        "page 1 (GET /companies?api_key=***): HTTP 401 UNAUTHORIZED: the server refused the credentials",
        id="401",
    ),
    pytest.param(
        _next_link_then_500,
        "page 2 (GET http://localhost:{port}/api/companies?api_key=***&page=***): HTTP 500",
        id="a next link that fails",
    ),
]


@pytest.mark.parametrize(("handler", "message"), FAILURES)
def test_sync_errors_never_print_a_secret(
    httpserver: HTTPServer, workspace: Path, handler: Any, message: str
) -> None:
    """The key in the path's query, a header, the auth header, the URL's password: none is printed."""
    httpserver.expect_request("/api/companies").respond_with_handler(handler(httpserver))
    base = httpserver.url_for("/api").replace("://", f"://csm:{SECRET}@")
    write_settings(
        workspace,
        f'[sources.crm]\nbase_url = "{base}"\nretries = 1\nheaders = {{ "X-Api-Key" = "{SECRET}" }}\n'
        'auth = { type = "header", header = "X-Token", key_env = "CRM_TOKEN" }\n'
        f'[sources.crm.accounts]\npath = "/companies?api_key={SECRET}"\nparams = {{ token = "{SECRET}" }}\n'
        'pagination = { style = "link" }\n'
        f"[sources.crm.accounts.fields]\n{FIELDS}",
    )
    before = db_dump(workspace)
    result = csm_process(workspace, "sync")
    assert httpserver.log[0][0].headers["X-Token"] == SECRET  # the secrets were there to leak
    assert httpserver.log[0][0].args["token"] == SECRET
    assert result.returncode == 1
    assert SECRET not in result.stdout + result.stderr
    assert f"Error: source 'crm', accounts, {message.format(port=httpserver.port)}" in result.stderr
    assert "Traceback" not in result.stderr
    assert db_dump(workspace) == before


def test_no_connection_and_a_bad_address_never_print_a_secret(workspace: Path, invoke: Any) -> None:
    for base, message in (
        (f"http://127.0.0.1:9/api?api_key={SECRET}", "cannot connect (ConnectError)"),
        (f"http://csm:{SECRET}@127.0.0.1:port/api?api_key={SECRET}", "is not a usable address"),
        (f"htp://127.0.0.1/api?api_key={SECRET}", "got 'htp://127.0.0.1/api?api_key=***'"),
        (f"https://csm:{SECRET}/api", "'***' is not a usable address"),  # no host: the key reads as a port
    ):
        path = workspace / "csm.toml"
        path.write_text(path.read_text(encoding="utf-8").split("[sources.crm]")[0], encoding="utf-8")
        write_settings(
            workspace,
            f'[sources.crm]\nbase_url = "{base}"\nretries = 0\n'
            f'[sources.crm.accounts]\npath = "/a?k={SECRET}"\n',
        )
        result = invoke("-w", str(workspace), "sync")
        assert result.exit_code == 1
        assert message in result.stderr
        assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("url", "respond", "message"),
    [
        (
            f"/services/T000/B000/{SECRET}",
            ("Cannot POST /services/T000/B000/" + SECRET, 404),
            "the webhook in $CSM_SLACK_WEBHOOK (http://localhost:{port}/***) refused the digest: "
            "HTTP 404 Cannot POST /***",
        ),
        (
            f"/services/T000/B000/{SECRET}?token={SECRET}",
            ("busy", 503),
            "the webhook in $CSM_SLACK_WEBHOOK (http://localhost:{port}/***?token=***) answered HTTP 503",
        ),
    ],
)
def test_notify_errors_never_print_the_webhook(
    httpserver: HTTPServer, workspace: Path, url: str, respond: tuple[str, int], message: str
) -> None:
    httpserver.expect_request(url.split("?")[0]).respond_with_data(
        respond[0], status=respond[1], headers={"Retry-After": "0"}
    )
    write_settings(workspace, '[notify]\nwebhook_env = "CSM_SLACK_WEBHOOK"\n')
    os.environ["CSM_SLACK_WEBHOOK"] = httpserver.url_for(url)
    try:
        result = csm_process(workspace, "notify")
    finally:
        del os.environ["CSM_SLACK_WEBHOOK"]
    assert result.returncode == 1
    assert SECRET not in result.stdout + result.stderr
    assert f"Error: {message.format(port=httpserver.port)}" in result.stderr


def test_notify_to_a_webhook_url_httpx_cannot_read(
    workspace: Path, invoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_settings(workspace, '[notify]\nwebhook_env = "CSM_SLACK_WEBHOOK"\n')
    monkeypatch.setenv("CSM_SLACK_WEBHOOK", f"https://hooks.slack.example:x/services/T000/{SECRET}")
    result = invoke("-w", str(workspace), "notify")
    assert result.exit_code == 1
    assert result.stderr == ("Error: the webhook in $CSM_SLACK_WEBHOOK (***) is not a usable URL\n")

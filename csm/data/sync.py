"""Pulling accounts, contacts, usage and events from a source's HTTP JSON API.

A sync fetches every page of every endpoint first, with no database lock
held, then checks and upserts everything in one write transaction through the
importer: any failure (network, HTTP status, bad JSON, a bad record) leaves
the database exactly as it was. The start time of the last good sync is kept
in ``meta`` and sent as the source's ``since_param`` next time.

    SyncError             the source answered, but not with what we need
    └── SourceUnavailable 429, 5xx, a timeout or no connection: a TemporaryError, retried, bounded
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from csm.data import timeline
from csm.data.freshness import sync_ref
from csm.data.importer import ImportResult, summary, upsert_records
from csm.data.readers import JsonProblem, decode_json
from csm.data.sources import Endpoint, Source
from csm.data.store import get_meta, set_meta, transaction
from csm.errors import CsmError, TemporaryError, redact_url
from csm.retry import parse_retry_after, retry

MAX_PAGES = 10_000
PREVIEW_RECORDS = 3

Pulled = list[tuple[str, dict[str, Any]]]


class SyncError(CsmError):
    """A source could not be synced; nothing was written."""


class SourceUnavailable(SyncError, TemporaryError):
    """Not now: rate limited, a server error, a timeout or no connection."""


@dataclass(frozen=True)
class SyncResult:
    source: str
    since: str | None
    started_at: str
    dry_run: bool
    results: tuple[ImportResult, ...]
    pulled: dict[str, int]
    preview: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def summary(self) -> str:
        return "; ".join(f"{r.kind} {summary(r)}" for r in self.results) or "nothing to sync"


def last_sync_key(source: str) -> str:
    return f"sync:{source}:last_success"


def sync_source(
    conn: sqlite3.Connection,
    source: Source,
    *,
    now: dt.datetime,
    dry_run: bool = False,
    full: bool = False,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_page: Callable[[str, int], None] | None = None,
) -> SyncResult:
    """Pull every endpoint of ``source`` and upsert it all in one transaction."""
    started_at = now.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    since = None if full or source.since_param is None else get_meta(conn, last_sync_key(source.name))
    pulled: dict[str, Pulled] = {}
    with _client(source, transport) as client:
        for endpoint in source.endpoints:
            fetcher = _Fetcher(client, source, endpoint, since, sleep)
            pulled[endpoint.kind] = list(fetcher.records(on_page))
    label = f"source '{source.name}'"
    with _writing(conn, dry_run):
        results = tuple(
            upsert_records(
                conn,
                kind,
                rows,
                source=f"{label} {kind}",
                now=started_at,
                mapping=_endpoint(source, kind).mapping,
            )
            for kind, rows in pulled.items()
            if rows
        )
        result = SyncResult(
            source.name,
            since,
            started_at,
            dry_run,
            results,
            {kind: len(records) for kind, records in pulled.items()},
            _preview(source, pulled) if dry_run else {},
        )
        set_meta(conn, last_sync_key(source.name), started_at)
        summary = f"synced {source.name}: {result.summary()}"
        timeline.record(conn, None, "sync", summary, started_at, sync_ref(source.name))
    return result


class _Rollback(Exception):
    pass


@contextmanager
def _writing(conn: sqlite3.Connection, dry_run: bool) -> Iterator[None]:
    """A write transaction that commits, or for a dry run is always rolled back."""
    try:
        with transaction(conn):
            yield
            if dry_run:
                raise _Rollback
    except _Rollback:
        pass


def _endpoint(source: Source, kind: str) -> Endpoint:
    return next(e for e in source.endpoints if e.kind == kind)


def _preview(source: Source, pulled: dict[str, Pulled]) -> dict[str, list[dict[str, Any]]]:
    preview = {}
    for kind, records in pulled.items():
        mapping = _endpoint(source, kind).mapping
        first = records[:PREVIEW_RECORDS]
        preview[kind] = [mapping.apply(r, where) if mapping else r for where, r in first]
    return preview


def _client(source: Source, transport: httpx.BaseTransport | None) -> httpx.Client:
    headers = {"Accept": "application/json", "User-Agent": "csm", **source.headers}
    headers.update(source.auth.headers(f"source '{source.name}' (auth)"))
    return httpx.Client(
        base_url=source.base_url,
        headers=headers,
        timeout=httpx.Timeout(source.timeout),
        transport=transport,
        follow_redirects=True,
    )


class _Fetcher:
    """Walks one endpoint's pages and yields ``("record N", record)``."""

    def __init__(
        self,
        client: httpx.Client,
        source: Source,
        endpoint: Endpoint,
        since: str | None,
        sleep: Callable[[float], None],
    ) -> None:
        self.client, self.source, self.endpoint, self.sleep = client, source, endpoint, sleep
        self._setting = f"sources.{source.name}.{endpoint.kind}"
        self.params: dict[str, Any] = dict(endpoint.params)
        if since is not None and source.since_param:
            self.params[source.since_param] = since

    def records(self, on_page: Callable[[str, int], None] | None) -> Iterator[tuple[str, dict[str, Any]]]:
        count = 0
        for where, items in self._pages():
            for item in items:
                count += 1
                if not isinstance(item, dict):
                    raise SyncError(f"{where}: record {count} is not a JSON object: {json.dumps(item)[:60]}")
                yield f"record {count}", item
            if on_page is not None:
                on_page(self.endpoint.kind, count)

    def _pages(self) -> Iterator[tuple[str, list[Any]]]:
        """Each page's location and records, following the endpoint's pagination."""
        pagination = self.endpoint.pagination
        url: str | None = self.endpoint.path
        params = dict(self.params)
        if pagination.style == "page":
            params[pagination.param] = pagination.start
            if pagination.size_param and pagination.size:
                params[pagination.size_param] = pagination.size
        elif pagination.style == "offset":
            params.update({pagination.offset_param: 0, pagination.limit_param: pagination.size})
        seen_cursors: set[str] = set()
        for page in range(1, MAX_PAGES + 1):
            where = f"source '{self.source.name}', {self.endpoint.kind}, page {page}"
            response = self._get(url or "", params, where)
            body = _json(response, where)
            items = self._records_at(body, where)
            yield where, items
            if pagination.style in ("page", "offset"):
                if not items or (pagination.size and len(items) < pagination.size):
                    return
                if pagination.style == "page":
                    params[pagination.param] += 1
                else:
                    params[pagination.offset_param] += len(items)
            elif pagination.style == "cursor":
                cursor = _dig(body, pagination.cursor_field)
                if cursor in (None, "") or str(cursor) in seen_cursors:
                    return
                seen_cursors.add(str(cursor))
                params[pagination.param] = cursor
            elif pagination.style == "link":
                url = response.links.get("next", {}).get("url")
                if not url:
                    return
                params = {}
            else:
                return
        raise SyncError(
            f"source '{self.source.name}', {self.endpoint.kind}: more than {MAX_PAGES:,} pages",
            hint="Check the endpoint's pagination setting in csm.toml.",
        )

    def _records_at(self, body: Any, where: str) -> list[Any]:
        path = self.endpoint.records
        items = _dig(body, path)
        if not isinstance(items, list):
            found = "nothing" if items is None else f"a JSON {type(items).__name__}"
            at = f"'{path}'" if path else "the top level"
            raise SyncError(
                f"{where}: expected a list of records at {at}, found {found}",
                hint=f"Check {self._setting}.records in csm.toml.",
            )
        return items

    def _get(self, url: str, params: dict[str, Any], page_where: str) -> httpx.Response:
        where = f"{page_where} (GET {redact_url(url)})"  # the path, or a next link (its query hidden)

        def attempt() -> httpx.Response:
            try:
                # params=None keeps a next link's own query; {} would drop it
                response = self.client.get(url, params=params or None)
            except httpx.TimeoutException:
                raise SourceUnavailable(f"{where}: no answer within {self.source.timeout:g}s") from None
            except httpx.TransportError as exc:
                raise SourceUnavailable(f"{where}: cannot connect ({type(exc).__name__})") from None
            except (httpx.HTTPError, httpx.InvalidURL) as exc:  # too many redirects, a bad next link
                raise SyncError(f"{where}: the request failed ({type(exc).__name__})") from None
            status = response.status_code
            if status == 429 or status >= 500:
                now = dt.datetime.now(dt.UTC)
                raise SourceUnavailable(
                    f"{where}: HTTP {status} {response.reason_phrase}",
                    retry_after=parse_retry_after(response.headers.get("Retry-After"), now),
                )
            if status in (401, 403):
                raise SyncError(
                    f"{where}: HTTP {status} {response.reason_phrase}: the server refused the credentials",
                    hint=_auth_hint(self.source),
                )
            if status == 404:
                raise SyncError(
                    f"{where}: HTTP 404 Not Found",
                    hint=f"Check base_url and {self._setting}.path in csm.toml.",
                )
            if status >= 400:
                raise SyncError(f"{where}: HTTP {status} {response.reason_phrase}")
            return response

        return retry(
            attempt,
            attempts=self.source.retries + 1,
            base=0.5,
            cap=60.0,
            retry_on=SourceUnavailable,
            sleep=self.sleep,
        )


def _auth_hint(source: Source) -> str:
    if source.auth.type == "none":
        return f"The API wants credentials: add auth to sources.{source.name} in csm.toml."
    return f"Check the secret in ${source.auth.env} (sources.{source.name}.auth in csm.toml)."


def _json(response: httpx.Response, where: str) -> Any:
    """The body, read as strictly as an imported file (a key twice, deep nesting: an error)."""
    try:
        return decode_json(response.content.decode("utf-8-sig"))
    except (json.JSONDecodeError, JsonProblem, UnicodeDecodeError) as exc:
        raise SyncError(f"{where}: the response is not JSON ({exc})") from None


def _dig(body: Any, path: str) -> Any:
    value = body
    for part in path.split(".") if path else ():
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value

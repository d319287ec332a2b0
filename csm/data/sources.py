"""HTTP sources in csm.toml: ``[sources.NAME]`` tables, validated into frozen models.

    [sources.crm]
    base_url = "https://crm.example/api/v2"
    timeout = 20                       # seconds per request (default 30)
    retries = 3                        # extra tries on 429, 5xx and timeouts (default 3)
    since_param = "updated_since"      # incremental pulls: sent with the last good sync's time
    auth = { type = "bearer", token_env = "CRM_TOKEN" }

    [sources.crm.accounts]
    path = "/companies"
    records = "data.items"             # where the list sits in the JSON (omit: the body is the list)
    pagination = { style = "cursor", cursor_field = "meta.next", param = "cursor" }
    fields = { id = "id", name = "properties.name", arr = { from = "mrr", number = true } }

Secrets never live here: ``token_env``, ``password_env`` and ``key_env`` name
environment variables, read only when a sync runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from csm.data.kinds import KINDS
from csm.data.mapping import Mapping, load_mapping, parse_mapping
from csm.errors import WorkspaceError, did_you_mean, redact_url

PAGINATION_STYLES = ("none", "page", "offset", "cursor", "link")
AUTH_TYPES = ("none", "bearer", "basic", "header")

_SOURCE_KEYS = {"base_url", "timeout", "retries", "since_param", "auth", "headers", *KINDS}
_ENDPOINT_KEYS = {"path", "records", "params", "pagination", "fields", "mapping"}
_AUTH_KEYS = {
    "none": {"type"},
    "bearer": {"type", "token_env"},
    "basic": {"type", "username", "password_env"},
    "header": {"type", "header", "key_env"},
}
_PAGINATION_KEYS = {
    "none": {"style"},
    "page": {"style", "param", "start", "size_param", "size"},
    "offset": {"style", "offset_param", "limit_param", "size"},
    "cursor": {"style", "cursor_field", "param"},
    "link": {"style"},
}


@dataclass(frozen=True)
class Auth:
    type: str = "none"
    env: str | None = None  # the variable holding the token, password or key
    username: str | None = None
    header: str | None = None

    def headers(self, where: str) -> dict[str, str]:
        """The request headers this auth adds, reading the secret from the environment now."""
        if self.type == "none":
            return {}
        secret = os.environ.get(self.env or "")
        if not secret:
            raise WorkspaceError(
                f"{where}: the environment variable {self.env} is not set",
                hint=f"Export it before syncing (export {self.env}=...); csm never stores secrets.",
            )
        if self.type == "bearer":
            return {"Authorization": f"Bearer {secret}"}
        if self.type == "header":
            return {self.header or "": secret}
        import base64

        token = base64.b64encode(f"{self.username}:{secret}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}


@dataclass(frozen=True)
class Pagination:
    style: str = "none"
    param: str = "page"  # page number (page) or cursor (cursor) parameter
    start: int = 1
    size_param: str | None = None
    size: int | None = None
    offset_param: str = "offset"
    limit_param: str = "limit"
    cursor_field: str = ""


@dataclass(frozen=True)
class Endpoint:
    kind: str
    path: str
    records: str = ""
    params: dict[str, str] = field(default_factory=dict)
    pagination: Pagination = Pagination()
    mapping: Mapping | None = None


@dataclass(frozen=True)
class Source:
    name: str
    base_url: str
    endpoints: tuple[Endpoint, ...]
    auth: Auth = Auth()
    timeout: float = 30.0
    retries: int = 3
    since_param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class _Checker:
    """Validates one ``[sources.NAME]`` table; every message names csm.toml and the key."""

    def __init__(self, settings_path: Path, name: str) -> None:
        self.path = settings_path
        self.prefix = f"sources.{name}"

    def error(self, key: str, message: str) -> WorkspaceError:
        return WorkspaceError(f"{self.path}: setting '{self.prefix}.{key}': {message}")

    def table(self, key: str, value: Any, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {value!r}")
        for inner in value:
            if inner not in allowed:
                raise self.error(f"{key}.{inner}", "unknown key" + did_you_mean(inner, allowed))
        return value

    def text(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"expected text, got {value!r}")
        return value

    def number(self, key: str, value: Any, *, minimum: float) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise self.error(key, f"expected a number of at least {minimum:g}, got {value!r}")
        return value

    def choice(self, key: str, value: Any, choices: tuple[str, ...]) -> str:
        if value not in choices:
            raise self.error(key, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def free_table(self, key: str, value: Any) -> dict[str, Any]:
        """A table whose keys are the user's own (headers, params, fields)."""
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {value!r}")
        return value

    def strings(self, key: str, value: Any) -> dict[str, str]:
        return {k: str(v) for k, v in self.free_table(key, value).items()}


def parse_sources(raw: MappingABC[str, Any], settings_path: Path, workspace_root: Path) -> dict[str, Source]:
    """Every ``[sources.NAME]`` table, validated; the first problem raises."""
    return {name: _parse_source(name, table, settings_path, workspace_root) for name, table in raw.items()}


def _parse_source(name: str, raw: Any, settings_path: Path, workspace_root: Path) -> Source:
    check = _Checker(settings_path, name)
    if not isinstance(raw, dict):
        raise WorkspaceError(f"{settings_path}: setting 'sources.{name}': expected a table")
    for key in raw:
        if key not in _SOURCE_KEYS:
            raise check.error(key, "unknown key" + did_you_mean(key, _SOURCE_KEYS))
    if "base_url" not in raw:
        raise check.error("base_url", 'required, like base_url = "https://crm.example/api"')
    base_url = check.text("base_url", raw["base_url"])
    if not base_url.startswith(("http://", "https://")):
        shown = redact_url(base_url)
        raise check.error("base_url", f"expected an http:// or https:// address, got '{shown}'")
    _check_url(check, base_url)
    endpoints = tuple(
        _parse_endpoint(check, kind, raw[kind], workspace_root) for kind in KINDS if kind in raw
    )
    if not endpoints:
        raise check.error("accounts", "a source needs at least one of accounts, contacts, usage, events")
    since = raw.get("since_param")
    return Source(
        name=name,
        base_url=base_url.rstrip("/"),
        endpoints=endpoints,
        auth=_parse_auth(check, raw.get("auth", {"type": "none"})),
        timeout=float(check.number("timeout", raw.get("timeout", 30), minimum=0.001)),
        retries=int(check.number("retries", raw.get("retries", 3), minimum=0)),
        since_param=None if since is None else check.text("since_param", since),
        headers=check.strings("headers", raw.get("headers", {})),
    )


def _check_url(check: _Checker, url: str) -> None:
    import httpx

    try:
        httpx.URL(url)
    except httpx.InvalidURL:  # its message may quote a password mistaken for a port: not shown
        raise check.error("base_url", f"'{redact_url(url)}' is not a usable address") from None


def _parse_auth(check: _Checker, raw: Any) -> Auth:
    if not isinstance(raw, dict):
        raise check.error(
            "auth", f'expected a table like {{ type = "bearer", token_env = "CRM_TOKEN" }}, got {raw!r}'
        )
    kind = check.choice("auth.type", raw.get("type"), AUTH_TYPES)
    check.table("auth", raw, _AUTH_KEYS[kind])
    needed = {
        "bearer": ("token_env",),
        "basic": ("username", "password_env"),
        "header": ("header", "key_env"),
    }
    for key in needed.get(kind, ()):
        if key not in raw:
            raise check.error(f"auth.{key}", f"required for auth type '{kind}'")
        check.text(f"auth.{key}", raw[key])
    env = raw.get("token_env") or raw.get("password_env") or raw.get("key_env")
    return Auth(type=kind, env=env, username=raw.get("username"), header=raw.get("header"))


def _parse_endpoint(check: _Checker, kind: str, raw: Any, workspace_root: Path) -> Endpoint:
    table = check.table(kind, raw, _ENDPOINT_KEYS)
    if "path" not in table:
        raise check.error(f"{kind}.path", 'required, like path = "/companies"')
    if "fields" in table and "mapping" in table:
        raise check.error(kind, "give fields or mapping, not both")
    mapping = None
    if "fields" in table:
        fields = check.table(
            f"{kind}.fields",
            table["fields"],
            set(table["fields"]) if isinstance(table["fields"], dict) else set(),
        )
        mapping = parse_mapping(
            fields, f"{check.path} [{check.prefix}.{kind}.fields]", f"{check.prefix}.{kind}"
        )
    elif "mapping" in table:
        mapping = load_mapping(check.text(f"{kind}.mapping", table["mapping"]), workspace_root)
    return Endpoint(
        kind=kind,
        path="/" + check.text(f"{kind}.path", table["path"]).lstrip("/"),
        records=check.text(f"{kind}.records", table["records"]) if "records" in table else "",
        params=check.strings(f"{kind}.params", table.get("params", {})),
        pagination=_parse_pagination(check, f"{kind}.pagination", table.get("pagination", {"style": "none"})),
        mapping=mapping,
    )


def _parse_pagination(check: _Checker, key: str, raw: Any) -> Pagination:
    if not isinstance(raw, dict):
        raise check.error(key, f'expected a table like {{ style = "page" }}, got {raw!r}')
    style = check.choice(f"{key}.style", raw.get("style"), PAGINATION_STYLES)
    check.table(key, raw, _PAGINATION_KEYS[style])
    if style == "cursor" and "cursor_field" not in raw:
        raise check.error(f"{key}.cursor_field", "required: where the next cursor sits in the response")
    if style == "offset" and "size" not in raw:
        raise check.error(f"{key}.size", "required: how many records a page holds")
    size = raw.get("size")
    return Pagination(
        style=style,
        param=check.text(f"{key}.param", raw.get("param", "cursor" if style == "cursor" else "page")),
        start=int(check.number(f"{key}.start", raw.get("start", 1), minimum=0)),
        size_param=raw.get("size_param") and check.text(f"{key}.size_param", raw["size_param"]),
        size=None if size is None else int(check.number(f"{key}.size", size, minimum=1)),
        offset_param=check.text(f"{key}.offset_param", raw.get("offset_param", "offset")),
        limit_param=check.text(f"{key}.limit_param", raw.get("limit_param", "limit")),
        cursor_field=str(raw.get("cursor_field", "")),
    )

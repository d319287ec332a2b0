"""Finding the workspace (like git finds .git) and reading ``csm.toml``."""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from csm import textfile
from csm.errors import WorkspaceError, did_you_mean

SETTINGS_FILE = "csm.toml"
ENV_WORKSPACE = "CSM_WORKSPACE"
ENV_OWNER = "CSM_OWNER"


@dataclass(frozen=True)
class Owner:
    """A CSM who owns accounts: what templates sign emails with."""

    email: str
    name: str
    title: str = "Customer Success Manager"
    signature: str = ""
    login: str | None = None  # their PostgreSQL login: a team's csm finds "me" by it


@dataclass(frozen=True)
class TouchBudget:
    """At most ``max_emails`` emails to one contact in ``per_days`` days, across all playbooks."""

    max_emails: int = 2
    per_days: int = 7

    @property
    def off(self) -> bool:
        return self.max_emails == 0

    def __str__(self) -> str:
        return "no touch budget" if self.off else f"budget {self.max_emails} per {self.per_days} days"


# The data kinds with a freshness limit in [freshness]; sync sources go in [freshness.sources].
FRESHNESS_KINDS = ("accounts", "contacts", "usage", "events")
_AGE = re.compile(r"^(\d+)([dw])$")


@dataclass(frozen=True)
class Settings:
    """csm.toml's settings, each with its default."""

    database: str = "csm.db"  # a SQLite file beside csm.toml, or a postgresql:// URL
    database_password_env: str | None = None  # the environment variable holding the PostgreSQL password
    me: str | None = None
    timezone: str = "UTC"
    today: dt.date | None = None
    primary_metric: str = "active_users"
    renewal_window_days: int = 90
    silent_after_days: int = 60
    owners: dict[str, Owner] = field(default_factory=dict)
    send: dict[str, Any] = field(default_factory=dict)
    notify: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, Any] = field(default_factory=dict)
    internal_domains: tuple[str, ...] = ()  # our own mail domains: who cc_internal may name
    touch_budget: TouchBudget = TouchBudget()
    freshness: dict[str, int] = field(default_factory=dict)  # kind or "source:NAME" -> max age in days
    inbox: dict[str, Any] = field(default_factory=dict)
    holidays: tuple[dt.date, ...] = ()  # days that are no business days (besides weekends)


_TOP_KEYS = {
    "database": str,
    "database_password_env": str,
    "me": str,
    "timezone": str,
    "today": (str, dt.date),
    "primary_metric": str,
    "renewal_window_days": int,
    "silent_after_days": int,
    "owners": dict,
    "send": dict,
    "notify": dict,
    "sources": dict,
    "internal_domains": list,
    "touch_budget": dict,
    "freshness": dict,
    "inbox": dict,
    "holidays": list,
}
_OWNER_KEYS = {"name", "title", "signature", "login"}


@dataclass(frozen=True)
class Workspace:
    """A workspace's folder and its settings."""

    root: Path
    settings: Settings

    @property
    def settings_path(self) -> Path:
        return self.root / SETTINGS_FILE

    @property
    def database_path(self) -> Path:
        return (self.root / self.settings.database).resolve()

    @property
    def database_target(self) -> Path | str:
        """What :func:`csm.data.store.connect` opens: the SQLite file, or the PostgreSQL URL as written."""
        if self.settings.database.startswith(("postgresql://", "postgres://")):
            return self.settings.database
        return self.database_path

    @property
    def playbooks_dir(self) -> Path:
        return self.root / "playbooks"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @property
    def content_dir(self) -> Path:
        """The guides templates name (csm.templating.content reads them beside the templates)."""
        return self.root / "content"

    @property
    def health_path(self) -> Path:
        return self.root / "health.yaml"

    def owner(self, email: str | None) -> Owner:
        """The owner's details, or a plain one made from the address."""
        if email and email in self.settings.owners:
            return self.settings.owners[email]
        return _plain_owner(email)

    def me(self) -> str | None:
        """Who "me" is by the settings: CSM_OWNER, else the `me` setting (on PostgreSQL the
        database login comes after both: :attr:`csm.runtime.Runtime.me`)."""
        return os.environ.get(ENV_OWNER) or self.settings.me

    def today(self, override: dt.date | None = None) -> dt.date:
        """ "Today": the --today flag, the `today` setting, else the clock."""
        if override is not None:
            return override
        if self.settings.today is not None:
            return self.settings.today
        return dt.datetime.now(ZoneInfo(self.settings.timezone)).date()


@functools.lru_cache(maxsize=1024)
def _plain_owner(email: str | None) -> Owner:
    """An owner csm.toml does not name, made from the address (once: a run drafts for thousands)."""
    local = (email or "your CSM").split("@")[0]
    name = " ".join(part.capitalize() for part in local.replace("_", ".").split("."))
    return Owner(email=email or "", name=name)


def find_root(start: Path, explicit: Path | None = None) -> Path:
    """The workspace folder: --workspace, CSM_WORKSPACE, or the nearest csm.toml."""
    chosen = explicit or (Path(os.environ[ENV_WORKSPACE]) if os.environ.get(ENV_WORKSPACE) else None)
    if chosen is not None:
        if not (chosen / SETTINGS_FILE).is_file():
            raise WorkspaceError(
                f"no {SETTINGS_FILE} in {chosen}",
                hint="Run `csm init DIR` to create a workspace there.",
            )
        return chosen.resolve()
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / SETTINGS_FILE).is_file():
            return folder
    raise WorkspaceError(
        f"no {SETTINGS_FILE} in {start} or any parent folder",
        hint="Run `csm init` to create a workspace here, `csm demo` to try one, or pass --workspace DIR.",
    )


def load(start: Path | None = None, explicit: Path | None = None) -> Workspace:
    root = find_root(start or Path.cwd(), explicit)
    return Workspace(root, read_settings(root / SETTINGS_FILE))


def read_settings(path: Path) -> Settings:
    try:
        raw = textfile.load_toml(path)
    except textfile.UnreadableFile as exc:
        raise WorkspaceError(str(exc.problem)) from None
    return parse_settings(raw, str(path), textfile.read_text(path))


def _setting_error(path: str, key: str, message: str) -> WorkspaceError:
    return WorkspaceError(f"{path}: setting '{key}': {message}")


def _line_of(text: str, key: str) -> int | None:
    """The line a dotted setting (``freshness.usage``) is written on, else its table's line.

    Finds ``[table]`` then ``name =``, a top-level ``table.name =`` and ``table = { name = ... }``.
    """
    *tables, name = key.split(".")
    table = ".".join(tables)
    plain = re.compile(rf"^\s*{re.escape(name)}\s*=")
    dotted = re.compile(
        rf"^\s*{re.escape(table)}\s*\.\s*{re.escape(name)}\s*=|"
        rf"^\s*{re.escape(table)}\s*=\s*\{{.*\b{re.escape(name)}\s*="
    )
    current = ""
    for number, line in enumerate(text.splitlines(), 1):
        header = re.match(r"^\s*\[\s*([^\]]+?)\s*\]", line)
        if header:
            current = header.group(1).replace('"', "")
            if current == key:
                return number
        elif (current == table and plain.match(line)) or (table and current == "" and dotted.match(line)):
            return number
    return _line_of(text, table) if table else None


def _placed_error(path: str, text: str | None, key: str, message: str) -> WorkspaceError:
    """A setting's problem as ``csm.toml:LINE: setting 'key': ...``, the line when it can be found."""
    line = _line_of(text, key) if text else None
    return WorkspaceError(f"{path}{f':{line}' if line else ''}: setting '{key}': {message}")


def _touch_budget(raw: dict[str, Any], path: str, text: str | None) -> TouchBudget:
    table = raw.get("touch_budget", {})
    values = {}
    for key, value in table.items():
        if key not in ("max_emails", "per_days"):
            hint = did_you_mean(key, ("max_emails", "per_days")) or " (use max_emails and per_days)"
            raise _placed_error(path, text, f"touch_budget.{key}", "unknown setting" + hint)
        low = 0 if key == "max_emails" else 1
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 365:
            raise _placed_error(
                path, text, f"touch_budget.{key}", f"expected a whole number from {low} to 365, got {value!r}"
            )
        values[key] = value
    return TouchBudget(**values)


def age_days(value: Any) -> int | None:
    """``"3d"`` or ``"2w"`` as days (at least 1), else None."""
    match = _AGE.match(value) if isinstance(value, str) else None
    days = int(match.group(1)) * (7 if match.group(2) == "w" else 1) if match else 0
    return days if days >= 1 else None


def _freshness(raw: dict[str, Any], path: str, text: str | None) -> dict[str, int]:
    """``[freshness]`` as kind -> days and ``source:NAME`` -> days."""
    limits: dict[str, int] = {}
    table = dict(raw.get("freshness", {}))
    sources = table.pop("sources", {})
    if not isinstance(sources, dict):
        raise _placed_error(path, text, "freshness.sources", 'expected a table like { crm = "1d" }')
    entries = [(k, k, v) for k, v in table.items()] + [
        (f"sources.{k}", f"source:{k}", v) for k, v in sources.items()
    ]
    for key, name, value in entries:
        if not key.startswith("sources.") and key not in FRESHNESS_KINDS:
            hint = (
                did_you_mean(key, FRESHNESS_KINDS)
                or f" (kinds: {', '.join(FRESHNESS_KINDS)}; sync sources go in [freshness.sources])"
            )
            raise _placed_error(path, text, f"freshness.{key}", "unknown data kind" + hint)
        source = key.removeprefix("sources.")
        if key.startswith("sources.") and source not in raw.get("sources", {}):
            hint = did_you_mean(source, raw.get("sources", {})) or " (no such [sources] table)"
            raise _placed_error(path, text, f"freshness.{key}", "unknown sync source" + hint)
        days = age_days(value)
        if days is None:
            raise _placed_error(
                path, text, f"freshness.{key}", f'expected an age like "2d" or "1w", got {value!r}'
            )
        limits[name] = days
    return limits


def _internal_domains(raw: dict[str, Any], path: str, text: str | None) -> tuple[str, ...]:
    """Our own mail domains: ``internal_domains``, plus those of ``me``, the owners and ``[send] from``."""
    listed = raw.get("internal_domains", [])
    for value in listed:
        if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", value.lower()):
            raise _placed_error(
                path, text, "internal_domains", f'expected domains like "yourcompany.com", got {value!r}'
            )
    addresses = [raw.get("me"), *raw.get("owners", {}), raw.get("send", {}).get("from")]
    found = [a.rsplit("@", 1)[1] for a in addresses if isinstance(a, str) and "@" in a]
    return tuple(dict.fromkeys(d.lower() for d in (*listed, *found)))


def parse_settings(raw: dict[str, Any], path: str, text: str | None = None) -> Settings:
    for key, value in raw.items():
        if key not in _TOP_KEYS:
            raise _setting_error(path, key, "unknown setting" + did_you_mean(key, _TOP_KEYS))
        expected = _TOP_KEYS[key]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            names = expected.__name__ if isinstance(expected, type) else "a date"
            raise _setting_error(path, key, f"expected {_kind(names)}, got {value!r}")
    today = raw.get("today")
    if isinstance(today, str):
        try:
            today = dt.date.fromisoformat(today)
        except ValueError:
            raise _setting_error(path, "today", "expected a date like 2026-11-25") from None
    tz = raw.get("timezone", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise _setting_error(path, "timezone", f"unknown time zone {tz!r} (try 'Europe/London')") from None
    for key in ("renewal_window_days", "silent_after_days"):
        if key in raw and raw[key] < 1:
            raise _setting_error(path, key, "must be 1 or more")
    owners = _owners(raw, path)
    return Settings(
        database=raw.get("database", "csm.db"),
        database_password_env=raw.get("database_password_env"),
        me=raw.get("me"),
        timezone=tz,
        today=today,
        primary_metric=raw.get("primary_metric", "active_users"),
        renewal_window_days=raw.get("renewal_window_days", 90),
        silent_after_days=raw.get("silent_after_days", 60),
        owners=owners,
        send=raw.get("send", {}),
        notify=raw.get("notify", {}),
        sources=raw.get("sources", {}),
        internal_domains=_internal_domains(raw, path, text),
        touch_budget=_touch_budget(raw, path, text),
        freshness=_freshness(raw, path, text),
        inbox=raw.get("inbox", {}),
        holidays=_holidays(raw.get("holidays", []), path),
    )


def _holidays(values: list[Any], path: str) -> tuple[dt.date, ...]:
    """``holidays = [2026-12-25, "2027-01-01"]``: TOML dates or ISO date strings, sorted."""
    days = []
    for index, value in enumerate(values):
        day = value if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else None
        if isinstance(value, str):
            try:
                day = dt.date.fromisoformat(value)
            except ValueError:
                day = None
        if day is None:
            raise _setting_error(
                path, f"holidays[{index}]", f"expected a date like 2026-12-25, got {value!r}"
            )
        days.append(day)
    return tuple(sorted(set(days)))


def _owners(raw: dict[str, Any], path: str) -> dict[str, Owner]:
    owners = {}
    for email, details in raw.get("owners", {}).items():
        if not isinstance(details, dict):
            raise _setting_error(path, f"owners.{email}", "expected a table with name, title, signature")
        for key in details:
            if key not in _OWNER_KEYS:
                raise _setting_error(
                    path, f"owners.{email}.{key}", "unknown key" + did_you_mean(key, _OWNER_KEYS)
                )
        if not isinstance(details.get("name"), str):
            raise _setting_error(path, f"owners.{email}.name", "required: the CSM's name")
        login = details.get("login")
        if login is not None and (not isinstance(login, str) or not login):
            raise _setting_error(path, f"owners.{email}.login", f"expected a database login, got {login!r}")
        owners[email] = Owner(
            email=email,
            name=details["name"],
            title=str(details.get("title", "Customer Success Manager")),
            signature=str(details.get("signature", "")),
            login=login,
        )
    return owners


def _kind(type_name: str) -> str:
    return {"str": "text", "int": "a whole number", "dict": "a table", "list": "a list"}.get(
        type_name, type_name
    )

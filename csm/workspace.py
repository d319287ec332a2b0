"""Finding the workspace (like git finds .git) and reading ``csm.toml``."""

from __future__ import annotations

import datetime as dt
import os
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


@dataclass(frozen=True)
class Settings:
    database: str = "csm.db"
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
    inbox: dict[str, Any] = field(default_factory=dict)
    holidays: tuple[dt.date, ...] = ()  # days that are no business days (besides weekends)


_TOP_KEYS = {
    "database": str,
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
    "inbox": dict,
    "holidays": list,
}
_OWNER_KEYS = {"name", "title", "signature"}


@dataclass(frozen=True)
class Workspace:
    root: Path
    settings: Settings

    @property
    def settings_path(self) -> Path:
        return self.root / SETTINGS_FILE

    @property
    def database_path(self) -> Path:
        return (self.root / self.settings.database).resolve()

    @property
    def playbooks_dir(self) -> Path:
        return self.root / "playbooks"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @property
    def health_path(self) -> Path:
        return self.root / "health.yaml"

    def owner(self, email: str | None) -> Owner:
        """The owner's details, or a plain one made from the address."""
        if email and email in self.settings.owners:
            return self.settings.owners[email]
        local = (email or "your CSM").split("@")[0]
        name = " ".join(part.capitalize() for part in local.replace("_", ".").split("."))
        return Owner(email=email or "", name=name)

    def me(self) -> str | None:
        """Who "me" is: CSM_OWNER, else the `me` setting."""
        return os.environ.get(ENV_OWNER) or self.settings.me

    def today(self, override: dt.date | None = None) -> dt.date:
        """ "Today": the --today flag, the `today` setting, else the clock."""
        if override is not None:
            return override
        if self.settings.today is not None:
            return self.settings.today
        return dt.datetime.now(ZoneInfo(self.settings.timezone)).date()


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
    return parse_settings(raw, str(path))


def _setting_error(path: str, key: str, message: str) -> WorkspaceError:
    return WorkspaceError(f"{path}: setting '{key}': {message}")


def parse_settings(raw: dict[str, Any], path: str) -> Settings:
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
        owners[email] = Owner(
            email=email,
            name=details["name"],
            title=str(details.get("title", "Customer Success Manager")),
            signature=str(details.get("signature", "")),
        )
    return owners


def _kind(type_name: str) -> str:
    return {"str": "text", "int": "a whole number", "dict": "a table"}.get(type_name, type_name)

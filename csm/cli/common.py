"""What every command shares: the workspace, "today", consoles, JSON output.

Core modules are imported inside functions so `csm --help` stays fast.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    import sqlite3

    from rich.console import Console

    from csm.runtime import Runtime
    from csm.workspace import Workspace


class _LazyConsole:
    """A rich Console made when first used: rich's console module takes about as long to import
    as a quiet `csm run` (cron's, which prints nothing) takes to start."""

    def __init__(self, **options: Any) -> None:
        self._lazy_options = options
        self._lazy_console: Console | None = None

    def _made(self) -> Console:
        if self._lazy_console is None:
            from rich.console import Console

            self._lazy_console = Console(**self._lazy_options)
        return self._lazy_console

    def __getattr__(self, name: str) -> Any:  # only what the proxy itself lacks: the Console's
        return getattr(self._made(), name)

    # Python looks special methods up on the type, never through __getattr__: rich's Live (a
    # progress bar) enters the console it is given to hold its output while it redraws.
    def __enter__(self) -> Console:
        return self._made().__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        self._made().__exit__(*exc_info)


console: Console = _LazyConsole(highlight=False)  # type: ignore[assignment]
err_console: Console = _LazyConsole(stderr=True, highlight=False)  # type: ignore[assignment]


@dataclass
class AppState:
    """What the CLI's global options set, for every command."""

    workspace_dir: Path | None = None
    today: dt.date | None = None
    database: Path | str | None = None  # the workspace database (a file or a redacted URL), for errors


def state(ctx: typer.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def workspace(ctx: typer.Context) -> Workspace:
    from csm import workspace as ws

    found = ws.load(explicit=state(ctx).workspace_dir)
    state(ctx).database = database_label(found)
    return found


def runtime(ctx: typer.Context) -> Runtime:
    """The workspace's runtime as of "today" (``--today``, else csm.toml's, else the clock); its
    database is closed when the command ends."""
    from csm.runtime import open_runtime

    return ctx.with_resource(open_runtime(workspace(ctx), state(ctx).today))


def database_label(ws: Workspace, *, short: bool = False) -> str:
    """The workspace database as a person reads it: the SQLite file (``short``: its name), or the
    PostgreSQL URL with any password hidden (``database_path`` means nothing there)."""
    from csm.data.backend import redact

    target = ws.database_target
    if isinstance(target, str):
        return redact(target)
    return target.name if short else str(target)


def today(ctx: typer.Context, ws: Workspace) -> dt.date:
    return ws.today(state(ctx).today)


def open_db(ws: Workspace) -> sqlite3.Connection:
    from csm.runtime import connect

    return connect(ws)


def parse_date(value: str | None, flag: str) -> dt.date | None:
    """Parse an ISO date flag, or stop with a usage error that names the flag."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2026-11-25", param_hint=flag) from None


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def write_html(path: Path, html: str) -> None:
    from csm.reporting.html.page import write

    write(path, html)
    err_console.print(f"Wrote {path}: open it in a browser, print it or send it on.", highlight=False)

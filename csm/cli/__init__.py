"""The `csm` command line: parse, call the core, print.

Every ``CsmError`` from the core is caught once, in :class:`CsmGroup`, printed
as ``Error: ...`` on stderr, and turned into exit code 1. So is SQLite failing
under any command (disk full, read-only or locked database): it becomes the
``WorkspaceError`` that :func:`csm.store.database_problem` words. Usage errors exit 2.

The commands are loaded lazily: ``csm COMMAND`` imports and builds only COMMAND's module,
and ``csm --help`` lists the commands from :data:`COMMANDS` without importing any of them
(``tests/test_cli_workspace.py`` holds each summary equal to its command's docstring).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from typer._click import Command, Context, HelpFormatter

    from csm.errors import CsmError

SETTINGS: dict[str, Any] = {"add_completion": False, "rich_markup_mode": None}

# Each command, in `csm --help`'s order: the module under csm/cli/ whose register() adds it,
# and its summary (the first paragraph of its docstring, which `csm --help` shortens).
COMMANDS: dict[str, tuple[str, str]] = {
    "init": (
        "workspace_cmds",
        "Create a workspace: csm.toml, built-in playbooks and templates, an empty csm.db.",
    ),
    "paths": ("workspace_cmds", "Print where everything lives."),
    "demo": ("demo_cmds", "Build a demo workspace: 500 accounts, contacts, usage and touches, today pinned."),
    "import": (
        "data_cmds",
        "Load accounts, contacts, usage or events: new rows are added, changed ones updated.",
    ),
    "sync": ("sync_cmds", "Pull from the HTTP sources in csm.toml; each source in one transaction."),
    "db": ("db_cmds", "The workspace's database: copy it between SQLite and PostgreSQL."),
    "check": (
        "playbook_cmds",
        "Validate settings, playbooks, templates and the health model; exit 1 on any problem.",
    ),
    "run": (
        "playbook_cmds",
        "Take today's health snapshot, evaluate playbooks, queue drafts and tasks (--dry-run: show only).",
    ),
    "preview": (
        "playbook_cmds",
        "Render exactly the email a step would draft for one account, without queueing it.",
    ),
    "test": (
        "playtest_cmds",
        "Run playbook tests: exit 0 all pass, 1 a case failed, 2 a test file is wrong.",
    ),
    "explain": (
        "explain_cmds",
        "Why each step matches ACCOUNT or not today, clause by clause, and why a match would not draft.",
    ),
    "backtest": (
        "backtest_cmds",
        "Replay the playbooks as they stand over past days, on each day's values; write nothing.",
    ),
    "today": (
        "morning_cmds",
        "The morning list: replies, drafts to review, tasks, renewals, health drops, silent accounts.",
    ),
    "account": (
        "morning_cmds",
        "One account: key fields, trend, renewal countdown, contacts, open items, timeline.",
    ),
    "health": (
        "health_cmds",
        "Score every account, store today's snapshot, show the distribution and the biggest drops.",
    ),
    "report": (
        "report_cmds",
        "What each playbook did and what happened after: touched against not touched and held out.",
    ),
    "outcome": (
        "report_cmds",
        "Record a renewal outcome by hand (imports record them from the status column).",
    ),
    "outbox": (
        "outbox_cmds",
        "List what waits (draft, approved, unknown, deferred); --all or --status for the history.",
    ),
    "show": ("outbox_cmds", "Show one draft: headers, body, and why it was drafted."),
    "approve": ("outbox_cmds", "Approve drafts for `csm send`."),
    "skip": ("outbox_cmds", "Skip a draft, with the reason (it is never sent)."),
    "edit": (
        "outbox_cmds",
        "Edit a draft in $EDITOR (the original is kept; it goes back to draft for approval).",
    ),
    "review": ("outbox_cmds", "Walk the drafts one by one: approve, edit, skip, next, quit."),
    "send": ("send_cmds", "Send approved drafts through the transport in csm.toml, each at most once."),
    "resolve": ("send_cmds", "Settle a draft whose send outcome is unknown."),
    "unsubscribe": (
        "send_cmds",
        "Never email this address again (it is left out of every draft at send time).",
    ),
    "notify": ("send_cmds", "Post a digest of what waits, per CSM, to the webhook in [notify] webhook_env."),
    "inbox": ("inbox_cmds", "Record replies to what csm sent, and bounces, from the CSM's mailbox."),
    "snooze": ("task_cmds", "Stop a playbook (or all) firing for an account until a date."),
    "snoozes": ("task_cmds", "Account snoozes still in force (they expire on their own)."),
    "log": ("task_cmds", "Record a touch on the account's timeline (resets days_since_touch)."),
    "completion": (
        "completion",
        "Print the shell completion script (commands, options, playbook names, account ids).",
    ),
    "task": ("task_cmds", "Tasks playbooks created for you."),
}


class _LazyCommands(Mapping[str, "Command"]):
    """The root's commands by name: a module is imported, and its commands built, when one is asked for."""

    def __init__(self) -> None:
        self._built: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            self._built.update(_build(COMMANDS[name][0]))
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)


def _build(module_name: str) -> dict[str, Command]:
    """The click commands of one csm/cli module, as Typer builds them."""
    module = importlib.import_module(f"csm.cli.{module_name}")
    part = typer.Typer(**SETTINGS)
    module.register(part)
    built = typer.main.get_command(part)
    return dict(built.commands) if isinstance(built, TyperGroup) else {built.name or "": built}


class CsmGroup(TyperGroup):
    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _LazyCommands()

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """As Typer's, from the summaries in COMMANDS, so listing the commands loads none of them."""
        from typer._click.utils import make_default_short_help

        limit = formatter.width - 6 - max(map(len, COMMANDS))
        rows = [(name, make_default_short_help(summary, limit)) for name, (_, summary) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        from csm.errors import CsmError

        try:
            return super().invoke(ctx)
        except CsmError as exc:
            _fail(exc)
        except Exception as exc:
            from csm.cli.common import state
            from csm.data.store import database_problem

            problem = database_problem(exc, state(ctx).database)
            if problem is None:
                raise
            _fail(problem)


def _fail(exc: CsmError) -> NoReturn:
    from rich.markup import escape

    from csm.cli.common import err_console

    err_console.print(
        f"[bold red]Error:[/] {escape(exc.message)}", markup=True, highlight=False, soft_wrap=True
    )
    if exc.hint:
        err_console.print(exc.hint, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=CsmGroup,
    name="csm",
    help="Customer-success playbooks: see who needs a touch today, with the emails drafted.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    **SETTINGS,
)


@app.callback()
def _root(
    ctx: typer.Context,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Workspace folder (default: nearest csm.toml).",
            envvar="CSM_WORKSPACE",
            show_envvar=True,
        ),
    ] = None,
    today: Annotated[
        str | None,
        typer.Option("--today", help="Evaluate as of this date (YYYY-MM-DD).", metavar="DATE"),
    ] = None,
) -> None:
    from csm.cli.common import parse_date, state

    st = state(ctx)
    st.workspace_dir = workspace
    st.today = parse_date(today, "--today")


def main() -> None:
    from csm.cli.completion import prepare

    prepare()
    app()

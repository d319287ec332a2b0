"""The `csm` command line: parse, call the core, print.

Every ``CsmError`` from the core is caught once, in :class:`CsmGroup`, printed
as ``Error: ...`` on stderr, and turned into exit code 1. So is SQLite failing
under any command (disk full, read-only or locked database): it becomes the
``WorkspaceError`` that :func:`csm.store.database_problem` words. Usage errors exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from typer.core import TyperGroup

from csm.cli.common import err_console, parse_date, state
from csm.errors import CsmError


class CsmGroup(TyperGroup):
    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except CsmError as exc:
            _fail(exc)
        except Exception as exc:
            from csm.data.store import database_problem

            problem = database_problem(exc, state(ctx).database)
            if problem is None:
                raise
            _fail(problem)


def _fail(exc: CsmError) -> NoReturn:
    from rich.markup import escape

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
    add_completion=False,
    rich_markup_mode=None,
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
    st = state(ctx)
    st.workspace_dir = workspace
    st.today = parse_date(today, "--today")


def _register() -> None:
    from csm.cli import (
        backtest_cmds,
        completion,
        data_cmds,
        db_cmds,
        demo_cmds,
        explain_cmds,
        health_cmds,
        inbox_cmds,
        morning_cmds,
        outbox_cmds,
        playbook_cmds,
        playtest_cmds,
        report_cmds,
        send_cmds,
        sync_cmds,
        task_cmds,
        workspace_cmds,
    )

    for module in (
        workspace_cmds,
        demo_cmds,
        data_cmds,
        db_cmds,
        sync_cmds,
        playbook_cmds,
        playtest_cmds,
        explain_cmds,
        backtest_cmds,
        morning_cmds,
        health_cmds,
        report_cmds,
        outbox_cmds,
        send_cmds,
        inbox_cmds,
        task_cmds,
        completion,
    ):
        module.register(app)


_register()


def main() -> None:
    from csm.cli.completion import prepare

    prepare()
    app()

"""Shell completion: `csm completion bash|zsh|fish` prints the script; the shell then asks csm.

The shell asks by running csm with ``_CSM_COMPLETE`` set; only then does :func:`prepare`
load Typer's completion classes, so an ordinary start pays nothing for completion
(``add_completion=False`` keeps Typer's own options, and their imports, off the app).
Playbook names come from the workspace's playbooks folder and account ids from its
database, opened read-only and immutable; any problem finding them completes nothing, quietly.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from csm.workspace import Workspace

COMPLETE_VAR = "_CSM_COMPLETE"
SHELLS = ("bash", "zsh", "fish")
SHOWN = 200  # account ids offered at most
COMPLETION_WAIT = 2  # seconds for a team's database to answer while the shell waits


def register(app: typer.Typer) -> None:
    app.command("completion")(completion)


def prepare() -> None:
    """Before the app runs: when the shell is asking for completions, teach click Typer's shells."""
    if os.environ.get(COMPLETE_VAR):
        from typer._completion_classes import completion_init

        completion_init()


def completion(
    shell: Annotated[
        str, typer.Argument(metavar="bash|zsh|fish", help="Your shell.", autocompletion=lambda: SHELLS)
    ],
) -> None:
    """Print the shell completion script (commands, options, playbook names, account ids).

    bash: eval "$(csm completion bash)" in ~/.bashrc; zsh: the same in ~/.zshrc;
    fish: csm completion fish > ~/.config/fish/completions/csm.fish
    """
    if shell not in SHELLS:
        raise typer.BadParameter(f"'{shell}' is not one of: {', '.join(SHELLS)}", param_hint="SHELL")
    from typer._completion_shared import get_completion_script

    typer.echo(get_completion_script(prog_name="csm", complete_var=COMPLETE_VAR, shell=shell))


def _workspace(ctx: typer.Context) -> Workspace | None:
    """The workspace of the command line being completed (its --workspace is still a raw string)."""
    from pathlib import Path

    from csm import workspace

    chosen = ctx.find_root().params.get("workspace")
    try:
        return workspace.load(explicit=Path(chosen) if chosen else None)
    except Exception:  # no workspace or a broken one: complete nothing, never a traceback in the shell
        return None


def playbook_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """The workspace's playbooks, by file name (no YAML is read while the shell waits)."""
    ws = _workspace(ctx)
    if ws is None:
        return []
    return sorted(p.stem for p in ws.playbooks_dir.glob("*.yaml") if p.stem.startswith(incomplete))


def account_ids(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Account ids starting with what was typed, each with its name (zsh and fish show it)."""
    ws = _workspace(ctx)
    if ws is None:
        return []
    sql = "SELECT id, coalesce(name, '') FROM accounts WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT ?"
    params = (len(incomplete), incomplete, SHOWN)
    if isinstance(ws.database_target, str):
        rows = _postgres_rows(ws, sql, params)
    else:
        import sqlite3
        from contextlib import closing

        try:
            # Immutable: a pure read that takes no lock and leaves no -wal or -shm file behind.
            with closing(
                sqlite3.connect(f"{ws.database_path.as_uri()}?mode=ro&immutable=1", uri=True)
            ) as conn:
                rows = conn.execute(sql, params).fetchall()
        except sqlite3.Error:
            return []
    return [(row[0], row[1]) for row in rows]


def _postgres_rows(ws: Workspace, sql: str, params: tuple[object, ...]) -> list[tuple[str, str]]:
    """The rows of a read on the team's database; none when it cannot be reached or read."""
    from csm.data.backend import connect_postgres
    from csm.errors import CsmError

    try:
        conn = connect_postgres(
            ws.settings.database, password_from=ws.settings.database_password_env, wait=COMPLETION_WAIT
        )
    except CsmError:
        return []
    import psycopg  # loaded by the connection

    try:
        with conn:
            return [(row[0], row[1]) for row in conn.execute(sql, params)]
    except psycopg.Error:
        return []

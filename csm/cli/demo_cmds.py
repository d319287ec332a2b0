"""`csm demo`: a realistic, deterministic workspace to try csm on."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from csm.cli.common import console


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    directory: Annotated[
        Path | None,
        typer.Argument(help="A new or empty folder for it (default: a new temporary folder)."),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            metavar="URL",
            help="Put the demo's data in this empty PostgreSQL database (postgresql://user@host/db).",
        ),
    ] = None,
    tour: Annotated[
        bool,
        typer.Option("--tour", help="Then show each built-in playbook's matches and one previewed email."),
    ] = False,
) -> None:
    """Build a demo workspace: 500 accounts, contacts, usage and touches, today pinned."""
    from csm.data.backend import is_postgres_url, redact
    from csm.demo import DEMO_TODAY, build_demo
    from csm.errors import InputError

    if database is not None and not is_postgres_url(database):
        raise InputError(
            f"--database {database!r} is not a postgresql:// URL; the demo's SQLite file is csm.db"
        )
    summary = build_demo(directory, database or "csm.db")
    counts = summary.counts
    where = shlex.quote(str(summary.root))
    for line in (
        f"Built a demo workspace in {summary.root}",
        f"  {counts['accounts']:,} accounts, {counts['contacts']:,} contacts, "
        f"{counts['usage']:,} usage points, {counts['timeline']:,} past touches, "
        f"{counts['health_history']:,} health snapshots",
        f"  You are {summary.me}; today is pinned to {DEMO_TODAY:%A %d %B %Y} in csm.toml.",
        *([f"  Its data is in {redact(database)}."] if database else []),
        f"Next: csm -w {where} today",
        f"      csm -w {where} run --dry-run",
    ):
        # Paths may hold [brackets]; a wrapped command could not be pasted.
        console.print(line, markup=False, soft_wrap=True)
    if tour:
        _tour(summary.root)


TOUR_PLAYBOOKS = (
    "onboarding",
    "adoption-milestones",
    "nurture",
    "renewal-ahead",
    "expansion",
    "at-risk",
    "nps",
    "silent-account",
)


def _tour(root: Path) -> None:
    """Each built-in playbook: matches per step, then the first email it would draft."""
    from csm import workspace
    from csm.engine.matching import evaluate
    from csm.engine.preview import render_preview
    from csm.runtime import open_runtime

    with open_runtime(workspace.load(explicit=root)) as rt:
        for playbook in rt.playbooks(TOUR_PLAYBOOKS):
            results = evaluate(rt.conn, [playbook], rt.fields, rt.params, rt.today)
            counts = ", ".join(f"{r.step.id} {len(r.matches)}" for r in results)
            console.rule(f"{playbook.title} ({playbook.id})")
            console.print(f"Matching accounts today: {counts}", highlight=False)
            first = next((r for r in results if r.step.email and r.matches), None)
            if first is None:
                continue
            account = first.matches[0]
            preview = render_preview(rt, playbook.id, account.account_id, first.step.id)
            console.print(
                f"\nStep '{first.step.id}' would draft, for {account.account_name}:\n", highlight=False
            )
            for name, value in preview.headers:
                console.print(f"  {name}: {value}", markup=False, highlight=False, soft_wrap=True)
            console.print()
            for line in preview.body.splitlines():
                console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"\nNext: csm -w {shlex.quote(str(root))} today", markup=False, soft_wrap=True)

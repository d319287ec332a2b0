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
) -> None:
    """Build a demo workspace: 500 accounts, contacts, usage and touches, today pinned."""
    from csm.demo import DEMO_TODAY, build_demo

    summary = build_demo(directory)
    counts = summary.counts
    where = shlex.quote(str(summary.root))
    for line in (
        f"Built a demo workspace in {summary.root}",
        f"  {counts['accounts']:,} accounts, {counts['contacts']:,} contacts, "
        f"{counts['usage']:,} usage points, {counts['timeline']:,} past touches",
        f"  You are {summary.me}; today is pinned to {DEMO_TODAY:%A %d %B %Y} in csm.toml.",
        f"Next: csm -w {where} today",
        f"      csm -w {where} run --dry-run",
    ):
        # Paths may hold [brackets]; a wrapped command could not be pasted.
        console.print(line, markup=False, soft_wrap=True)

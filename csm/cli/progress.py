"""Progress on stderr for long work: how much of how much, and the time left once a total is known.

Never drawn when stderr is not a terminal (cron, pipes, tests), so nothing a script
reads changes. Imported only by the commands that show it (rich.progress is not
cheap to import).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.filesize import decimal
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.table import Column
from rich.text import Text

from csm.cli.common import err_console


class _Count(ProgressColumn):
    """ "3.1/12.0 MB", "40/200 drafts", or "7 pages" while the total is not known."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "")
        if unit == "bytes":
            done = decimal(int(task.completed))
            return Text(done if task.total is None else f"{done}/{decimal(int(task.total))}")
        total = "" if task.total is None else f"/{task.total:,.0f}"
        return Text(f"{task.completed:,.0f}{total} {unit}".rstrip())


class _Left(TimeRemainingColumn):
    """The time left, only where a total makes it knowable."""

    def render(self, task: Task) -> Text:
        return Text("") if task.total is None else Text("eta ").append(super().render(task))


@contextmanager
def progress(description: str, unit: str = "", total: float | None = None) -> Iterator[Callable[..., None]]:
    """A bar for one piece of work; yields ``update(completed=, advance=, total=, unit=, description=)``."""
    with Progress(
        TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
        BarColumn(),
        _Count(table_column=Column(no_wrap=True)),
        _Left(table_column=Column(no_wrap=True)),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    ) as bar:
        task = bar.add_task(description, total=total, unit=unit)

        def update(**changes: Any) -> None:
            bar.update(task, **changes)

        yield update

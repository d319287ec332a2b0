"""The progress bar :func:`csm.cli.progress.progress` draws on a terminal: how much of how much,
and the time left once a total is known (rich.progress, imported only when a bar is drawn)."""

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
def bar(description: str, unit: str = "", total: float | None = None) -> Iterator[Callable[..., None]]:
    """A bar for one piece of work on stderr; yields ``update(...)`` as :func:`csm.cli.progress.progress`."""
    with Progress(
        TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
        BarColumn(),
        _Count(table_column=Column(no_wrap=True)),
        _Left(table_column=Column(no_wrap=True)),
        console=err_console,
        transient=True,
    ) as drawn:
        task = drawn.add_task(description, total=total, unit=unit)

        def update(**changes: Any) -> None:
            drawn.update(task, **changes)

        yield update

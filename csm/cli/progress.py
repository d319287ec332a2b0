"""Progress on stderr for long work: how much of how much, and the time left once a total is known.

Never drawn when stderr is not a terminal (cron, pipes, tests), so nothing a script
reads changes; then rich.progress is not even imported (:mod:`csm.cli.bars` draws the bar).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from csm.cli.common import err_console


@contextmanager
def progress(description: str, unit: str = "", total: float | None = None) -> Iterator[Callable[..., None]]:
    """A bar for one piece of work; yields ``update(completed=, advance=, total=, unit=, description=)``."""
    if not err_console.is_terminal:
        yield _unseen
        return
    from csm.cli.bars import bar

    with bar(description, unit, total) as update:
        yield update


def _unseen(**_changes: Any) -> None:
    """No bar: nothing to update."""

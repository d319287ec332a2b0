"""Which email templates a workspace has: file names only, so no Jinja import is needed to ask."""

from __future__ import annotations

from pathlib import Path

SUFFIX = ".md.j2"


def template_names(root: Path) -> list[str]:
    """Every email template under ``root``, as a posix path relative to it (partials start with _)."""
    if not root.is_dir():
        return []
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*" + SUFFIX)
        if path.is_file() and not path.name.startswith("_")
    )

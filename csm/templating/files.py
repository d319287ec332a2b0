"""Which email templates a workspace has: file names only, so no Jinja import is needed to ask.

Templates are read only from inside the templates folder: a name with ``..``
is no template, and neither is a link (to a file or a folder) that resolves
to somewhere outside it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

SUFFIX = ".md.j2"


def inside(root: Path, path: Path) -> bool:
    """Whether ``path``, with every link resolved, is in the folder ``root`` (resolved too)."""
    return path.resolve().is_relative_to(root.resolve())


def template_names(root: Path) -> list[str]:
    """Every email template under ``root``, as a posix path relative to it (partials start with _)."""
    if not root.is_dir():
        return []
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*" + SUFFIX)
        if path.is_file() and not path.name.startswith("_") and inside(root, path)
    )


def outside_links(root: Path) -> list[str]:
    """Links under ``root`` (files or folders, partials too) that lead outside it, relative posix paths."""
    return sorted(path.relative_to(root).as_posix() for path in _links(root) if not inside(root, path))


def _links(root: Path) -> Iterator[Path]:
    """Every link under ``root``, without following links into folders."""
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            path = Path(folder, name)
            if path.is_symlink():
                yield path

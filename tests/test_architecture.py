"""The arrows of ARCHITECTURE.md, checked against every import in csm/.

A part may import only the parts listed for it here (and itself); anything
else is a new arrow, to be drawn in ARCHITECTURE.md and added here on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "csm"

# Cross-cutting modules every part may use: errors, the bounded file reader, retries, where built-ins
# live, the garbage collector paused.
SHARED = {"errors", "textfile", "retry", "builtins", "collector"}

ALLOWED: dict[str, set[str]] = {
    "language": set(),
    "templating": {"language"},
    "data": {"language"},
    "health": {"language", "data"},
    "engine": {
        "language",
        "templating",
        "data",
        "mail",
        "workspace",
        "runtime",
    },  # drafts go into mail.outbox
    "mail": {"language", "templating", "data", "engine", "workspace", "runtime"},
    "reporting": {"language", "templating", "data", "engine", "mail", "health", "runtime", "workspace"},
    "workspace": set(),
    "runtime": {"language", "templating", "data", "engine", "health", "workspace"},
    "checks": {"language", "templating", "data", "health", "mail", "runtime", "playtest"},
    "playtest": {"language", "templating", "data", "engine", "health", "runtime", "workspace", "mail"},
    "init": {"data", "health", "workspace"},
    "demo": {"language", "templating", "data", "engine", "mail", "health", "init", "runtime", "workspace"},
    "retry": set(),
    "collector": set(),
    "textfile": set(),
    "builtins": set(),
    "errors": set(),
}


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE).with_suffix("")
    return relative.parts[0]


def imported_parts(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = node.module.split(".")
            if names[0] != "csm":
                continue
            if len(names) > 1:
                found.add(names[1])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("csm."))
    return found


CORE = sorted(p for p in PACKAGE.rglob("*.py") if part_of(p) not in {"cli", "__main__", "__init__"})


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_part_imports_only_what_the_architecture_draws(path: Path) -> None:
    part = part_of(path)
    assert part in ALLOWED, f"{part} is a new part: draw it in ARCHITECTURE.md and list it here"
    stray = imported_parts(path) - ALLOWED[part] - SHARED - {part}
    assert not stray, f"{path.relative_to(PACKAGE)} imports {sorted(stray)}, an arrow not drawn"


def test_the_core_never_imports_the_cli() -> None:
    assert all("cli" not in imported_parts(path) for path in CORE)

"""Where the built-in playbooks and templates live, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).parent


def builtin_dir(kind: str) -> Path:
    """``playbooks`` or ``templates``: inside the wheel, else the source checkout."""
    packaged = _PACKAGE / "_builtins" / kind
    return packaged if packaged.is_dir() else _PACKAGE.parent / kind

"""Where the built-in playbooks, templates and health model live, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).parent


def builtin_path(name: str) -> Path:
    """``playbooks``, ``templates``, ``content`` or ``health.yaml``: in the wheel, else the checkout."""
    packaged = _PACKAGE / "_builtins" / name
    return packaged if packaged.exists() else _PACKAGE.parent / name


def builtin_dir(kind: str) -> Path:
    """The built-in ``playbooks``, ``templates`` or ``content`` folder."""
    return builtin_path(kind)

"""One self-contained HTML file: Jinja with autoescaping, styles inline, nothing fetched at view time."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from csm.errors import InputError

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, **context: Any) -> str:
    """The page; chart strings in ``context`` are trusted SVG (csm.reporting.charts escapes its text)."""
    charts = {k: Markup(v) for k, v in context.pop("charts", {}).items()}
    return _environment().get_template(template).render(charts=charts, **context)


def write(path: Path, html: str) -> None:
    """Write the page whole or not at all: a half-written report is never left behind."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(html, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise InputError(
            f"cannot write {path}: {exc.strerror}", hint="Name a file in a folder you can write to."
        ) from None

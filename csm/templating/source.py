"""Reading a template's source: from inside the templates folder only, bounded, line numbers kept.

Front matter is masked as a Jinja comment of as many lines, and a line holding
only a tag leaves no line behind, so Jinja's line numbers are the file's.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import jinja2
from jinja2.ext import Extension
from jinja2.loaders import split_template_path

from csm import textfile
from csm.templating.files import inside

# A line holding nothing but one {% tag %} or {# comment #}. A tag stops at the next opening
# one, so a file of unclosed tags is scanned once, not once per tag.
_STANDALONE = re.compile(
    r"^[ \t]*(\{%(?:(?!%\}|\{%).)*?|\{#(?:(?!#\}|\{#).)*?)([-+]?[%#]\})[ \t]*\n", re.M | re.S
)


class StandaloneTags(Extension):
    """A line holding only a tag or a comment leaves no line behind (as in Mustache).

    Unlike ``trim_blocks``, a tag at the end of a line of text keeps that line
    break, so an inline ``{% if %}...{% endif %}`` cannot join two paragraphs.
    The line break moves inside the tag, so line numbers stay the file's.
    """

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return _STANDALONE.sub(lambda m: f"{m[1]}\n{m[2]}", source)


def split_front_matter(text: str) -> tuple[str | None, int, str]:
    """(front matter or None, the closing '---' line, the body masked to keep line numbers).

    The front matter becomes a Jinja comment holding as many line breaks, so
    Jinja's line numbers are the file's. The closing line is 0 when the front
    matter is never closed.
    """
    text = text.removeprefix("\ufeff")
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None, 0, text
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            masked = "{#" + "\n" * (index + 1) + "#}" + "".join(lines[index + 1 :])
            return "".join(lines[1:index]), index + 1, masked
    return "".join(lines[1:]), 0, text


class OutsideTemplates(jinja2.TemplateNotFound):
    """A template name that leads, through a link, outside the templates folder."""


class Loader(jinja2.BaseLoader):
    """Reads templates from inside ``root`` only; included and extended ones with front matter masked."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Any]:
        source, filename = self.get_raw(template)
        return split_front_matter(source)[2], filename, lambda: True

    def get_raw(self, template: str) -> tuple[str, str]:
        """The file's text and path; ``..`` and links out of the folder are not found."""
        path = self.root.joinpath(*split_template_path(template))
        if not path.is_file():
            raise jinja2.TemplateNotFound(template)
        if not inside(self.root, path):
            message = (
                f"template '{template}' is a link to outside the templates folder;"
                " csm reads templates only from inside it (copy the file in)"
            )
            raise OutsideTemplates(template, message)
        return textfile.read_text(path, f"{self.root.name}/{template}"), os.path.normpath(path)

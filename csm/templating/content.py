"""The content library: short guides a template names, read only from inside ``content/``.

A guide is a Markdown file keyed by its path without ``.md``, stage first and
feature after (``adoption/automations``, ``integrations/slack``), with front
matter::

    ---
    title: Automate the weekly hand-off
    summary: One rule that moves a finished item to the next team, so nobody copies it by hand.
    minutes: 10                          # optional: how long it takes
    link: https://example.com/guides/x   # optional
    ---
    The steps, in a few short lines.

Templates call ``guide("adoption/automations")`` for one guide and
``guides("integrations")`` for every guide in a folder (sorted by ``order``,
then name). A key that names no guide is a template problem at its line, found
by ``csm check`` before any email is drafted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes

from csm import textfile
from csm.errors import Problem, did_you_mean
from csm.language import yamlfile
from csm.templating.files import inside, outside_links
from csm.templating.filters import FilterError
from csm.templating.source import split_front_matter

FOLDER = "content"
SUFFIX = ".md"
KEYS = {"title": str, "summary": str, "minutes": int, "link": str, "order": int}
REQUIRED = ("title", "summary")
_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*(?:/[a-z0-9][a-z0-9_-]*)*$")
CALLS = ("guide", "guides")


class Library:
    """The guides under one ``content/`` folder, each read once; a missing folder holds none."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._read: dict[str, tuple[dict[str, Any] | None, list[Problem]]] = {}
        self._keys: list[str] | None = None

    def keys(self) -> list[str]:
        """Every guide's key, sorted: read once, as templates are compiled once."""
        if self._keys is None:
            self._keys = self._find_keys()
        return self._keys

    def _find_keys(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            path.relative_to(self.root).with_suffix("").as_posix()
            for path in self.root.rglob("*" + SUFFIX)
            if path.is_file() and inside(self.root, path)
        )

    def guide(self, key: Any) -> dict[str, Any]:
        """The guide ``key`` for a template: its front matter, ``key``, ``name`` and ``body``."""
        if not isinstance(key, str) or not _KEY_RE.match(key) or key not in self.keys():
            raise FilterError(self._missing(key))
        found, problems = self._load(key)
        if found is None:
            raise FilterError(f"the guide '{key}' has problems: {problems[0]}")
        return found

    def guides(self, folder: Any) -> list[dict[str, Any]]:
        """Every guide directly in ``folder`` (``integrations``), by ``order`` then name."""
        keys = self._in_folder(folder)
        if not keys:
            raise FilterError(self._no_folder(folder))
        found = [self.guide(k) for k in keys]
        return sorted(found, key=lambda g: (g.get("order", 1000), g["name"]))

    def _in_folder(self, folder: Any) -> list[str]:
        if not isinstance(folder, str):
            return []
        prefix = f"{folder}/"
        return [k for k in self.keys() if k.startswith(prefix) and "/" not in k[len(prefix) :]]

    def _missing(self, key: Any) -> str:
        return (
            f"no guide '{key}' in {FOLDER}/{did_you_mean(str(key), self.keys())}; add {FOLDER}/{key}{SUFFIX}"
        )

    def _no_folder(self, folder: Any) -> str:
        folders = sorted({k.rpartition("/")[0] for k in self.keys() if "/" in k})
        return (
            f"no guides in '{folder}' under {FOLDER}/{did_you_mean(str(folder), folders)}"
            f" (folders: {', '.join(folders) or 'none'})"
        )

    def unknown(self, call: str, key: str) -> str | None:
        """Why ``guide(key)`` or ``guides(key)`` names nothing here, or None when it names something."""
        if call == "guides":
            return None if self._in_folder(key) else self._no_folder(key)
        return None if key in self.keys() else self._missing(key)

    def problems(self) -> list[Problem]:
        """Every problem in every guide file, and each link leading outside the folder, for `csm check`."""
        message = f"a link to outside the {FOLDER} folder; csm reads guides only from inside it"
        links = [Problem(f"{FOLDER}/{name}", 1, 1, message) for name in outside_links(self.root)]
        return links + [problem for key in self.keys() for problem in self._load(key)[1]]

    def _load(self, key: str) -> tuple[dict[str, Any] | None, list[Problem]]:
        if key not in self._read:
            self._read[key] = self._parse(key)
        return self._read[key]

    def _parse(self, key: str) -> tuple[dict[str, Any] | None, list[Problem]]:
        display = f"{FOLDER}/{key}{SUFFIX}"
        try:
            text = textfile.read_text(self.root / f"{key}{SUFFIX}", display)
        except textfile.UnreadableFile as exc:
            return None, [exc.problem]
        front, closing, _ = split_front_matter(text)
        if front is None or not closing:
            return None, [
                Problem(display, 1, 1, "a guide starts with front matter: '---', 'title: ...', '---'")
            ]
        try:
            doc = yamlfile.load("\n" + front, display)
        except yamlfile.YamlSyntaxError as exc:
            return None, [exc.problem]
        data = doc.data if isinstance(doc.data, dict) else {}
        problems = [doc.problem((), f"missing '{k}'") for k in REQUIRED if k not in data]
        for name, value in data.items():
            if name not in KEYS:
                message = f"unknown front matter key '{name}'{did_you_mean(name, KEYS)}"
                problems.append(doc.problem((name,), message, key=True))
            elif not isinstance(value, KEYS[name]) or isinstance(value, bool):
                problems.append(doc.problem((name,), f"'{name}' must be {_TYPE_NAMES[KEYS[name]]}"))
        body = "".join(text.splitlines(keepends=True)[closing:]).strip()
        if not body:
            problems.append(Problem(display, closing, 1, "the guide has no text after its front matter"))
        if problems:
            return None, problems
        return {**data, "key": key, "name": key.rpartition("/")[2], "body": body}, []


_TYPE_NAMES = {str: "text", int: "a whole number"}


def named_guides(tree: nodes.Template) -> Iterator[tuple[str, str, int]]:
    """Each ``guide("key")`` / ``guides("folder")`` a template calls with a constant: (call, key, line)."""
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name in CALLS and call.args:
            first = call.args[0]
            if isinstance(first, nodes.Const) and isinstance(first.value, str):
                yield call.node.name, first.value, call.lineno


def static_problems(library: Library, tree: nodes.Template) -> list[tuple[int, str, str]]:
    """(line, message, key) for each constant guide or folder the library lacks, branch taken or not."""
    return [
        (line, message, key)
        for call, key, line in named_guides(tree)
        if (message := library.unknown(call, key)) is not None
    ]


def install(env: jinja2.Environment, library: Library) -> None:
    """Make ``guide`` and ``guides`` callable in ``env``'s templates."""
    env.globals.update(guide=library.guide, guides=library.guides)

"""Which ``account`` fields a template reads, so drafting computes only those.

A template reads ``account.X`` and ``account['X']`` directly, and whatever the
templates it pulls in (``include``, ``import``, ``from ... import``,
``extends``) read, since they see the same context. Passing ``account`` whole
(to a filter, a loop, a macro, ``set``) or pulling in a template whose name is
only known at render time could read any field: then the answer is None, and
every field is computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import jinja2
from jinja2 import nodes

from csm import textfile

_PULLS = (nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)


@dataclass(frozen=True)
class Reads:
    """What one template (or one part of it) reads itself, and the templates it pulls in by name."""

    fields: frozenset[str] = frozenset()
    templates: frozenset[str] = frozenset()

    def __or__(self, other: Reads) -> Reads:
        return Reads(self.fields | other.fields, self.templates | other.templates)


def reads(tree: nodes.Template) -> Reads | None:
    """The account fields ``tree`` reads and the templates it names; None if it may read any field."""
    templates: set[str] = set()
    for pull in tree.find_all(_PULLS):
        names = _constant_names(pull.template)
        if names is None:
            return None
        templates |= names
    fields: set[str] = set()
    reached = 0
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node.node, nodes.Name) and node.node.name == "account":
            reached += 1
            if isinstance(node, nodes.Getattr):
                fields.add(node.attr)
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                fields.add(node.arg.value)
            else:
                return None
    bare = sum(1 for n in tree.find_all(nodes.Name) if n.name == "account")
    return Reads(frozenset(fields), frozenset(templates)) if bare == reached else None


def _constant_names(expr: nodes.Expr) -> set[str] | None:
    """The template names a pull may load: a constant, or a list of them (the first found wins)."""
    parts = expr.items if isinstance(expr, nodes.List | nodes.Tuple) else [expr]
    if all(isinstance(p, nodes.Const) and isinstance(p.value, str) for p in parts):
        return {p.value for p in parts}
    return None


class FieldReads:
    """Follows what templates pull in, parsing each pulled-in template once."""

    def __init__(self, env: jinja2.Environment) -> None:
        self._env = env
        self._pulled: dict[str, Reads | None] = {}

    def account_fields(self, first: Reads | None) -> set[str] | None:
        """The fields ``first`` reads with every template it pulls in, at any depth (None: any)."""
        if first is None:
            return None
        fields = set(first.fields)
        seen: set[str] = set()
        todo = list(first.templates)
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            found = self._pulled_in(name)
            if found is None:
                return None
            fields |= found.fields
            todo.extend(found.templates)
        return fields

    def _pulled_in(self, name: str) -> Reads | None:
        if name not in self._pulled:
            self._pulled[name] = self._parse(name)
        return self._pulled[name]

    def _parse(self, name: str) -> Reads | None:
        """What template ``name`` reads, as an include loads it; None when it cannot be read or parsed.

        Rendering reports why; until then, any field may be needed.
        """
        assert self._env.loader is not None
        try:
            source, filename, _ = self._env.loader.get_source(self._env, name)
            return reads(self._env.parse(source, name, filename))
        except (jinja2.TemplateError, textfile.UnreadableFile, RecursionError, SyntaxError):
            return None

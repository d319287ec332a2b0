"""Strict YAML for playbooks, the health model and template front matter.

Safe loading only, plus what plain ``yaml.safe_load`` gets wrong for
hand-written config: duplicate keys are errors, ``yes``/``no``/``on``/``off``
and ``1:30`` stay strings (YAML 1.2 core schema, not 1.1), and every value
keeps the line and column it came from so errors can point at it.

Bounded, for files a person may get wrong or a stranger may craft: at most
``MAX_DEPTH`` levels of nesting and ``MAX_VALUES`` values, counting a value
repeated by an alias (``*name``) each time it appears, so an alias bomb
("billion laughs") stops at its first alias past the cap, not after expanding.
Callers bound the file's size (:mod:`csm.textfile`).

:class:`Checker` walks a loaded document for the files built on it (playbooks,
the health model): it collects every problem with its place instead of stopping
at the first, and checks and compiles the conditions they hold.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from csm.errors import Problem, did_you_mean
from csm.language.compiler import Condition, check_condition, check_value, compile_condition, compile_value
from csm.language.fields import FieldSet

Path_ = tuple[str | int, ...]

_INT = re.compile(r"^[-+]?[0-9]+$|^0o[0-7]+$|^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_SPECIAL_FLOATS = {".inf": float("inf"), "-.inf": float("-inf"), "+.inf": float("inf")}
MAX_DEPTH = 50
MAX_VALUES = 5_000  # the built-in files have a few hundred; PyYAML parses ~20k a second


_TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep"


class _TooMuch(yaml.composer.ComposerError):
    """Past MAX_DEPTH or MAX_VALUES."""


class _Bounds(yaml.composer.Composer):
    """The composer, refusing deep nesting and too many values while it composes."""

    def _start_counting(self) -> None:
        self._depth = 0
        self._values = 0
        self._sizes: dict[int, int] = {}  # id(node) -> values in it, to count what an alias repeats

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        mark = self.peek_event().start_mark
        alias = self.check_event(yaml.AliasEvent)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _TooMuch(None, None, _TOO_DEEP, mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if alias:
            self._values += self._sizes.get(id(node), 1)
        else:
            self._sizes[id(node)] = 1 + sum(self._sizes.get(id(child), 1) for child in _children(node))
            self._values += 1
        if self._values > MAX_VALUES:
            message = f"more than {MAX_VALUES:,} values (an alias, *name, repeating a large part?)"
            raise _TooMuch(None, None, message, mark)
        return node


class _BoundedLoader(_Bounds, yaml.SafeLoader):
    """The safe loader (PyYAML's own parser, in Python), within the bounds."""

    def __init__(self, stream: str) -> None:
        yaml.SafeLoader.__init__(self, stream)
        self._start_counting()

    def fetch_flow_collection_start(self, token_class: type) -> None:
        # Refused while scanning: the scanner looks far ahead inside deep [[[ or {{{ and slows.
        if self.flow_level >= MAX_DEPTH:
            raise _TooMuch(None, None, _TOO_DEEP, self.get_mark())
        super().fetch_flow_collection_start(token_class)


class _LibyamlLoader(_Bounds, yaml.cyaml.CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """libyaml's parser (C) under the same bounded composer: a tenth of the Python parser's time."""

    def __init__(self, stream: str) -> None:
        yaml.cyaml.CParser.__init__(self, stream)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self._start_counting()

    def compose_scalar_node(self, anchor: str | None) -> yaml.ScalarNode:
        node = super().compose_scalar_node(anchor)
        node.style = node.style or None  # a plain scalar's style: libyaml says '', PyYAML None
        if node.style is None and not node.value:
            raise _Unplaced  # a value left out (``key:``): libyaml may place it elsewhere
        return node


class _Unplaced(yaml.YAMLError):
    """An empty value, whose place PyYAML and libyaml may not agree on: parsed in Python."""


# Where libyaml takes what PyYAML refuses, found by random texts (tests/test_yamlfile.py keeps one of
# each): a tab, a tag ("!"), a "?" in a flow collection, a comment right after a block scalar's
# header (">#"). Text holding any of them is not given to libyaml.
_LENIENT = re.compile(r"[\t!?]|[|>][-+0-9]*#")


def libyaml_reads(text: str) -> bool:
    """Whether libyaml may parse ``text``: ASCII, and nothing it would take that PyYAML refuses."""
    return yaml.__with_libyaml__ and text.isascii() and _LENIENT.search(text) is None


def _compose(text: str) -> yaml.Node | None:
    """The document's node graph. Text :func:`libyaml_reads` goes through libyaml, which reads it
    as PyYAML does (tests/test_yamlfile.py holds the two equal); anything libyaml refuses, or
    may place elsewhere, is parsed again in Python, so every error is worded, and placed, as
    PyYAML words it."""
    if libyaml_reads(text):
        try:
            return yaml.compose(text, Loader=_LibyamlLoader)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=_BoundedLoader)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return node.value
    return []


@dataclass(frozen=True)
class Where:
    """A place in a YAML file, for an error."""

    line: int  # 1-based
    column: int  # 1-based


@dataclass
class Document:
    """A loaded YAML document: plain data plus where each part came from."""

    path: str
    text: str
    data: Any
    line_offset: int = 0
    values: dict[Path_, Where] = field(default_factory=dict)
    keys: dict[Path_, Where] = field(default_factory=dict)

    def where(self, path: Path_, *, key: bool = False) -> Where:
        """The position of the value (or its key) at ``path``, or the nearest parent."""
        table = self.keys if key else self.values
        while path:
            if path in table:
                return table[path]
            if key and path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), Where(1, 1))

    def problem(self, path: Path_, message: str, *, key: bool = False, offset: int = 0) -> Problem:
        where = self.where(path, key=key)
        lines = self.text.splitlines()
        index = where.line - 1 - self.line_offset
        source = lines[index] if 0 <= index < len(lines) else ""
        return Problem(self.path, where.line, where.column + offset, message, source)


class YamlSyntaxError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def load(text: str, path: str, *, line_offset: int = 0) -> Document:
    """Parse one YAML document; raise :class:`YamlSyntaxError` with its location."""
    doc = Document(path, text, None, line_offset)
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = "YAML" if isinstance(exc, _TooMuch) else "YAML syntax"
        line = (mark.line + 1 if mark else 1) + line_offset
        col = mark.column + 1 if mark else 1
        lines = text.splitlines()
        source = lines[line - 1 - line_offset] if mark and mark.line < len(lines) else ""
        raise YamlSyntaxError(Problem(path, line, col, f"{what}: {exc.problem or exc}", source)) from None
    if node is None:
        return doc
    doc.data = _convert(node, (), doc, line_offset)
    return doc


def _where(node: yaml.Node, line_offset: int) -> Where:
    return Where(node.start_mark.line + 1 + line_offset, node.start_mark.column + 1)


def _convert(node: yaml.Node, path: Path_, doc: Document, line_offset: int) -> Any:
    doc.values[path] = _where(node, line_offset)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlSyntaxError(doc.problem(path, "keys must be plain names"))
            key = key_node.value
            key_path = (*path, key)
            doc.keys[key_path] = _where(key_node, line_offset)
            if key in result:
                raise YamlSyntaxError(doc.problem(key_path, f"duplicate key '{key}'", key=True))
            result[key] = _convert(value_node, key_path, doc, line_offset)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), doc, line_offset) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.ScalarNode) -> Any:
    value = node.value
    if node.style is not None or node.tag == "tag:yaml.org,2002:str":
        return value  # quoted or block scalars are always text
    if value in ("", "~", "null", "Null", "NULL"):
        return None
    if value in ("true", "True", "TRUE"):
        return True
    if value in ("false", "False", "FALSE"):
        return False
    if _INT.match(value):
        return int(value, 0) if value.startswith(("0o", "0x")) else int(value)
    if _FLOAT.match(value):
        return float(value)
    if value.lower() in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[value.lower()]
    return value


class Checker:
    """Walks one document, collecting problems instead of stopping at the first."""

    def __init__(
        self,
        doc: Document,
        fields: FieldSet,
        held_roles: Callable[[], Collection[str]] = frozenset,
        internal_domains: Collection[str] = (),
    ) -> None:
        self.doc = doc
        self.fields = fields
        self.held_roles = held_roles  # read only when a step names a role outside the built-ins
        self.internal_domains = internal_domains  # our own mail domains, for internal copies
        self.problems: list[Problem] = []

    def add(self, path: tuple[Any, ...], message: str, *, key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, key=key))

    def table(self, value: Any, path: tuple[Any, ...], allowed: tuple[str, ...], what: str) -> dict:
        if not isinstance(value, dict):
            self.add(path, f"{what} must be a mapping of keys to values")
            return {}
        for key in value:
            if key not in allowed:
                hint = did_you_mean(key, allowed) or f" (allowed: {', '.join(allowed)})"
                self.add((*path, key), f"unknown key '{key}' in {what}{hint}", key=True)
        return value

    def text(self, table: dict, path: tuple[Any, ...], key: str, *, required: bool) -> str | None:
        value = table.get(key)
        if value is None:
            if required:
                self.add(path, f"missing required key '{key}'")
            return None
        if not isinstance(value, str) or not value.strip():
            self.add((*path, key), f"'{key}' must be non-empty text, got {value!r}")
            return None
        return value.strip()

    def choice(
        self, table: dict, path: tuple[Any, ...], key: str, choices: Iterable[str], default: str
    ) -> str:
        value = table.get(key, default)
        choices = tuple(choices)
        if value not in choices:
            self.add((*path, key), f"'{key}' must be one of {', '.join(choices)}, got {value!r}")
            return default
        return value

    def condition(
        self,
        table: dict,
        path: tuple[Any, ...],
        key: str,
        *,
        required: bool,
        prefix: str,
        value: bool = False,
    ) -> Condition | None:
        """The compiled condition at ``key`` (``value``: a number-valued expression)."""
        source = self.text(table, path, key, required=required)
        if source is None:
            return None
        errors = (check_value if value else check_condition)(source, self.fields)
        for error in errors:
            line, column = _locate(self.doc, (*path, key), source, error.offset)
            lines = self.doc.text.splitlines()
            self.problems.append(
                Problem(
                    self.doc.path,
                    line,
                    column,
                    error.message,
                    lines[line - 1] if line <= len(lines) else "",
                )
            )
        if errors:
            return None
        return (compile_value if value else compile_condition)(source, self.fields, prefix=prefix)


def _locate(doc: Document, path: tuple[Any, ...], source: str, offset: int) -> tuple[int, int]:
    """Map an offset inside a (possibly folded, multi-line) scalar to line and column."""
    where = doc.where(path)
    lines = doc.text.splitlines()
    first = lines[where.line - 1] if where.line <= len(lines) else ""
    rest = first[where.column - 1 :]
    if rest[:1] in (">", "|"):
        segments = []
        indent = None
        for number in range(where.line + 1, len(lines) + 1):
            raw = lines[number - 1]
            if not raw.strip():
                continue
            this_indent = len(raw) - len(raw.lstrip())
            indent = this_indent if indent is None else indent
            if this_indent < indent:
                break
            segments.append((number, this_indent + 1, raw.strip()))
    else:
        quote = 1 if rest[:1] in ("'", '"') else 0
        segments = [(where.line, where.column + quote, rest[quote:].rstrip().rstrip("'\""))]
        for number in range(where.line + 1, len(lines) + 1):
            raw = lines[number - 1]
            if not raw.strip() or (":" in raw.split("#")[0] and not raw.startswith(" " * where.column)):
                break
            segments.append((number, len(raw) - len(raw.lstrip()) + 1, raw.strip()))
    position = 0
    for number, column, text in segments:
        if offset <= position + len(text):
            return number, column + offset - position
        position += len(text) + 1
    return where.line, where.column

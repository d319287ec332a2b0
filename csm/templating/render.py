"""Email templates: Markdown with YAML front matter and sandboxed, strict Jinja.

A template file::

    ---
    subject: "{{ account.name }}: planning your renewal"
    cc: []            # optional, Jinja allowed in each address
    reply_to: null    # optional
    ---
    Hi {{ contact.first_name }}, ...

The body renders to Markdown (the text part); :func:`to_html` makes the HTML
part. Undefined names, values that render as None and sandbox violations are
:class:`TemplateError` problems with the template's file and line, never a
blank or "None" in a customer's inbox. Files whose name starts with ``_`` are
partials for ``{% include %}`` / ``{% extends %}``, not emails. Files are read
only from inside the templates folder and within the size cap of
:mod:`csm.textfile`; rendering is held to the limits of :mod:`csm.templating.limits`.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import jinja2
from jinja2.sandbox import SecurityError

from csm import textfile
from csm.errors import NotFound, Problem, TemplateError, did_you_mean
from csm.language import yamlfile
from csm.templating import content
from csm.templating.account_fields import FieldReads, Reads, reads
from csm.templating.files import SUFFIX, outside_links, template_names
from csm.templating.filters import FILTERS, FilterError
from csm.templating.limits import (
    INTERNAL_FILTERS,
    MAX_OUTPUT,
    BoundedSandbox,
    Budget,
    RenderLimit,
    guard_filter,
)
from csm.templating.source import Loader, OutsideTemplates, StandaloneTags, split_front_matter

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

FRONT_MATTER_KEYS = ("subject", "cc", "reply_to")
_QUOTE_HINT = ' (put text with Jinja in quotes: "{{ ... }}")'
_TOO_LONG = f"the template renders more than {MAX_OUTPUT:,} characters, more than an email holds"
_TOO_DEEP = (
    "blocks, brackets or macro calls nested too deeply (or a macro that calls itself without end);"
    " flatten the template"
)
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class RenderedEmail(NamedTuple):  # a tuple, not a dataclass: one a draft, tens of thousands a run
    subject: str
    body: str
    cc: tuple[str, ...]
    reply_to: str | None


class _EmptyValue(Exception):
    """A ``{{ ... }}`` expression rendered None."""


def _refuse_none(value: Any) -> Any:
    if value is None:
        raise _EmptyValue
    return value


class _Environment(BoundedSandbox):
    def getattr(self, obj: Any, attribute: str) -> Any:
        # Field names win over dict methods (an imported column may be called
        # "items"), and a missing field gets a did-you-mean.
        if type(obj) is dict or isinstance(obj, Mapping):  # a dict first: isinstance on an ABC is slow
            if attribute in obj:
                return obj[attribute]
            if not hasattr(obj, attribute):
                hint = f"no field '{attribute}' here{did_you_mean(attribute, obj)}"
                return self.undefined(hint=hint, obj=obj, name=attribute)
        return super().getattr(obj, attribute)


@dataclass(frozen=True)
class _Header:
    """A compiled front matter value and the file line it is on."""

    template: jinja2.Template
    line: int


@dataclass
class _Compiled:
    """A template's parts compiled, or the problems that stopped them."""

    problems: list[Problem]
    subject: _Header | None = None
    body: jinja2.Template | None = None
    cc: tuple[_Header, ...] = ()
    reply_to: _Header | None = None
    # The `account.X` names its parts read, and the templates they pull in; None: any field.
    reads: Reads | None = field(default_factory=Reads)


class Templates:
    """The templates of one workspace, each compiled once on first use."""

    def __init__(self, root: Path, content_root: Path | None = None) -> None:
        self.root = root
        # The guides live beside the templates: <workspace>/content.
        self.library = content.Library(content_root or root.parent / content.FOLDER)
        self._loader = Loader(root)
        self._env = _Environment(
            loader=self._loader,
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            extensions=[StandaloneTags],
            auto_reload=False,
            finalize=_refuse_none,
        )
        # Every filter but `default` (made for undefined values) and the sandbox's own.
        lenient = {"default", "d", *INTERNAL_FILTERS}
        filters = {**self._env.filters, **FILTERS}
        self._env.filters.update({k: f if k in lenient else guard_filter(k, f) for k, f in filters.items()})
        content.install(self._env, self.library)
        self._cache: dict[str, _Compiled] = {}
        self._field_reads = FieldReads(self._env)

    def names(self) -> list[str]:
        """Every email template, as a posix path relative to the root."""
        return template_names(self.root)

    def exists(self, name: str) -> bool:
        return name in self.names()

    def render(self, name: str, context: dict[str, Any]) -> RenderedEmail:
        compiled = self._compiled(name)
        if compiled.problems:
            raise TemplateError(compiled.problems)
        with Budget():
            return self._render(name, compiled, context)

    def _render(self, name: str, compiled: _Compiled, context: dict[str, Any]) -> RenderedEmail:
        assert compiled.subject is not None and compiled.body is not None
        # The names every part sees, the globals under the context, merged once for all of them
        # (as Jinja merges them for each render it is not told they are shared).
        names = {**compiled.body.globals, **context}
        subject = self._header(name, compiled.subject, "subject", context, names)
        if not subject:
            line = compiled.subject.line
            raise TemplateError([self._problem(name, line, "the subject renders empty")])
        body = self._run(compiled.body, context, names).strip("\n")
        if not body.strip():
            raise TemplateError([self._problem(name, 1, "the body renders empty")])
        cc = tuple(
            address for part in compiled.cc if (address := self._header(name, part, "cc", context, names))
        )
        reply_to = None
        if compiled.reply_to is not None:
            reply_to = self._header(name, compiled.reply_to, "reply_to", context, names) or None
        return RenderedEmail(subject, body + "\n", cc, reply_to)

    def check(self, name: str, context: dict[str, Any]) -> list[Problem]:
        """Every problem found compiling the template and rendering it with ``context``."""
        compiled = self._compiled(name)
        if compiled.problems:
            return list(compiled.problems)
        try:
            self.render(name, context)
        except TemplateError as exc:
            return exc.problems
        return []

    def outside_links(self) -> list[Problem]:
        """A problem for each link in the folder that leads outside it (never read)."""
        message = "a link to outside the templates folder; csm reads templates only from inside it"
        return [Problem(self._display(name), 1, 1, message) for name in outside_links(self.root)]

    def _display(self, name: str) -> str:
        return f"{self.root.name}/{name}"

    def _problem(self, name: str, line: int, message: str, needle: str = "") -> Problem:
        try:
            text, _ = self._loader.get_raw(name)
        except (jinja2.TemplateNotFound, textfile.UnreadableFile):
            text = ""
        lines = text.splitlines()
        source = lines[line - 1] if 0 < line <= len(lines) else ""
        found = re.search(rf"\b{re.escape(needle)}\b", source) if needle else None
        column = found.start() + 1 if found else len(source) - len(source.lstrip()) + 1
        return Problem(self._display(name), line, column, message, source)

    def _compiled(self, name: str) -> _Compiled:
        if name not in self._cache:
            self._cache[name] = self._compile(name)
        return self._cache[name]

    def _compile(self, name: str) -> _Compiled:
        try:
            text, filename = self._loader.get_raw(name)
        except OutsideTemplates as exc:
            return _Compiled([Problem(self._display(name), 1, 1, exc.message or "")])
        except textfile.UnreadableFile as exc:
            return _Compiled([exc.problem])
        except jinja2.TemplateNotFound:
            raise NotFound(f"no template '{name}' in {self.root}{did_you_mean(name, self.names())}") from None
        front, closing_line, masked = split_front_matter(text)
        if front is None:
            return _Compiled(
                [self._problem(name, 1, "no front matter: start with '---', 'subject: ...', '---'")]
            )
        if not closing_line:
            return _Compiled([self._problem(name, 1, "front matter has no closing '---' line")])
        compiled = _Compiled([])
        self._front_matter(name, filename, front, compiled)
        compiled.body = self._template(name, filename, masked, compiled)
        return compiled

    def _front_matter(self, name: str, filename: str, front: str, out: _Compiled) -> None:
        try:
            # The leading line stands for the opening '---' so YAML lines are file lines.
            doc = yamlfile.load("\n" + front, self._display(name))
        except yamlfile.YamlSyntaxError as exc:
            problem = exc.problem
            if "{{" in problem.source_line or "{%" in problem.source_line:
                problem = replace(problem, message=problem.message + _QUOTE_HINT)
            out.problems.append(problem)
            return
        data = doc.data if doc.data is not None else {}
        if not isinstance(data, dict):
            out.problems.append(doc.problem((), "front matter must be 'key: value' lines"))
            return
        for key in data:
            if key not in FRONT_MATTER_KEYS:
                message = f"unknown front matter key '{key}'{did_you_mean(key, FRONT_MATTER_KEYS)}"
                out.problems.append(doc.problem((key,), message, key=True))

        def compile_text(path: yamlfile.Path_, what: str) -> _Header | None:
            value = data
            for part in path:
                value = value[part]
            if not isinstance(value, str):
                out.problems.append(doc.problem(path, f"{what} must be text{_QUOTE_HINT}"))
                return None
            line = doc.where(path).line
            source = "{#" + "\n" * (line - 1) + "#}" + value
            template = self._template(name, filename, source, out)
            return _Header(template, line) if template else None

        if "subject" not in data:
            out.problems.append(doc.problem((), "missing 'subject'"))
        else:
            out.subject = compile_text(("subject",), "subject")
        cc = data.get("cc") or []
        if not isinstance(cc, list):
            out.problems.append(doc.problem(("cc",), "cc must be a list of addresses"))
            cc = []
        out.cc = tuple(part for i in range(len(cc)) if (part := compile_text(("cc", i), "each cc address")))
        if data.get("reply_to") is not None:
            out.reply_to = compile_text(("reply_to",), "reply_to")

    def account_fields(self, name: str) -> set[str] | None:
        """The account fields template ``name`` reads (None: it may read any), for drafting only those."""
        return self._field_reads.account_fields(self._compiled(name).reads)

    def _template(self, name: str, filename: str, source: str, out: _Compiled) -> jinja2.Template | None:
        try:
            tree = self._env.parse(source, name, filename)
            code = self._env.compile(tree, name, filename)
        except jinja2.TemplateSyntaxError as exc:
            out.problems.append(self._problem(name, exc.lineno, f"Jinja syntax: {exc.message}"))
            return None
        except (RecursionError, SyntaxError):  # Python's own limits on nesting, met compiling
            out.problems.append(self._problem(name, 1, _TOO_DEEP))
            return None
        for line, message, key in content.static_problems(self.library, tree):
            out.problems.append(self._problem(name, line, message, key))
        used = reads(tree)
        out.reads = None if used is None or out.reads is None else out.reads | used
        # A plain dict, not make_globals()'s ChainMap: every render copies the globals, and
        # copying a ChainMap runs in Python (a third of a short template's render time).
        return self._env.template_class.from_code(self._env, code, dict(self._env.make_globals(None)))

    def _run(self, template: jinja2.Template, context: dict[str, Any], names: dict[str, Any]) -> str:
        """The rendered text, streamed so that it stops at the output cap (``names``: the context
        over the globals, which the render reads and never changes: its own names are its own)."""
        parts: list[str] = []
        size = 0
        try:
            try:
                stream = template.root_render_func(template.new_context(names, shared=True))
                for part in stream:
                    size += len(part)
                    if size > MAX_OUTPUT:  # raised inside the template, so its line is known
                        stream.throw(RenderLimit(_TOO_LONG))
                    parts.append(part)
            except Exception:
                self._env.handle_exception()  # raises it again, its traceback in template lines
        except Exception as exc:
            problem = self._runtime_problem(exc, context)
            if problem is None:
                raise
            raise TemplateError([problem]) from None
        return "".join(parts)

    def _runtime_problem(self, exc: Exception, context: dict[str, Any]) -> Problem | None:
        if isinstance(exc, jinja2.TemplateSyntaxError) and exc.name:
            return self._problem(exc.name, exc.lineno, f"Jinja syntax: {exc.message}")
        if isinstance(exc, textfile.UnreadableFile):
            return exc.problem
        where = self._where(exc)
        if where is None:
            return None
        name, line = where
        needle = ""
        if isinstance(exc, SecurityError):
            message = f"not allowed in a template: {exc}"
        elif isinstance(exc, RenderLimit):
            message = str(exc)
        elif isinstance(exc, RecursionError | SyntaxError):
            message = _TOO_DEEP
        elif isinstance(exc, jinja2.UndefinedError):
            message = str(exc)
            if match := re.fullmatch(r"'(\w+)' is undefined", message):
                needle = match.group(1)
                message += did_you_mean(needle, context)
            elif match := re.match(r"no field '(\w+)'", message):
                needle = match.group(1)
            message += "; a field that may be missing needs {% if ... is defined %}"
        elif isinstance(exc, _EmptyValue):
            message = (
                "a value here is empty (None) for this account; guard it with"
                " {% if ... is not none %} so the email reads well without it"
            )
        elif isinstance(exc, FilterError):
            message = str(exc)
        elif isinstance(exc, OutsideTemplates):
            message = exc.message or ""
        elif isinstance(exc, jinja2.TemplateNotFound):
            message = f"included template '{exc.name}' not found"
        else:
            message = f"{type(exc).__name__}: {exc}"
        return self._problem(name, line, message, needle)

    def _where(self, exc: BaseException) -> tuple[str, int] | None:
        """The template and line of the innermost template frame in the traceback."""
        base = self._loader.root
        found = None
        tb = exc.__traceback__
        while tb is not None:
            relative = os.path.relpath(tb.tb_frame.f_code.co_filename, base)
            if relative.endswith(SUFFIX) and not relative.startswith(".."):
                found = (Path(relative).as_posix(), tb.tb_lineno)
            tb = tb.tb_next
        return found

    def _header(
        self, name: str, part: _Header, what: str, context: dict[str, Any], names: dict[str, Any]
    ) -> str:
        """A rendered subject, cc or reply_to: one line, and an address where one is due."""
        value = self._run(part.template, context, names).strip()
        if _HEADER_UNSAFE.search(value):
            message = (
                f"the {what} renders with a line break or control character"
                f" ({value!r}); check the account data it uses"
            )
            raise TemplateError([self._problem(name, part.line, message)])
        if what != "subject" and value and "@" not in value:
            message = f"{what} renders as {value!r}, not an email address"
            raise TemplateError([self._problem(name, part.line, message)])
        return value


_HTML_PAGE = """\
<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
</head>
<body style="margin:0;padding:0;background:#ffffff;">
<div style="max-width:600px;margin:0;padding:16px;font-family:Arial,Helvetica,sans-serif;\
font-size:15px;line-height:1.5;color:#222222;">
{content}</div>
</body>
</html>
"""


@functools.cache
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt  # only sending and previews build HTML

    # breaks: a line break in the body (sign-off, signature) stays a line break.
    return MarkdownIt("commonmark", {"html": False, "breaks": True})


def to_html(body: str) -> str:
    """The HTML part: the Markdown body, with any HTML in it (account data too) escaped."""
    return _HTML_PAGE.format(content=_markdown().render(body))

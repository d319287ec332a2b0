"""What one render may cost, so that a slip (or a hostile template) cannot hang or flood a run.

Templates are user files, rendered once per matching account. One render (the
subject, body and headers of one email) is held to:

- ``MAX_OUTPUT`` characters of output: the renderer streams the text and
  stops at the cap. No single value (a text or a list) may be longer either.
- ``MAX_TEXT`` characters of text built on the way, counted where text is
  made (filters, calls, ``*``, ``+``, ``~``, the text a macro or a
  ``{% set %}`` block captures), so text kept out of the output (a macro
  called in a loop) cannot fill the memory either.
- ``MAX_STEPS`` steps, a step being one round of a ``{% for %}`` loop, one call
  (a macro, a method), one filter or one ``*``, ``**``, ``+``. Counted inside
  the sandbox, so an empty loop over a list stops as surely as one that prints.
- ``MAX_SECONDS``: the steps look at the clock, so slow steps (a filter
  working through a long text) stop the render soon after.
- Whole numbers of at most ``MAX_INT_BITS`` bits.

Sizes are checked before an operation builds its result, as one operation runs
in C, where nothing can stop it: ``*``, ``+`` and ``~`` by their operands; a
filter or a text method by a whole-number argument past ``MAX_OUTPUT`` (a
width, a count) and by its text times the length of a text or list argument
past ``MAX_TEXT`` (``join``, ``replace``, ``wordwrap``'s wrapstring); ``%``,
``format`` and ``str.format`` by the widths and precisions in the format.

Counting rather than a SIGALRM timer: a timer works only on the main thread,
takes a signal the program may use itself, interrupts whatever system call
runs when it fires, and costs two system calls per render; it would stop
nothing the steps do not, as the size checks keep any one step short.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jinja2 import Undefined, nodes
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

MAX_OUTPUT = 100_000  # characters; an email is a few thousand
MAX_TEXT = 1_000_000
MAX_STEPS = 10_000  # an email template takes a few dozen
MAX_SECONDS = 0.5
MAX_INT_BITS = 10_000

_TOO_BIG = f"this builds a text or list of more than {MAX_OUTPUT:,} items, more than an email holds"
_TOO_WIDE = f"a width, precision or count of {MAX_OUTPUT:,} or more builds more text than an email holds"
_TOO_MANY = (
    f"this could build more than {MAX_TEXT:,} characters in one step"
    " (a long text joined or put in many times)"
)
# A width or precision of six digits or more, or one taken from the arguments: %-formats
# (%0999999d, %*d, %.999999f) and str.format specs ({:>999999}, {:{}}).
_WIDE_FORMAT = re.compile(
    r"%(?:\([^)]*\))?[-#0 +]*(?:\d{6}|\*|\d*\.(?:\d{6}|\*))"
    r"|\{[^{}]*:[^{}]*(?:\d{6}|\{)"
)
# Filters whose arguments are values to show, not widths or counts.
_VALUE_ARGUMENTS = frozenset({"format", "sum"})


class RenderLimit(Exception):
    """A render went past one of the limits; the message says which and what to do."""


class _State(threading.local):
    budget: Budget | None = None  # None: this thread is not rendering


class Budget:
    """The limits of one render: ``with Budget(): ...``."""

    __slots__ = ("deadline", "steps", "text")

    def __enter__(self) -> None:
        self.steps = MAX_STEPS
        self.text = MAX_TEXT
        self.deadline = time.monotonic() + MAX_SECONDS
        _state.budget = self

    def __exit__(self, *exc_info: object) -> None:
        _state.budget = None


_state = _State()


def tick(text: int = 0) -> None:
    """Count one step of the current render, which built ``text`` characters; every 8th looks at the clock."""
    budget = _state.budget
    if budget is None:
        return
    budget.text -= text
    if budget.text < 0:
        raise RenderLimit(f"the template builds more than {MAX_TEXT:,} characters of text for one email")
    budget.steps -= 1
    if budget.steps & 7:
        return
    if budget.steps < 0:
        raise RenderLimit(
            f"the template loops or calls more than {MAX_STEPS:,} times for one email; make it do less"
        )
    if time.monotonic() > budget.deadline:
        raise RenderLimit(
            f"the template takes more than {MAX_SECONDS:g} s to render one email; make it do less"
        )


def made(result: Any) -> Any:
    """Count a step that made ``result``; a text counts its length."""
    tick(len(result) if isinstance(result, str) else 0)
    return result


def _refuse_wide(arguments: Iterable[Any]) -> None:
    for argument in arguments:
        if _whole(argument) and argument >= MAX_OUTPUT:
            raise RenderLimit(_TOO_WIDE)


def _refuse_wide_format(text: Any) -> None:
    if isinstance(text, str) and _WIDE_FORMAT.search(text):
        raise RenderLimit(_TOO_WIDE)


def guard_filter(name: str, filter_: Callable[..., Any]) -> Callable[..., Any]:
    """The filter, failing on an undefined value as ``{{ ... }}`` does, within the limits.

    An undefined argument raises its own error, with its did-you-mean, instead of
    reaching the filter (which would report "got Undefined").
    """
    value_at = 1 if hasattr(filter_, "jinja_pass_arg") else 0  # context or environment first
    values_only = name in _VALUE_ARGUMENTS

    @functools.wraps(filter_)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if kwargs or len(args) > value_at + 1:
            value = _checked(args[value_at], (*args[value_at + 1 :], *kwargs.values()), values_only)
            args = (*args[:value_at], value, *args[value_at + 1 :])
        elif isinstance(args[value_at], Undefined):  # the usual case, kept quick: the value alone
            args[value_at]._fail_with_undefined_error()
        return made(filter_(*args, **kwargs))

    return guarded


def _checked(value: Any, arguments: tuple[Any, ...], values_only: bool) -> Any:
    """The filter's value, its arguments checked; a lazy sequence becomes a list, so it has a length."""
    for argument in (value, *arguments):
        if isinstance(argument, Undefined):
            argument._fail_with_undefined_error()
    if values_only:
        _refuse_wide_format(value)
        return value
    _refuse_wide(arguments)
    if isinstance(value, Iterator):  # map(...) | join(", ")
        value = list(value)
    _refuse_multiplied(value, arguments)
    return value


def _refuse_multiplied(value: Any, arguments: Iterable[Any]) -> None:
    """Refuse a text or list ``value`` combined with a long text or list argument (join, replace)."""
    if _sized(value):
        for argument in arguments:
            if _sized(argument) and len(value) * len(argument) > MAX_TEXT:
                raise RenderLimit(_TOO_MANY)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _sized(value: Any) -> bool:
    return isinstance(value, str | list | tuple | range)


def _result_size(operator: str, left: Any, right: Any) -> int:
    """How long the text or list ``left operator right`` would be (0: a number); refused past a cap."""
    size = 0
    if _whole(left) and _whole(right):
        if operator == "**" and right > 0 and abs(left) > 1:
            bits = left.bit_length() * right
        else:
            bits = left.bit_length() + right.bit_length()
        if bits > MAX_INT_BITS:
            raise RenderLimit(f"this makes a number of more than {MAX_INT_BITS:,} bits")
    elif operator == "*":
        for sequence, times in ((left, right), (right, left)):
            if _sized(sequence) and _whole(times):
                size = len(sequence) * max(times, 0)
    elif operator == "+" and _sized(left) and _sized(right):
        size = len(left) + len(right)
    elif operator == "%":
        _refuse_wide_format(left)
    if size > MAX_OUTPUT:
        raise RenderLimit(_TOO_BIG)
    return size


def _counted(items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        tick()
        yield item


def _joined(parts: list[Any]) -> str:
    texts = [str(part) for part in parts]
    size = sum(map(len, texts))
    if size > MAX_OUTPUT:
        raise RenderLimit(_TOO_BIG)
    tick(size)
    return "".join(texts)


# Filters, not calls: Jinja calls a filter directly, a call goes through the sandbox's checks.
INTERNAL_FILTERS = {"_counted": _counted, "_joined": _joined}


def _filtered(name: str, value: nodes.Expr) -> nodes.Filter:
    return nodes.Filter(value, name, [], [], None, None, lineno=value.lineno)


class _Counting(NodeTransformer):
    """Every for loop iterates through ``_counted``; every ``~`` joins through ``_joined``."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _filtered("_counted", node.iter)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _filtered("_joined", nodes.List(node.nodes, lineno=node.lineno))


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with the limits above."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filters.update(INTERNAL_FILTERS)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Every template, included and extended ones too, is parsed here before it is compiled.
        tree = _Counting().visit(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree

    def concat(self, parts: Iterable[str]) -> str:  # type: ignore[override]
        """The text a macro, a block or ``{% set %}`` captured, counted (Jinja joins it here)."""
        texts = list(parts)
        tick(sum(map(len, texts)))
        return "".join(texts)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        tick(_result_size(operator, left, right))
        return super().call_binop(context, operator, left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        text = getattr(obj, "__self__", None)
        if isinstance(text, str):  # "x".center(n), ", ".join(items), "x".replace("", y), ...
            _refuse_wide((*args, *kwargs.values()))
            _refuse_multiplied(text, (*args, *kwargs.values()))
        return made(super().call(context, obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _refuse_wide_format(value.__self__)
        return wrapped

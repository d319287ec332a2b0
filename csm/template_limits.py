"""What one render may cost, so that a slip (or a hostile template) cannot hang or flood a run.

Templates are user files, rendered once per matching account. One render (the
subject, body and headers of one email) is held to:

- ``MAX_OUTPUT`` characters: the renderer streams the text and stops at the cap.
- ``MAX_STEPS`` steps, a step being one round of a ``{% for %}`` loop, one call
  (a macro, a method) or one filter. Counted inside the sandbox, so an empty
  loop over a list stops as surely as one that prints.
- ``MAX_SECONDS``: the steps look at the clock, so slow steps (a filter
  working through a long text) stop the render soon after.
- Values: ``*``, ``**``, ``+`` and ``~`` refuse to build a text or list longer
  than ``MAX_OUTPUT``, or a whole number of more than ``MAX_INT_BITS`` bits,
  before building it: one such operation runs in C, where nothing can stop it.

Counting rather than a SIGALRM timer: a timer works only on the main thread,
takes a signal the program may use itself, interrupts whatever system call is
running when it fires, and costs two system calls per render; it would stop
nothing the steps do not, as the value caps keep any one step short.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from jinja2 import nodes
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

MAX_OUTPUT = 100_000  # characters; an email is a few thousand
MAX_STEPS = 10_000  # an email template takes a few dozen
MAX_SECONDS = 0.5
MAX_INT_BITS = 10_000

_TOO_BIG = f"this builds a text or list of more than {MAX_OUTPUT:,} items, more than an email holds"


class RenderLimit(Exception):
    """A render went past one of the limits; the message says which and what to do."""


class _State(threading.local):
    budget: Budget | None = None  # None: this thread is not rendering


class Budget:
    """The limits of one render: ``with Budget(): ...``."""

    __slots__ = ("deadline", "steps")

    def __enter__(self) -> None:
        self.steps = MAX_STEPS
        self.deadline = time.monotonic() + MAX_SECONDS
        _state.budget = self

    def __exit__(self, *exc_info: object) -> None:
        _state.budget = None


_state = _State()


def tick() -> None:
    """Count one step of the current render; every 8th looks at the limits."""
    budget = _state.budget
    if budget is None:
        return
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


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _sized(value: Any) -> bool:
    return isinstance(value, str | list | tuple)


def check_operands(operator: str, left: Any, right: Any) -> None:
    """Refuse ``left operator right`` if its result would pass a limit (before computing it)."""
    if _whole(left) and _whole(right):
        if operator == "**" and right > 0 and abs(left) > 1:
            bits = left.bit_length() * right
        else:
            bits = left.bit_length() + right.bit_length()
        if bits > MAX_INT_BITS:
            raise RenderLimit(f"this makes a number of more than {MAX_INT_BITS:,} bits")
    elif operator == "*":
        for sequence, times in ((left, right), (right, left)):
            if _sized(sequence) and _whole(times) and len(sequence) * times > MAX_OUTPUT:
                raise RenderLimit(_TOO_BIG)
    elif operator == "+" and _sized(left) and _sized(right) and len(left) + len(right) > MAX_OUTPUT:
        raise RenderLimit(_TOO_BIG)


def _counted(items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        tick()
        yield item


def _joined(parts: list[Any]) -> str:
    texts = [str(part) for part in parts]
    if sum(map(len, texts)) > MAX_OUTPUT:
        raise RenderLimit(_TOO_BIG)
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

    intercepted_binops = frozenset({"*", "**", "+"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filters.update(INTERNAL_FILTERS)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Every template, included and extended ones too, is parsed here before it is compiled.
        tree = _Counting().visit(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_operands(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        tick()
        return super().call(context, obj, *args, **kwargs)

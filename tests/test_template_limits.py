"""What one render may cost: output, steps, time and value sizes, each a problem with its line.

Only cases that stay quick even without the limits are here; the ones that
would hang without them run as subprocesses in test_cli_limits.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from csm.language.fields import standard_fields
from csm.templating import limits as template_limits
from csm.templating.render import Templates
from csm.templating.sample import sample_context

HEAD = "---\nsubject: s\n---\n"


def _problems(tmp_path: Path, body: str) -> list[str]:
    root = tmp_path / "templates"
    root.mkdir(exist_ok=True)
    (root / "t.md.j2").write_text(HEAD + body, encoding="utf-8")
    templates = Templates(root)
    return [str(p).splitlines()[0] for p in templates.check("t.md.j2", sample_context(standard_fields()))]


def _body(tmp_path: Path, body: str) -> str:
    root = tmp_path / "templates"
    root.mkdir(exist_ok=True)
    (root / "t.md.j2").write_text(HEAD + body, encoding="utf-8")
    return Templates(root).render("t.md.j2", sample_context(standard_fields())).body


TOO_BIG = "this builds a text or list of more than 100,000 items, more than an email holds"
TOO_MUCH_TEXT = "the template builds more than 1,000,000 characters of text for one email"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            'Hi\n{% for i in range(30) %}\n{{ "x" * 9000 }}\n{% endfor %}\n',
            "6:1: the template renders more than 100,000 characters, more than an email holds",
        ),
        ('Hi\n{{ "ab" * 60000 }}\n', f"5:1: {TOO_BIG}"),
        ('Hi\n{{ 60000 * ["ab", "cd"] }}\n', f"5:1: {TOO_BIG}"),
        ('Hi\n{% set s = "x" * 60000 %}{{ s ~ s }}\n', f"5:1: {TOO_BIG}"),
        ('Hi\n{% set s = "x" * 60000 %}{{ s + s }}\n', f"5:1: {TOO_BIG}"),
        (
            'Hi\n{% set ns = namespace(s="x") %}'
            "{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}\n",
            f"5:1: {TOO_BIG}",
        ),
        ("Hi\n{{ 2 ** 20000 }}\n", "5:1: this makes a number of more than 10,000 bits"),
        (
            'Hi\n{% set x %}{% for i in range(20) %}{{ "x" * 60000 }}{% endfor %}{% endset %}'
            "{{ x | length }}\n",
            f"5:1: {TOO_MUCH_TEXT}",
        ),
        (
            "Hi\n{% macro m() %}{% for i in range(20) %}{{ account.name | center(60000) }}{% endfor %}"
            "{% endmacro %}{% for i in range(3) %}{{ m() | length }}{% endfor %}\n",
            f"5:1: {TOO_MUCH_TEXT}",
        ),
        (
            "Hi\n{% for i in range(200) %}{% for j in range(200) %}{% endfor %}{% endfor %}\n",
            "5:1: the template loops or calls more than 10,000 times for one email; make it do less",
        ),
        (
            "Hi\n{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
            "{{ f(16) }}\n",
            "5:1: the template loops or calls more than 10,000 times for one email; make it do less",
        ),
        (
            "Hi\n{% for i in range(20000) %}{{ i | string | length }}{% endfor %}\n",
            "5:1: the template loops or calls more than 10,000 times for one email; make it do less",
        ),
    ],
    ids=[
        "output",
        "text times a number",
        "number times a list",
        "tilde",
        "plus",
        "doubling in a loop",
        "power",
        "text a block captures",
        "text macros make",
        "nested loops",
        "macro calls",
        "filters",
    ],
)
def test_a_render_past_a_limit_is_a_problem_on_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, expected: str
) -> None:
    monkeypatch.setattr(template_limits, "MAX_SECONDS", 60.0)  # on a busy machine too, the limit meant
    assert _problems(tmp_path, body) == [f"templates/t.md.j2:{expected}"]


@pytest.mark.parametrize(
    "expression",
    [
        '"x" | center(100000)',
        "5 | number(1000000000)",
        '"x".center(1000000000)',
        '"x".zfill(999999)',
        '"%0999999999d" % 1',
        '"%*d" % (999999999, 1)',
        '"%.999999f" % 1',
        '"%(n)999999s" % {"n": 1}',
        '"{:{}}".format(1, 999999999)',
        '"{:>999999999}".format(1)',
        '"%999999999s" | format(1)',
    ],
)
def test_a_width_or_count_past_the_cap_is_refused_before_it_is_built(tmp_path: Path, expression: str) -> None:
    assert _problems(tmp_path, f"Hi\n{{{{ {expression} }}}}\n") == [
        "templates/t.md.j2:5:1: a width, precision or count of 100,000 or more"
        " builds more text than an email holds"
    ]


@pytest.mark.parametrize(
    "expression",
    [
        '("x" * 99999) | replace("", "y" * 99999)',
        'range(100000) | join("y" * 99999)',
        '("x " * 49999) | wordwrap(1, wrapstring="y" * 99999)',
        '("a" ~ "\\n" * 49999) | indent("y" * 99999)',
        '("x" * 99999).replace("", "y" * 99999)',
        '("y" * 99999).join(["a", "b"] * 50000)',
    ],
)
def test_a_long_text_put_in_many_times_is_refused_before_it_is_built(tmp_path: Path, expression: str) -> None:
    assert _problems(tmp_path, f"Hi\n{{{{ {expression} | length }}}}\n") == [
        "templates/t.md.j2:5:1: this could build more than 1,000,000 characters in one step"
        " (a long text joined or put in many times)"
    ]


def test_large_numbers_as_values_are_fine(tmp_path: Path) -> None:
    body = (
        '{{ "%s: %d seats, %.1f%%" % (account.name, 5000000, 0.5) }} {{ "{:,}".format(5000000) }}'
        ' {{ "%s" | format(5000000) }} {{ [5000000, 1] | sum }} {{ 5000000 % 7 }} {{ 5000000 | number }}\n'
    )
    assert _body(tmp_path, body) == "Acme Corp: 5000000 seats, 0.5% 5,000,000 5000000 5000001 5 5,000,000\n"
    body = (
        '{{ ["a", "b"] | join(", ") }} {{ "a-b" | replace("-", " and ") }} {{ ", ".join(["x", "y"]) }}'
        ' {{ range(3) | map("string") | join("/") }} {{ "a b" | wordwrap(1, wrapstring="|") }}\n'
    )
    assert _body(tmp_path, body) == "a, b a and b x, y 0/1/2 a|b\n"


def test_a_render_past_the_time_budget_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(template_limits, "MAX_SECONDS", 0.0)
    assert _problems(tmp_path, "Hi\n{% for i in range(100) %}{{ i }}{% endfor %}\n") == [
        "templates/t.md.j2:5:1: the template takes more than 0 s to render one email; make it do less"
    ]


def test_within_the_limits_loops_and_operators_work_as_in_jinja(tmp_path: Path) -> None:
    body = (
        "{% for x in [3, 1, 2] | sort %}{{ x }}{{ ',' if not loop.last }}{% endfor %}"
        " {% for x in [] %}never{% else %}empty{% endfor %}"
        " {% for x in 'abc' %}{{ loop.index }}/{{ loop.length }}{{ loop.cycle('-', '+') }}{% endfor %}"
        " {% for k, v in {'b': 2, 'a': 1} | dictsort %}{{ k ~ '=' ~ v }} {% endfor %}"
        "{% for n in [[1, [2]], 3] recursive %}"
        "{% if n is iterable %}{{ loop(n) }}{% else %}{{ n }}{% endif %}{% endfor %}"
        " {{ account.name ~ '!' }} {{ 'ab' * 3 }} {{ [1] + [2] }} {{ 2 ** 10 }} {{ account.arr * 12 }}\n"
    )
    assert _body(tmp_path, body) == (
        "1,2,3 empty 1/3-2/3+3/3- a=1 b=2 123 Acme Corp! ababab [1, 2] 1024 504\n"
    )

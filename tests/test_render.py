"""Email templates: front matter, strict sandboxed Jinja, filters, HTML, goldens."""

from __future__ import annotations

import datetime as dt
import os
import textwrap
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csm.builtins import builtin_dir
from csm.errors import NotFound, TemplateError
from csm.language.fields import standard_fields
from csm.templating import filters
from csm.templating.render import RenderedEmail, Templates, to_html
from csm.templating.sample import SAMPLE_CSM, sample_context

GOLDEN = Path(__file__).parent / "golden"
TODAY = dt.date(2026, 11, 23)


def build(tmp_path: Path, files: dict[str, str]) -> Templates:
    """Write dedented template files under tmp_path/templates."""
    root = tmp_path / "templates"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return Templates(root)


def context(**account: Any) -> dict[str, Any]:
    ctx = sample_context(standard_fields())
    ctx["account"].update(account)
    return ctx


def problems(templates: Templates, name: str, ctx: dict[str, Any] | None = None) -> list[str]:
    return [str(p).splitlines()[0] for p in templates.check(name, ctx or context())]


SIMPLE = """
    ---
    subject: "{{ account.name }}: hello"
    ---
    Hi {{ contact.first_name }},

    {{ account.name }} has {{ account.seats_used | number }} seats in use.
    """


# --- filters ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "args", "expected"),
    [
        ("date", "2027-03-14", (), "14 March 2027"),
        ("date", dt.date(2027, 3, 4), (), "4 March 2027"),
        ("date", "2027-03-14T09:30:00Z", (), "14 March 2027"),
        ("date", "2027-03-14", ("%d/%m/%Y",), "14/03/2027"),
        ("money", 48000, (), "$48,000"),
        ("money", 48000.0, (), "$48,000"),
        ("money", 1234.5, (), "$1,234.50"),
        ("money", -1200, (), "-$1,200"),
        ("money", 48000, ("€",), "€48,000"),
        ("money", "48000", (), "$48,000"),
        ("pct", 0.823, (), "82%"),
        ("pct", 0.823, (1,), "82.3%"),
        ("pct", -0.2, (), "-20%"),
        ("pct", 1, (), "100%"),
        ("number", 12345, (), "12,345"),
        ("number", 37.8333, (), "38"),
        ("number", 1234.567, (2,), "1,234.57"),
        ("days", 1, (), "1 day"),
        ("days", -3, (), "3 days"),
        ("days", 0, (), "0 days"),
        ("days", 111.0, (), "111 days"),
        ("first_name", "Priya Shah", (), "Priya"),
        ("first_name", "Shah, Priya", (), "Priya"),
        ("first_name", "priya.shah@northwind.example", (), "Priya"),
        ("first_name", "  Cher ", (), "Cher"),
    ],
)
def test_filters(name: str, value: Any, args: tuple[Any, ...], expected: str) -> None:
    assert filters.FILTERS[name](value, *args) == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("date", None, "date: the value is empty (None)"),
        ("date", "next week", "date: expected a date like 2027-03-14, got 'next week'"),
        ("date", 20270314, "date: expected a date like 2027-03-14, got 20270314"),
        ("money", None, "money: the value is empty (None)"),
        ("money", "lots", "money: expected a number, got 'lots'"),
        ("money", True, "money: expected a number, got True"),
        ("pct", float("nan"), "pct: expected a finite number"),
        ("number", [1], "number: expected a number, got [1]"),
        ("days", None, "days: the value is empty (None)"),
        ("first_name", "", "first_name: expected a person's name, got ''"),
        ("first_name", None, "first_name: the value is empty (None)"),
    ],
)
def test_filters_refuse_empty_and_garbage(name: str, value: Any, message: str) -> None:
    with pytest.raises(filters.FilterError) as caught:
        filters.FILTERS[name](value)
    assert str(caught.value).startswith(message)


# --- rendering -------------------------------------------------------------


def test_render_subject_body_cc_reply_to(tmp_path: Path) -> None:
    templates = build(
        tmp_path,
        {
            "a/hello.md.j2": """
                ---
                subject: "{{ account.name }}: renewal on {{ account.renewal_date | date }}"
                cc: ["{{ csm.email }}", "{% if false %}x@example.com{% endif %}"]
                reply_to: "{{ csm.email }}"
                ---

                Hi {{ contact.first_name }},
                {% if account.nps is not none %}
                NPS {{ account.nps }}.
                {% endif %}
                ARR {{ account.arr | money }}.

                """
        },
    )
    email = templates.render("a/hello.md.j2", context(nps=None, arr=48000))
    assert email == RenderedEmail(
        subject="Acme Corp: renewal on 31 December 2026",
        body="Hi Sam,\nARR $48,000.\n",
        cc=("dana.reyes@example.com",),
        reply_to="dana.reyes@example.com",
    )


def test_each_part_renders_with_the_globals_and_its_own_names_only(tmp_path: Path) -> None:
    """The subject, body and headers share one merge of the globals and the context: a name one
    part sets stays its own, a global stays callable, and the context itself is left as it was."""
    templates = build(
        tmp_path,
        {
            "a/set.md.j2": """
                ---
                subject: "{% set contact = 'the subject' %}{{ contact }}"
                reply_to: "{{ csm.email }}"
                ---
                {% set csm = {'name': 'the body'} %}{{ csm.name }} to {{ contact.first_name }}
                {%- for n in range(2) %} {{ n }}{% endfor %}
                """
        },
    )
    ctx = context()
    before = {key: dict(value) if isinstance(value, dict) else value for key, value in ctx.items()}
    email = templates.render("a/set.md.j2", ctx)
    assert email == RenderedEmail(
        subject="the subject", body="the body to Sam 0 1\n", cc=(), reply_to="dana.reyes@example.com"
    )
    assert ctx == before
    assert templates.render("a/set.md.j2", ctx) == email  # and the next render sees the same


def test_lines_holding_only_a_tag_leave_nothing_behind(tmp_path: Path) -> None:
    text = """
        ---
        subject: s
        ---
        One.{% if account.nps > 5 %} Happy.{% endif %}

          {% if account.nps > 5 %}
        Two.
          {% endif %}
        {# a note for template authors #}
        Three {{ account.helth }}
        """
    templates = build(tmp_path, {"t.md.j2": text})
    assert templates.render("t.md.j2", context(nps=9, helth="x")).body == ("One. Happy.\n\nTwo.\nThree x\n")
    assert templates.render("t.md.j2", context(nps=1, helth="x")).body == "One.\n\nThree x\n"
    assert problems(templates, "t.md.j2", context(nps=1))[0].startswith(
        "templates/t.md.j2:10:18: no field 'helth'"
    )


def test_builtin_signature_falls_back_to_name_and_title() -> None:
    ctx = sample_context(standard_fields())
    ctx["csm"]["signature"] = ""
    body = BUILTIN.render("renewal/heads-up.md.j2", ctx).body
    assert body.endswith("\nBest,\nDana Reyes\nCustomer Success Manager\n")


def test_names_lists_emails_not_partials(tmp_path: Path) -> None:
    templates = build(
        tmp_path,
        {"b/two.md.j2": SIMPLE, "a/one.md.j2": SIMPLE, "_sig.md.j2": "x", "notes.txt": "x"},
    )
    assert templates.names() == ["a/one.md.j2", "b/two.md.j2"]
    assert templates.exists("a/one.md.j2")
    assert not templates.exists("a/nope.md.j2")
    assert Templates(tmp_path / "missing").names() == []


def test_unknown_template_is_not_found_with_suggestion(tmp_path: Path) -> None:
    templates = build(tmp_path, {"renewal/heads-up.md.j2": SIMPLE})
    with pytest.raises(NotFound, match=r"did you mean 'renewal/heads-up.md.j2'"):
        templates.render("renewal/heads-upp.md.j2", context())


def test_each_template_is_compiled_once(tmp_path: Path) -> None:
    templates = build(tmp_path, {"a.md.j2": SIMPLE})
    first = templates.render("a.md.j2", context())
    (tmp_path / "templates" / "a.md.j2").write_text("---\nsubject: changed\n---\nchanged\n")
    second = templates.render("a.md.j2", context(name="Globex"))
    assert first.subject == "Acme Corp: hello"
    assert second.subject == "Globex: hello"  # the cached subject, not the edited file
    assert "Globex has 42 seats in use." in second.body


def test_include_and_extends(tmp_path: Path) -> None:
    templates = build(
        tmp_path,
        {
            "_sig.md.j2": "{{ csm.name }}\n{{ csm.title }}\n",
            "_base.md.j2": "Hi {{ contact.first_name }},\n\n{% block main %}{% endblock %}\n",
            "a.md.j2": """
                ---
                subject: hi
                ---
                {% extends "_base.md.j2" %}
                {% block main %}
                Thanks,
                {% include "_sig.md.j2" %}
                {% endblock %}
                """,
        },
    )
    body = templates.render("a.md.j2", context()).body
    assert body == "Hi Sam,\n\nThanks,\nDana Reyes\nCustomer Success Manager\n"


def test_imported_column_named_like_a_dict_method(tmp_path: Path) -> None:
    templates = build(tmp_path, {"a.md.j2": "---\nsubject: s\n---\n{{ account.items }}\n"})
    assert templates.render("a.md.j2", context(items="three widgets")).body == "three widgets\n"


# --- problems, with file and line ---------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "---\ncc: []\n---\nHi\n",
            ["templates/t.md.j2:2:1: missing 'subject'"],
        ),
        (
            '---\nsubject: "s"\nreplyto: a@b.example\nbcc: []\n---\nHi\n',
            [
                "templates/t.md.j2:3:1: unknown front matter key 'replyto' (did you mean 'reply_to'?)",
                "templates/t.md.j2:4:1: unknown front matter key 'bcc' (did you mean 'cc'?)",
            ],
        ),
        (
            '---\nsubject: "s"\ncc: [a@b.example\n---\nHi\n',
            ["templates/t.md.j2:4:1: YAML syntax: expected ',' or ']', but got '<stream end>'"],
        ),
        (
            "---\nsubject: {{ account.name }}\n---\nHi\n",
            ['templates/t.md.j2:2:10: keys must be plain names (put text with Jinja in quotes: "{{ ... }}")'],
        ),
        (
            "---\nsubject: [a, b]\n---\nHi\n",
            ['templates/t.md.j2:2:10: subject must be text (put text with Jinja in quotes: "{{ ... }}")'],
        ),
        (
            '---\nsubject: "s"\ncc: a@b.example\n---\nHi\n',
            ["templates/t.md.j2:3:5: cc must be a list of addresses"],
        ),
        (
            "Hi {{ contact.name }}\n",
            ["templates/t.md.j2:1:1: no front matter: start with '---', 'subject: ...', '---'"],
        ),
        (
            '---\nsubject: "s"\nHi\n',
            ["templates/t.md.j2:1:1: front matter has no closing '---' line"],
        ),
        (
            '---\nsubject: "s"\n---\nHi,\n\n{% if account.nps %}\nNPS\n',
            [
                "templates/t.md.j2:7:1: Jinja syntax: Unexpected end of template."
                " Jinja was looking for the following tags: 'elif' or 'else' or 'endif'."
                " The innermost block that needs to be closed is 'if'."
            ],
        ),
        (
            '---\n# a comment\nsubject: "{{ account.name }"\n---\nHi\n',
            ["templates/t.md.j2:3:1: Jinja syntax: unexpected '}'"],
        ),
        (
            '---\nsubject: "s"\n---\nHi {{ contact.first_name }\n',
            ["templates/t.md.j2:4:1: Jinja syntax: unexpected '}'"],
        ),
    ],
)
def test_compile_problems_name_file_and_line(tmp_path: Path, text: str, expected: list[str]) -> None:
    templates = build(tmp_path, {"t.md.j2": text})
    assert problems(templates, "t.md.j2") == expected
    with pytest.raises(TemplateError) as caught:
        templates.render("t.md.j2", context())
    assert [str(p).splitlines()[0] for p in caught.value.problems] == expected


def test_undefined_attribute_reports_line_column_and_suggestion(tmp_path: Path) -> None:
    templates = build(
        tmp_path,
        {"t.md.j2": '---\nsubject: "s"\n---\nHi,\n\nYour score is {{ account.helth }}.\n'},
    )
    with pytest.raises(TemplateError) as caught:
        templates.render("t.md.j2", context(health=71))
    assert str(caught.value) == (
        "templates/t.md.j2:6:26: no field 'helth' here (did you mean 'health'?);"
        " a field that may be missing needs {% if ... is defined %}\n"
        "    Your score is {{ account.helth }}.\n"
        "                             ^"
    )


def test_undefined_name_suggests_context_names(tmp_path: Path) -> None:
    templates = build(tmp_path, {"t.md.j2": '---\nsubject: "Hi {{ acount.name }}"\n---\nHi\n'})
    assert problems(templates, "t.md.j2") == [
        "templates/t.md.j2:2:17: 'acount' is undefined (did you mean 'account'?);"
        " a field that may be missing needs {% if ... is defined %}"
    ]


@pytest.mark.parametrize(
    ("expression", "column"),
    [
        ("account.seats_usd | number", 21),
        ("account.seats_usd | round", 21),
        ("account.seats_usd | money | upper", 21),
        ("12.5 | number(account.npss)", 35),
        ("account.renewal_dat | date('%d %b')", 21),
    ],
)
def test_an_undefined_field_behind_a_filter_gets_a_did_you_mean(
    tmp_path: Path, expression: str, column: int
) -> None:
    templates = build(
        tmp_path, {"t.md.j2": f"---\nsubject: s\n---\nHi,\n\nYou have {{{{ {expression} }}}}.\n"}
    )
    name = expression.split("account.")[1].split()[0].rstrip(")")
    found = problems(templates, "t.md.j2")
    assert len(found) == 1
    assert found[0].startswith(f"templates/t.md.j2:6:{column}: no field '{name}' here (did you mean '")


def test_default_still_takes_a_missing_field(tmp_path: Path) -> None:
    templates = build(tmp_path, {"t.md.j2": "---\nsubject: s\n---\n{{ account.region | default('-') }}!\n"})
    assert templates.render("t.md.j2", context()).body == "-!\n"


def test_missing_field_is_fine_behind_is_defined(tmp_path: Path) -> None:
    text = "---\nsubject: s\n---\n{% if account.health is defined %}{{ account.health }}{% endif %}!\n"
    templates = build(tmp_path, {"t.md.j2": text})
    assert templates.check("t.md.j2", context()) == []
    assert templates.render("t.md.j2", context(health=64)).body == "64!\n"


def test_none_value_is_an_error_not_a_blank(tmp_path: Path) -> None:
    templates = build(tmp_path, {"t.md.j2": '---\nsubject: "s"\n---\nHi,\n\nYou scored {{ account.nps }}.\n'})
    with pytest.raises(TemplateError) as caught:
        templates.render("t.md.j2", context(nps=None))
    assert str(caught.value).startswith(
        "templates/t.md.j2:6:1: a value here is empty (None) for this account;"
        " guard it with {% if ... is not none %}"
    )


def test_filter_error_names_template_line(tmp_path: Path) -> None:
    templates = build(
        tmp_path, {"t.md.j2": '---\nsubject: "s"\n---\nRenews {{ account.renewal_date | date }}\n'}
    )
    assert problems(templates, "t.md.j2", context(renewal_date="soon")) == [
        "templates/t.md.j2:4:1: date: expected a date like 2027-03-14, got 'soon'"
    ]


def test_error_inside_an_include_names_the_partial(tmp_path: Path) -> None:
    templates = build(
        tmp_path,
        {
            "_sig.md.j2": "Best,\n{{ csm.nmae }}\n",
            "t.md.j2": '---\nsubject: "s"\n---\nHi\n{% include "_sig.md.j2" %}\n',
        },
    )
    assert problems(templates, "t.md.j2")[0].startswith(
        "templates/_sig.md.j2:2:8: no field 'nmae' here (did you mean 'name'?)"
    )


def test_missing_include_is_a_problem(tmp_path: Path) -> None:
    templates = build(tmp_path, {"t.md.j2": '---\nsubject: "s"\n---\nHi\n{% include "_x.md.j2" %}\n'})
    assert problems(templates, "t.md.j2") == ["templates/t.md.j2:5:1: included template '_x.md.j2' not found"]


def _outside(tmp_path: Path) -> Templates:
    """templates/ with a link to a file outside it and a link to a folder outside it."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.md.j2").write_text("---\nsubject: s\n---\nthe secret\n")
    (elsewhere / "_secret.md.j2").write_text("the secret\n")
    templates = build(
        tmp_path,
        {
            "inc.md.j2": '---\nsubject: s\n---\n{% include "_linked.md.j2" %}\n',
            "dir.md.j2": '---\nsubject: s\n---\n{% include "shared/_secret.md.j2" %}\n',
            "ext.md.j2": '---\nsubject: s\n---\n{% extends "shared/_secret.md.j2" %}\n',
            "imp.md.j2": '---\nsubject: s\n---\n{% import "_linked.md.j2" as x %}Hi\n',
            "up.md.j2": '---\nsubject: s\n---\n{% include "../elsewhere/_secret.md.j2" %}\n',
            "_inside.md.j2": "inside\n",
        },
    )
    root = tmp_path / "templates"
    (root / "linked.md.j2").symlink_to(elsewhere / "secret.md.j2")
    (root / "_linked.md.j2").symlink_to(elsewhere / "_secret.md.j2")
    (root / "shared").symlink_to(elsewhere, target_is_directory=True)
    (root / "ok.md.j2").symlink_to(root / "inc.md.j2")  # a link that stays inside is fine
    (root / "_ok.md.j2").symlink_to("_inside.md.j2")
    return templates


def test_links_out_of_the_templates_folder_are_refused_like_dot_dot(tmp_path: Path) -> None:
    templates = _outside(tmp_path)
    assert templates.names() == ["dir.md.j2", "ext.md.j2", "imp.md.j2", "inc.md.j2", "ok.md.j2", "up.md.j2"]
    assert not templates.exists("linked.md.j2") and not templates.exists("shared/secret.md.j2")
    refused = "is a link to outside the templates folder; csm reads templates only from inside it"
    for name in ("inc.md.j2", "imp.md.j2"):
        assert problems(templates, name) == [
            f"templates/{name}:4:1: template '_linked.md.j2' {refused} (copy the file in)"
        ]
    for name in ("dir.md.j2", "ext.md.j2"):
        assert problems(templates, name) == [
            f"templates/{name}:4:1: template 'shared/_secret.md.j2' {refused} (copy the file in)"
        ]
    assert problems(templates, "up.md.j2") == [
        "templates/up.md.j2:4:1: included template '../elsewhere/_secret.md.j2' not found"
    ]
    for name in ("linked.md.j2", "shared/secret.md.j2"):
        with pytest.raises(TemplateError, match=f"^templates/{name}:1:1: template '{name}' {refused}"):
            templates.render(name, context())
    link = "a link to outside the templates folder; csm reads templates only from inside it"
    assert [str(p) for p in templates.outside_links()] == [
        f"templates/{name}:1:1: {link}" for name in ("_linked.md.j2", "linked.md.j2", "shared")
    ]
    # A link that stays inside is read; what it includes is checked all the same.
    assert problems(templates, "ok.md.j2") == [
        f"templates/ok.md.j2:4:1: template '_linked.md.j2' {refused} (copy the file in)"
    ]
    _ok = build(tmp_path / "b", {"a.md.j2": '---\nsubject: s\n---\n{% include "_ok.md.j2" %}\n'})
    (tmp_path / "b" / "templates" / "_ok.md.j2").symlink_to("_in.md.j2")
    (tmp_path / "b" / "templates" / "_in.md.j2").write_text("inside\n")
    assert _ok.render("a.md.j2", context()).body == "inside\n"
    # A templates folder that is itself a link is read through: its files are inside it.
    (tmp_path / "linked-root").symlink_to(tmp_path / "b" / "templates", target_is_directory=True)
    assert Templates(tmp_path / "linked-root").render("a.md.j2", context()).body == "inside\n"


def test_an_unreadable_template_or_partial_is_one_problem_naming_it(tmp_path: Path) -> None:
    templates = build(tmp_path, {"inc.md.j2": '---\nsubject: s\n---\nHi\n{% include "_sig.md.j2" %}\n'})
    root = tmp_path / "templates"
    (root / "bad.md.j2").write_bytes(b"---\nsubject: s\n---\nCaf\xe9\n")
    (root / "_sig.md.j2").write_bytes(b"Best,\n\xff\n")
    (root / "big.md.j2").write_bytes(b"---\nsubject: s\n---\n" + b"x" * 200_000)
    not_utf8 = "not UTF-8 text (byte 0x{}); save the file as UTF-8"
    assert problems(templates, "bad.md.j2") == ["templates/bad.md.j2:4:4: " + not_utf8.format("e9")]
    assert problems(templates, "inc.md.j2") == ["templates/_sig.md.j2:2:1: " + not_utf8.format("ff")]
    assert problems(templates, "big.md.j2") == [
        "templates/big.md.j2:1:1: the file is larger than 128 KB, the most csm reads; split it up"
    ]


@pytest.mark.parametrize(
    "expression", ["account.__class__.__mro__", "account.update({'name': 'x'})", "today.__init__"]
)
def test_sandbox_refuses_unsafe_access(tmp_path: Path, expression: str) -> None:
    templates = build(tmp_path, {"t.md.j2": f'---\nsubject: "s"\n---\nHi\n{{{{ {expression} }}}}\n'})
    found = problems(templates, "t.md.j2")
    assert len(found) == 1
    assert found[0].startswith("templates/t.md.j2:5:1: not allowed in a template: ")


@pytest.mark.parametrize("name", ["Acme\nBcc: all@example.com", "Acme\r", "Acme\x00", "Acme\u2028"])
def test_subject_must_stay_one_line(tmp_path: Path, name: str) -> None:
    templates = build(tmp_path, {"t.md.j2": SIMPLE})
    with pytest.raises(TemplateError) as caught:
        templates.render("t.md.j2", context(name=name))
    assert str(caught.value).startswith(
        "templates/t.md.j2:2:1: the subject renders with a line break or control character"
    )


@pytest.fixture(scope="module")
def simple(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    return build(tmp_path_factory.mktemp("simple"), {"t.md.j2": SIMPLE})


@settings(max_examples=200, deadline=None)
@given(name=st.text())
def test_any_account_name_gives_one_header_line_or_a_template_error(simple: Templates, name: str) -> None:
    try:
        email = simple.render("t.md.j2", context(name=name))
    except TemplateError as exc:
        assert "renders with a line break or control character" in str(exc)
    else:
        assert email.subject == f"{name}: hello".strip()
        assert not any(unicodedata.category(c) == "Cc" or c in "\u2028\u2029" for c in email.subject)


def test_cc_must_be_an_address(tmp_path: Path) -> None:
    text = '---\nsubject: "s"\ncc:\n  - "{{ account.name }}"\n---\nHi\n'
    templates = build(tmp_path, {"t.md.j2": text})
    assert problems(templates, "t.md.j2") == [
        "templates/t.md.j2:4:3: cc renders as 'Acme Corp', not an email address"
    ]


def test_blank_subject_or_body_is_refused(tmp_path: Path) -> None:
    templates = build(
        tmp_path,
        {
            "s.md.j2": "---\nsubject: \"{{ '' }}\"\n---\nHi\n",
            "b.md.j2": '---\nsubject: "s"\n---\n{% if false %}Hi{% endif %}\n',
        },
    )
    assert problems(templates, "s.md.j2") == ["templates/s.md.j2:2:1: the subject renders empty"]
    assert problems(templates, "b.md.j2") == ["templates/b.md.j2:1:1: the body renders empty"]


# --- HTML ------------------------------------------------------------------


def test_html_escapes_account_data(tmp_path: Path) -> None:
    templates = build(tmp_path, {"t.md.j2": SIMPLE})
    email = templates.render("t.md.j2", context(name="<script>alert(1)</script> & Co"))
    html = to_html(email.body)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co has 42 seats in use." in html


def test_html_keeps_line_breaks_and_paragraphs() -> None:
    html = to_html("Hi Priya,\n\nThanks for **everything**.\n\nBest,\nDana Reyes\n")
    assert "<p>Hi Priya,</p>\n<p>Thanks for <strong>everything</strong>.</p>" in html
    assert "<p>Best,<br />\nDana Reyes</p>" in html
    assert html.startswith("<!DOCTYPE html>") and 'style="max-width:600px;' in html


# --- built-in templates ------------------------------------------------------


BUILTIN = Templates(builtin_dir("templates"))


@pytest.mark.parametrize("name", BUILTIN.names())
def test_builtin_template_checks_clean(name: str) -> None:
    assert BUILTIN.check(name, sample_context(standard_fields())) == []


def northwind(**changes: Any) -> dict[str, Any]:
    """Northwind Traders as of TODAY, derived fields worked out from the columns."""
    account: dict[str, Any] = {
        "id": "NW-1042",
        "name": "Northwind Traders",
        "owner": "dana.reyes@example.com",
        "plan": "team",
        "arr": 48000.0,
        "seats_licensed": 50,
        "seats_used": 41,
        "start_date": "2025-03-14",
        "renewal_date": "2027-03-14",
        "status": "active",
        "nps": 8,
        "open_tickets": 1,
        "last_login_at": "2026-11-20",
        "health_score": None,
        "last_touch_at": "2026-10-29",
        "usage_30d": 36.4,
        "usage_change_30d": 0.04,
        "health": 78,
        "health_change_30d": 2,
        "goals": "Cut month-end close from 8 days to 3\nRetire the regional reporting spreadsheets",
        "use_case": "month-end reporting",
        "success_criteria": (
            "Close done in 3 working days by June\nEvery regional lead reading the same dashboard"
        ),
        "integrations": None,
        **changes,
    }

    def since(field: str) -> int:
        return (TODAY - dt.date.fromisoformat(account[field])).days

    account["days_to_renewal"] = -since("renewal_date")
    account["days_since_start"] = since("start_date")
    account["days_since_login"] = since("last_login_at")
    account["days_since_touch"] = since("last_touch_at")
    account["seat_utilization"] = account["seats_used"] / account["seats_licensed"]
    account["lifecycle_stage"] = "adoption"
    return account


# Each built-in template with the account situation that makes its step fire.
GOLDEN_CASES: dict[str, dict[str, Any]] = {
    "onboarding/welcome.md.j2": {
        "start_date": "2026-11-16",
        "renewal_date": "2027-11-16",
        "seats_used": 3,
        "lifecycle_stage": "onboarding",
    },
    "onboarding/first-value.md.j2": {
        "start_date": "2026-10-15",
        "renewal_date": "2027-10-15",
        "seats_used": 9,
    },
    "adoption/roll-out-help.md.j2": {"start_date": "2026-07-01", "seats_used": 16},
    "adoption/integrations.md.j2": {
        "start_date": "2026-08-20",
        "renewal_date": "2027-08-20",
    },
    "adoption/milestone.md.j2": {"seats_used": 43, "usage_change_30d": 0.14},
    "renewal/heads-up.md.j2": {},
    "renewal/check-in.md.j2": {"renewal_date": "2027-01-12"},
    "expansion/seats.md.j2": {"seats_used": 47, "nps": 9},
    "expansion/next-plan.md.j2": {"usage_change_30d": 0.38},
    "at-risk/check-in.md.j2": {"open_tickets": 3, "health": 41, "health_change_30d": -22},
    "at-risk/detractor.md.j2": {"nps": 3},
    "at-risk/champion-left.md.j2": {"renewal_date": "2027-02-15"},
    "at-risk/ticket-note.md.j2": {"open_tickets": 2},
    "nps/promoter.md.j2": {"nps": 10},
    "nps/passive.md.j2": {"nps": 7},
    "nurture/first-dashboard.md.j2": {"start_date": "2026-10-20", "seats_used": 12},
    "nurture/first-automation.md.j2": {"start_date": "2026-05-04"},
    "silent-account/hello.md.j2": {"last_touch_at": "2026-09-10", "nps": None},
}


def golden_context(name: str) -> dict[str, Any]:
    return {
        "account": northwind(**GOLDEN_CASES[name]),
        "contact": {
            "name": "Priya Shah",
            "first_name": "Priya",
            "email": "priya.shah@northwind.example",
            "role": "champion",
            "title": "Head of Operations",
        },
        "csm": dict(SAMPLE_CSM),
        "playbook": {"id": name.split("/")[0], "title": name.split("/")[0].capitalize()},
        "step": {"id": name.split("/")[1].removesuffix(".md.j2")},
        "today": TODAY,
    }


def test_every_builtin_template_has_a_golden_case() -> None:
    assert sorted(GOLDEN_CASES) == BUILTIN.names()


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_builtin_template_matches_golden(name: str) -> None:
    email = BUILTIN.render(name, golden_context(name))
    headers = [f"Subject: {email.subject}"]
    headers += [f"Cc: {', '.join(email.cc)}"] if email.cc else []
    headers += [f"Reply-To: {email.reply_to}"] if email.reply_to else []
    text = "\n".join(headers) + "\n\n" + email.body
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("CSM_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")
    body_lines = email.body.strip().splitlines()
    assert 6 <= len(body_lines) <= 15, f"{name}: {len(body_lines)} body lines"


def test_the_integrations_email_names_only_what_they_have_not_connected() -> None:
    ctx = golden_context("adoption/integrations.md.j2")
    ctx["account"].update(integrations="Slack\nJira")
    body = BUILTIN.render("adoption/integrations.md.j2", ctx).body
    assert "apart from Slack and Jira none of your tools is connected yet" in body
    named = [line.split(":")[0] for line in body.splitlines() if line.startswith("- ")]
    assert named == ["- Salesforce", "- HubSpot"]

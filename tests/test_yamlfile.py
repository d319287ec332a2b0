"""Strict YAML: bounded nesting and values, aliases counted each time they repeat a part."""

from __future__ import annotations

import pytest

from csm.language import yamlfile
from csm.language.fields import standard_fields


def _refused(text: str) -> str:
    with pytest.raises(yamlfile.YamlSyntaxError) as caught:
        yamlfile.load(text, "p.yaml")
    return str(caught.value.problem).splitlines()[0]


def test_an_alias_repeats_its_part() -> None:
    doc = yamlfile.load("roles: &r [champion, admin]\nagain: *r\n", "p.yaml")
    assert doc.data == {"roles": ["champion", "admin"], "again": ["champion", "admin"]}


def test_aliases_that_expand_past_the_cap_stop_at_the_alias() -> None:
    row = ", ".join(["x"] * 20)
    text = f"a: &a [{row}]\nb: &b [{', '.join(['*a'] * 20)}]\nc: [{', '.join(['*b'] * 20)}]\n"
    assert (
        _refused(text)
        == "p.yaml:3:45: YAML: more than 5,000 values (an alias, *name, repeating a large part?)"
    )


def test_too_many_plain_values_are_refused() -> None:
    assert _refused("[" + "1, " * 5_001 + "]").startswith("p.yaml:1:15002: YAML: more than 5,000 values")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a: " + "[" * 51 + "]" * 51, "1:54"),
        ("a: " + "{b: " * 51 + "}" * 51, "1:197"),
        ("".join(" " * i + "k:\n" for i in range(52)), "50:50"),
    ],
    ids=["flow sequences", "flow mappings", "block mappings"],
)
def test_nesting_past_the_cap_is_refused(text: str, where: str) -> None:
    assert _refused(text) == f"p.yaml:{where}: YAML: nested more than 50 levels deep"


def test_fifty_levels_are_fine() -> None:
    assert yamlfile.load("a: " + "[" * 49 + "]" * 49, "p.yaml").data is not None


def test_the_checker_collects_every_problem_and_places_a_condition_error_on_its_line() -> None:
    text = "when: >\n  arr > 0 and\n  helth < 50\nkind: 3\nextra: 1\n"
    checker = yamlfile.Checker(yamlfile.load(text, "p.yaml"), standard_fields())
    table = checker.table(checker.doc.data, (), ("when", "kind"), "a step")
    assert checker.condition(table, (), "when", required=True, prefix="s0_") is None
    assert checker.text(table, (), "kind", required=True) is None
    assert [str(p).splitlines()[0] for p in checker.problems] == [
        "p.yaml:5:1: unknown key 'extra' in a step (allowed: when, kind)",
        "p.yaml:3:3: unknown field 'helth' (did you mean 'health'?)",
        "p.yaml:4:7: 'kind' must be non-empty text, got 3",
    ]

"""Strict YAML: bounded nesting and values, aliases counted each time they repeat a part."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

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


# libyaml (C) parses ASCII text for speed; PyYAML's own parser (Python) words every error. The two
# must build the same nodes, in the same places, from any text libyaml accepts.

ROOT = Path(__file__).parent.parent


def _tree(node: yaml.Node | None) -> object:
    if node is None:
        return None
    where = (node.start_mark.line, node.start_mark.column)
    if isinstance(node, yaml.MappingNode):
        return node.tag, where, [(_tree(k), _tree(v)) for k, v in node.value]
    if isinstance(node, yaml.SequenceNode):
        return node.tag, where, [_tree(v) for v in node.value]
    return node.tag, where, node.value, node.style


def _same_as_pyyaml(text: str) -> None:
    if not yamlfile.libyaml_reads(text):
        return
    try:
        fast = yaml.compose(text, Loader=yamlfile._LibyamlLoader)
    except yaml.YAMLError:
        return  # parsed again in Python, which words the error
    assert _tree(fast) == _tree(yaml.compose(text, Loader=yamlfile._BoundedLoader))


def _repo_yaml() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted(ROOT.glob("**/*.yaml")) if ".git" not in p.parts]
    for template in sorted(ROOT.glob("**/*.md.j2")):
        text = template.read_text(encoding="utf-8")
        if text.startswith("---\n"):
            texts.append(text.split("---", 2)[1])
    return texts


def test_libyaml_builds_what_pyyaml_builds_from_every_file_here() -> None:
    texts = _repo_yaml()
    assert len(texts) > 30 and all(text.isascii() for text in texts[:10])
    for text in texts:
        _same_as_pyyaml(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\r\nb: [x, y]\r\n",
        "a: 'it''s'\nb: \"tab\\there \\x41 \\u0042\"\n",
        "a: |\n  one\n   two\n\nb: >-\n  folded\n  text\n\n\nc: |+\n  kept\n\n",
        "? [a, b]\n: c\n",
        "%YAML 1.1\n---\na: b\n...\n",
        "--- !!str 12\n",
        "a: &x {b: c}\nd: *x\ne: !!int '3'\n",
        "# only a comment\n",
        "",
        "a: b # note\n  # indented comment\nc:   \n  - d\n  -   e\n",
        "key with spaces: value: with colon\n",
        "a: [b, c\n",
        "a: b\n a: c\n",
        "\ta: b\n",
        "- - - x\n  - y\n- z\n",
        "a: {b: [1, 2, {c: d}], e: f}\n",
        "multi: word plain\n  continued here\n",
        "a: 'quoted\n\n  over lines'\n",
        'a: "escaped \\\n  newline"\n',
        "a: b\n---\nc: d\n",
    ],
)
def test_libyaml_builds_what_pyyaml_builds_from_odd_text(text: str) -> None:
    _same_as_pyyaml(text)


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(alphabet=st.characters(max_codepoint=127))
)
_DATA = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300)
@given(_DATA, st.sampled_from([None, True, False]), st.integers(2, 6), st.integers(20, 120))
def test_libyaml_builds_what_pyyaml_builds_from_any_dumped_data(
    data: object, flow: bool | None, indent: int, width: int
) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, indent=indent, width=width, allow_unicode=False)
    _same_as_pyyaml(text)


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("a:\tb\n", "1:3: YAML syntax: found character '\\t' that cannot start any token"),
        ("!*! x\n", "1:2: YAML syntax: expected '!', but found '*'"),
        ("[a ?]\n", "1:4: YAML syntax: expected ',' or ']', but got '?'"),
        ("a: |#\n  x\n", "1:5: YAML syntax: expected chomping or indentation indicators, but found '#'"),
    ],
)
def test_what_libyaml_would_take_is_refused_as_pyyaml_refuses_it(text: str, refused: str) -> None:
    yaml.compose(text, Loader=yamlfile._LibyamlLoader)  # taken: so never given to it
    assert not yamlfile.libyaml_reads(text)
    assert _refused(text) == f"p.yaml:{refused}"


_TOKENS = [
    *"ab1 :-?[]{},#&*!|>'\"%.\n\r@`\\~=0x_",
    *["---", "...", "<<", "\\u00e9", "\\x41", "  ", "- ", ": ", "\n  ", "\n- ", "'a'", '"b"', "&x ", "*x"],
    *["|-\n  ", ">+\n ", "? ", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "null", "~", "1e3", ".inf", "\r\n"],
]


@settings(max_examples=500)
@given(st.lists(st.sampled_from(_TOKENS), max_size=30).map("".join))
def test_libyaml_builds_what_pyyaml_builds_from_any_text(text: str) -> None:
    """Random YAML-ish text: where libyaml takes it, PyYAML takes it too and builds the same nodes
    in the same places."""
    _same_as_pyyaml(text)


def test_a_value_left_out_is_placed_where_pyyaml_places_it() -> None:
    """libyaml puts an empty value a column later than PyYAML in a flow mapping: such text is
    parsed in Python, so a problem with the value points where it always did."""
    doc = yamlfile.load("a: {b: , c: d}\n", "p.yaml")
    assert doc.data == {"a": {"b": None, "c": "d"}}
    assert doc.where(("a", "b")) == yamlfile.Where(1, 7)

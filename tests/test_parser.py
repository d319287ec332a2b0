"""The condition language's parser: tokens, the tree, syntax errors with their offsets."""

from __future__ import annotations

from decimal import Decimal

import pytest
from condition_book import FIELDS, assert_explained
from hypothesis import given
from hypothesis import strategies as st

from csm.errors import ConditionError
from csm.language.compiler import MAX_DEPTH, check_condition
from csm.language.parser import Literal, parse

TOO_DEEP = (
    f"the condition is nested too deeply (more than {MAX_DEPTH} levels of parentheses,"
    " 'not' and '-'); simplify it"
)


@pytest.mark.parametrize(
    ("source", "message", "offset"),
    [
        ("", "the condition is empty", 0),
        ("   ", "the condition is empty", 3),
        ("days_to_renewal >=", "expected a value after '>=', found end of condition", 18),
        ("arr > 5 and", "expected a value after 'and', found end of condition", 11),
        ("plan in ()", "expected a value after '(', found ')'", 9),
        ("(arr > 5))", "unexpected ')'", 9),
        ("(arr > 5", "expected ')', found end of condition", 8),
        ("(arr betwen 1 and 5)", "expected ')', found 'betwen' (did you mean 'between'?)", 5),
        ("arr > 5 adn nps < 3", "unexpected 'adn' (did you mean 'and'?)", 8),
        ("arr > 5 nps < 3", "unexpected 'nps'; join conditions with 'and' or 'or'", 8),
        ("arr > 1 > 0", "unexpected '>'", 8),
        ("plan = 'starter", "unterminated string; close it with '", 7),
        ('plan = "it\\"', 'unterminated string; close it with "', 7),
        ("arr > 5 & nps < 3", "unexpected character '&'; write 'and'", 8),
        ("arr > 5 || nps < 3", "unexpected character '|'; write 'or'", 8),
        ("arr > 5 %", "unexpected character '%'", 8),
        ("plan in 'starter'", "expected '(' after 'in', found 'starter'", 8),
        ("plan in ('a' 'b')", "expected ',' or ')' to finish the list, found 'b'", 13),
        ("arr between 1 5", "expected 'and' to finish 'between', found '5'", 14),
        ("arr not 5", "expected 'in' or 'between' after 'not', found '5'", 8),
        ("nps is 5", "expected 'null' or 'not null' after 'is', found '5'", 7),
        ("nps is not 5", "expected 'null' after 'is not', found '5'", 11),
        ("arr > 90days", "'90days' is not a number", 6),
        ("arr > 1.5.2", "'1.5.2' is not a number", 6),
        ("arr > 1234567890123456789", "the number 1234567890123456789 is too large", 6),
        ("(" * (MAX_DEPTH + 1) + "arr > 1" + ")" * (MAX_DEPTH + 1), TOO_DEEP, MAX_DEPTH),
        ("not " * (MAX_DEPTH + 1) + "churn_risk", TOO_DEEP, 4 * MAX_DEPTH),
        ("arr > " + "-(" * 5 + "1" + ")" * 5, TOO_DEEP, 6 + MAX_DEPTH),
    ],
)  # fmt: skip
def test_syntax_errors_are_explained(source: str, message: str, offset: int) -> None:
    assert_explained(source, message, offset)

    with pytest.raises(ConditionError) as parsed:
        parse(source)
    assert (parsed.value.message, parsed.value.offset) == (message, offset)


def test_a_syntax_error_is_the_only_problem_reported() -> None:
    assert [e.message for e in check_condition("helth > 1 and (", FIELDS)] == [
        "expected a value after '(', found end of condition"
    ]


@given(whole=st.integers(0, 10**16 - 1), fraction=st.text("0123456789", max_size=12))
def test_a_percentage_is_the_float_nearest_its_exact_hundredth(whole: int, fraction: str) -> None:
    digits = f"{whole}.{fraction}" if fraction else str(whole)
    literal = parse(f"{digits}%")
    assert isinstance(literal, Literal)
    assert literal.value == float(Decimal(digits) / 100)

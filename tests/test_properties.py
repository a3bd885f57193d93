"""Property-based tests: the parser never breaks, and smooth expressions always agree.

Random text goes to the parser and to the batch line reader: each either returns or
refuses with :class:`InputError` (an error row), nothing else. Random expressions from a
small grammar of smooth, bounded pieces are checked at random points, where SymPy's
exact derivatives and autograd's must agree.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcheck_cli.batch import parse_line
from gradcheck_cli.check import Request, check_points
from gradcheck_cli.errors import InputError
from gradcheck_cli.parse import parse_expression
from gradcheck_cli.results import CheckResult, Status

# Text that looks enough like expressions to get past the first checks.
TOKENS = st.sampled_from([
    "x", "y", "1", "0", "2.5", "1e308", "1e-400", "9", "pi", "e", "+", "-", "*", "/", "**",
    "^", "(", ")", ",", "sin", "exp", "log", "sqrt", "abs", "max", "atan2", " ", "[", "]",
    ".", "@", "=", "#", "__import__", "'", "lambda", "\t", "π", "\x00", "x.y", "2x",
])
EXPRESSION_LIKE = st.lists(TOKENS, max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), EXPRESSION_LIKE))
def test_the_parser_returns_or_refuses(text: str) -> None:
    try:
        parsed = parse_expression(text)
    except InputError as error:
        assert error.category and error.message
    else:
        assert parsed.text == text


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), EXPRESSION_LIKE.map(str.encode)))
def test_a_batch_line_is_skipped_a_check_or_an_error_row(raw: bytes) -> None:
    item = parse_line(raw, "f.txt:1")
    assert item is None or isinstance(item, Request | CheckResult)
    if isinstance(item, CheckResult):
        assert item.status is Status.ERROR and item.source == "f.txt:1" and item.message


# -- a grammar of smooth expressions ---------------------------------------------------------

VARIABLES = ("x", "y", "z")
SMALL = st.integers(min_value=1, max_value=5).map(str)
LEAF = st.one_of(st.sampled_from(VARIABLES), SMALL)


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    # No division except by (1 + u**2) and no exp except of a bounded argument: no poles,
    # no overflow, no domain edges anywhere, so every point is an ordinary one.
    return st.one_of(
        st.tuples(children, st.sampled_from(["+", "-", "*"]), children)
        .map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        children.map(lambda u: f"({u})/(1 + ({u})**2)"),
        st.tuples(st.sampled_from(["sin", "cos", "tanh", "sigmoid", "atan"]), children)
        .map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(["sin", "cos", "tanh"]), children)
        .map(lambda t: f"exp({t[0]}({t[1]}))"),
        st.tuples(children, st.sampled_from(["2", "3"])).map(lambda t: f"({t[0]})**{t[1]}"),
        st.tuples(SMALL, children).map(lambda t: f"{t[0]}*{t[1]}"),
    )


SMOOTH = st.recursive(LEAF, _extend, max_leaves=6)
COORDINATE = st.floats(min_value=-2, max_value=2, allow_nan=False).map(lambda v: round(v, 3))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SMOOTH, st.tuples(COORDINATE, COORDINATE, COORDINATE))
def test_smooth_expressions_agree_at_ordinary_points(expression: str,
                                                     values: tuple[float, float, float]) -> None:
    variables = parse_expression(expression).variables
    point = {name: value for name, value in zip(VARIABLES, values, strict=True) if name in variables}
    (result,) = check_points(expression, [point] if point else [])
    details = [(d.wrt, d.symbolic, d.autograd, d.message) for d in result.derivatives]
    assert result.status is Status.PASS, (expression, point, result.category, result.message,
                                          details)
    for derivative in result.derivatives:
        exact, computed = derivative.symbolic, derivative.autograd
        assert isinstance(exact, float) and isinstance(computed, float)
        assert math.isclose(computed, exact, rel_tol=1e-7, abs_tol=1e-12)

"""What the library takes as a point: every Python value gives a result, never an exception.

Each working row has its value and derivatives worked out by hand; each refused row its
category and a piece of the message that says what to do.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import sympy

from gradcheck_cli import InputError, Status, check, check_points, prepare
from gradcheck_cli.parse import Number
from gradcheck_cli.results import INPUT_CATEGORIES, Value

PI = math.pi

# (expression, point, value, [(wrt, derivative)]), every number by hand
ACCEPTED = [
    # A bare number is the value of an expression's one variable.
    pytest.param("x**2", 3, 9.0, [("x", 6.0)], id="bare-int"),
    pytest.param("x**2", 2.5, 6.25, [("x", 5.0)], id="bare-float"),
    pytest.param("x**2", -3, 9.0, [("x", -6.0)], id="bare-negative"),
    pytest.param("x**2", np.float64(3.0), 9.0, [("x", 6.0)], id="bare-np.float64"),
    pytest.param("x**2", np.int64(3), 9.0, [("x", 6.0)], id="bare-np.int64"),
    pytest.param("x**2", np.array(3.0), 9.0, [("x", 6.0)], id="bare-0d-array"),
    pytest.param("sin(x)", Fraction(0), 0.0, [("x", 1.0)], id="bare-fraction"),
    # Text, as on the command line.
    pytest.param("x*y", "x=1,y=2", 2.0, [("x", 2.0), ("y", 1.0)], id="text"),
    pytest.param("x*y", {"x": "pi/4", "y": 4}, PI, [("x", 4.0), ("y", PI / 4)], id="text-value"),
    pytest.param("x*y", {"x": " 3 ", "y": "2**3"}, 24.0, [("x", 8.0), ("y", 3.0)], id="text-blanks"),
    # Numbers of every kind in a mapping.
    pytest.param("x*y", {"x": 2, "y": 3.0}, 6.0, [("x", 3.0), ("y", 2.0)], id="int-float"),
    pytest.param("x*y", {"x": np.float64(2.0), "y": np.float32(3.0)}, 6.0,
                 [("x", 3.0), ("y", 2.0)], id="np-floats"),
    pytest.param("x*y", {"x": np.int64(2), "y": np.int32(3)}, 6.0, [("x", 3.0), ("y", 2.0)],
                 id="np-ints"),
    pytest.param("x**2", {"x": np.array(-3.0)}, 9.0, [("x", -6.0)], id="0d-array"),
    pytest.param("x**2", {"x": Fraction(1, 2)}, 0.25, [("x", 1.0)], id="fraction"),
    pytest.param("x**2", {"x": Decimal("0.5")}, 0.25, [("x", 1.0)], id="decimal"),
    pytest.param("x**2", {"x": sympy.Rational(1, 2)}, 0.25, [("x", 1.0)], id="sympy-rational"),
    pytest.param("x**2", {" x ": 3}, 9.0, [("x", 6.0)], id="name-with-blanks"),
    # Tensors: lists, tuples and arrays alike. d/dx sum(x**2) = 2*x.
    pytest.param("sum(x**2)", {"x": [1, 2]}, 5.0, [("x", (2.0, 4.0))], id="list"),
    pytest.param("sum(x**2)", {"x": (1, 2)}, 5.0, [("x", (2.0, 4.0))], id="tuple"),
    pytest.param("sum(x**2)", {"x": np.array([1.0, 2.0])}, 5.0, [("x", (2.0, 4.0))], id="array"),
    pytest.param("sum(x**2)", {"x": np.array([1, 2], dtype=np.int64)}, 5.0, [("x", (2.0, 4.0))],
                 id="int-array"),
    pytest.param("sum(A)", {"A": np.array([[1.0, 2.0], [3.0, 4.0]])}, 10.0,
                 [("A", ((1.0, 1.0), (1.0, 1.0)))], id="2d-array"),
    pytest.param("sum(A)", {"A": [(1, 2), [3, 4]]}, 10.0, [("A", ((1.0, 1.0), (1.0, 1.0)))],
                 id="nested-mixed"),
    pytest.param("sum(x)", {"x": ["pi/4", 1]}, PI / 4 + 1, [("x", (1.0, 1.0))], id="list-of-text"),
]


@pytest.mark.parametrize(("expression", "point", "value", "derivatives"), ACCEPTED)
def test_accepted_point(expression: str, point: Any, value: float,
                        derivatives: list[tuple[str, Value]]) -> None:
    result = check(expression, point)
    assert result.status is Status.PASS, result.message
    assert result.value is not None
    assert result.value.symbolic == pytest.approx(value, rel=1e-15)
    assert result.value.autograd == pytest.approx(value, rel=1e-15)
    assert [d.wrt[0] for d in result.derivatives] == [name for name, _ in derivatives]
    for derivative, (_, expected) in zip(result.derivatives, derivatives, strict=True):
        assert flat(derivative.symbolic) == pytest.approx(flat(expected), rel=1e-15)
        assert flat(derivative.autograd) == pytest.approx(flat(expected), rel=1e-15)


def flat(value: Value) -> list[Value]:
    """A scalar or nested tuples, as a flat list (pytest.approx takes no nesting)."""
    if isinstance(value, tuple):
        return [leaf for item in value for leaf in flat(item)]
    return [value]


# (point, the value the result shows for x): floats keep every digit
PRECISE = [
    pytest.param({"x": 1 / 3}, 1 / 3, id="float"),
    pytest.param({"x": np.float64(1 / 3)}, 1 / 3, id="np.float64"),
    pytest.param({"x": np.float32(0.1)}, float(np.float32(0.1)), id="np.float32"),
    pytest.param({"x": np.array([1 / 3, 2 / 3])}, (1 / 3, 2 / 3), id="array"),
    pytest.param({"x": np.array([0.1, 0.7], dtype=np.float32)},
                 (float(np.float32(0.1)), float(np.float32(0.7))), id="float32-array"),
    pytest.param({"x": [5e-324, 0.1 + 0.2]}, (5e-324, 0.30000000000000004), id="list"),
    pytest.param(np.float64(2 / 3), 2 / 3, id="bare"),
]


@pytest.mark.parametrize(("point", "shown"), PRECISE)
def test_a_float_keeps_every_digit(point: Any, shown: Value) -> None:
    (assignment,) = prepare("x", [point]).points[0]
    values = assignment.values
    assert values == (shown if isinstance(shown, tuple) else (shown,))
    assert check("x", point).point == (("x", shown),)


def test_an_integer_is_exact() -> None:
    # 2**60 + 1 is not a float64; as a float it would be 2**60.
    for value in (2**60 + 1, np.int64(2**60 + 1)):
        (assignment,) = prepare("x", [{"x": value}]).points[0]
        assert assignment.tree == Number(2**60 + 1, "1152921504606846977", 3)


def _self_containing() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


# (expression, point, category, a piece of the message)
REFUSED = [
    pytest.param("x*y", 3, "bad_option", 'give a mapping such as {"x": 1, "y": 2} or text such '
                 'as "x=1,y=2"', id="bare-two-variables"),
    pytest.param("2", 3, "bad_option", "give no point", id="bare-no-variable"),
    pytest.param("x**2", [1, 2], "bad_option", "check_points", id="bare-list"),
    pytest.param("x**2", np.array([3.0]), "bad_option", "numpy.ndarray is not a point",
                 id="bare-array"),
    pytest.param("x**2", object(), "bad_option", "not an object", id="bare-object"),
    pytest.param("x**2", b"x=1", "bad_option", "not a bytes", id="bare-bytes"),
    pytest.param("x**2", True, "bad_option", "x = True is a bool", id="bare-bool"),
    pytest.param("x**2", math.inf, "non_finite_point", "x = inf is not a finite number",
                 id="bare-inf"),
    pytest.param("x**2", {"x": True}, "bad_option", "x = True is a bool, not a number: give 1 or 0",
                 id="bool"),
    pytest.param("x**2", {"x": np.bool_(False)}, "bad_option", "x = False is a bool", id="np.bool"),
    pytest.param("x**2", {"x": None}, "missing_value", "x is None", id="none-value"),
    pytest.param("x**2", {"x": ""}, "missing_value", "x has no value", id="empty-text"),
    pytest.param("x**2", {1: 2}, "bad_option", "variable names are strings such as 'x'; the point "
                 "has the key 1, an int", id="int-key"),
    pytest.param("x**2", {sympy.Symbol("x"): 1}, "bad_option", "did you mean 'x'?", id="symbol-key"),
    pytest.param("x**2", {"pi": 1}, "parse_error", "'pi' is not a variable name", id="constant-key"),
    pytest.param("x**2", {"x=1,y": 1}, "parse_error", "is not a variable name", id="text-in-key"),
    pytest.param("x**2", {"x": 1, " x": 2}, "repeated_variable", "x is given twice",
                 id="repeated-key"),
    pytest.param("x**2", {"x": 1 + 2j}, "bad_option", "x = (1+2j) is a complex number",
                 id="complex"),
    pytest.param("x**2", {"x": np.complex128(1)}, "bad_option", "complex number", id="np.complex"),
    pytest.param("x**2", {"x": math.nan}, "non_finite_point", "x = nan is not a finite number",
                 id="nan"),
    pytest.param("x**2", {"x": np.float32("-inf")}, "non_finite_point", "x = -inf", id="np-inf"),
    pytest.param("x**2", {"x": Decimal("NaN")}, "non_finite_point", "x = nan", id="decimal-nan"),
    pytest.param("x**2", {"x": sympy.oo}, "non_finite_point", "x = inf", id="sympy-oo"),
    pytest.param("sum(x)", {"x": [1.0, math.nan]}, "non_finite_point", "x[1] = nan",
                 id="nan-in-list"),
    pytest.param("sum(x)", {"x": np.array([[1.0, 2.0], [3.0, np.inf]])}, "non_finite_point",
                 "x[1][1] = inf", id="inf-in-array"),
    pytest.param("sum(x)", {"x": [1, None]}, "missing_value", "x[1] is None", id="none-in-list"),
    pytest.param("sum(x)", {"x": [1, True]}, "bad_option", "x[1] = True is a bool",
                 id="bool-in-list"),
    pytest.param("x**2", {"x": sympy.Symbol("y")}, "bad_option", "x = y (a sympy.Symbol) is not a "
                 "real number", id="symbol-value"),
    pytest.param("x**2", {"x": {1}}, "bad_option", "x = {1} is a set, not a number", id="set"),
    pytest.param("x**2", {"x": b"1"}, "bad_option", "is a bytes, not a number", id="bytes"),
    pytest.param("x**2", {"x": "1,y=2"}, "parse_error", "", id="text-cannot-reach-another-value"),
    pytest.param("sum(x)", {"x": ["1, 2"]}, "parse_error", "tuples", id="text-stays-one-element"),
    pytest.param("x**2", {"x": "1/0"}, "non_finite_point", "x = 1/0 is not a finite number",
                 id="text-inf"),
    pytest.param("sum(x)", {"x": []}, "parse_error", "an empty list", id="empty-list"),
    pytest.param("sum(x)", {"x": np.ones(65)}, "limit", "x has 65 elements", id="big-array"),
    pytest.param("sum(x)", {"x": list(range(10**6))}, "limit", "MAX_TENSOR_ELEMENTS",
                 id="big-list"),
    pytest.param("sum(x)", {"x": [[[[[1]]]]]}, "limit", "4 deep", id="deep-list"),
    pytest.param("sum(x)", {"x": _self_containing()}, "limit", "MAX_DEPTH", id="list-in-itself"),
    pytest.param("x**2", {"x": 10**400}, "limit", "MAX_LITERAL_LENGTH", id="huge-int"),
    pytest.param("x**2", {"x": "1+" * 2500 + "1"}, "limit", "MAX_EXPRESSION_LENGTH",
                 id="long-text"),
    pytest.param("x**2", {"y": 1}, "unknown_variable", "y, which is not in the expression",
                 id="unknown-name"),
    pytest.param("x*y", {"x": 1}, "missing_value", "no value for y", id="missing-name"),
]


@pytest.mark.parametrize(("expression", "point", "category", "message"), REFUSED)
def test_refused_point_is_an_error_result(expression: str, point: Any, category: str,
                                          message: str) -> None:
    result = check(expression, point)  # never raises
    assert result.status is Status.ERROR
    assert result.category == category
    assert category in INPUT_CATEGORIES
    assert result.is_input_error
    assert result.message and message in result.message
    assert result.value is None and result.derivatives == ()
    with pytest.raises(InputError) as caught:
        prepare(expression, [point])
    assert caught.value.category == category
    (result,) = check_points(expression, [point])
    assert result.category == category


def test_an_error_in_a_text_value_points_into_name_equals_value() -> None:
    result = check("x", {"x": "pi/"})
    assert (result.category, result.error_text, result.column) == ("parse_error", "x=pi/", 6)
    result = check("x", {"x": "foo(1)"})
    assert (result.category, result.error_text, result.column) == ("unknown_function", "x=foo(1)", 3)


# -- check_points ---------------------------------------------------------------------------


@pytest.mark.parametrize("points", [
    pytest.param("x=3", id="text"),
    pytest.param({"x": 3}, id="mapping"),
    pytest.param(3, id="number"),
    pytest.param(np.float64(3), id="np.float64"),
    pytest.param(np.array(3.0), id="0d-array"),
])
def test_one_point_given_alone_is_one_point(points: Any) -> None:
    (result,) = check_points("x**2", points)
    assert result.status is Status.PASS
    assert result.point == (("x", 3.0),)
    assert result.value is not None and result.value.symbolic == 9.0
    assert result.derivatives[0].autograd == 6.0


@pytest.mark.parametrize("points", [
    pytest.param([1, 2, 3], id="list"),
    pytest.param((1, 2, 3), id="tuple"),
    pytest.param(np.array([1.0, 2.0, 3.0]), id="array"),
    pytest.param(range(1, 4), id="range"),
    pytest.param((x for x in [1, 2, 3]), id="generator"),
    pytest.param(["x=1", {"x": 2}, np.int64(3)], id="mixed"),
])
def test_several_points(points: Any) -> None:
    results = check_points("x**2", points)
    assert [r.point for r in results] == [(("x", 1.0),), (("x", 2.0),), (("x", 3.0),)]
    assert [r.value.symbolic for r in results if r.value] == [1.0, 4.0, 9.0]
    assert [r.derivatives[0].autograd for r in results] == [2.0, 4.0, 6.0]


@pytest.mark.parametrize(("points", "category", "message"), [
    pytest.param([1, None], "bad_option", "point 2 of 2: None is not a point", id="none"),
    pytest.param([None], "bad_option", "None is not a point", id="only-none"),
    pytest.param([{"x": 1}, {"x": math.nan}, {"x": 2}], "non_finite_point",
                 "point 2 of 3: x = nan", id="nan"),
    pytest.param([[1, 2]], "bad_option", "list is not a point", id="list-of-lists"),
    pytest.param(["x=1", "x=1/0"], "non_finite_point", "x = 1/0", id="text"),
])
def test_a_refused_point_among_several(points: Any, category: str, message: str) -> None:
    (result,) = check_points("x**2", points)
    assert (result.status, result.category) == (Status.ERROR, category)
    assert result.message and message in result.message


def test_no_points() -> None:
    nothing: tuple[None, list[str], tuple[str, ...]] = (None, [], ())
    for points in nothing:
        (result,) = check_points("x**2", points)
        assert (result.status, result.category) == (Status.ERROR, "missing_value")
        (result,) = check_points("2", points)
        assert result.status is Status.PASS
        assert result.value is not None and result.value.symbolic == 2.0


@pytest.mark.parametrize(("args", "kwargs", "fragment"), [
    ((3, "x=1"), {}, "the expression must be text"),
    ((None, "x=1"), {}, "the expression must be text"),
    (("x**2", "x=1"), {"wrt": 3}, "wrt must be variable names"),
    (("x**2", "x=1"), {"wrt": ["x", 1]}, "wrt must be variable names"),
    (("x**2", "x=1"), {"vjp": 3}, "vjp must be text"),
    (("x**2", "x=1"), {"dtype": 64}, "dtype must be one of"),
])
def test_options_of_the_wrong_type_give_an_error_result(args: tuple[Any, ...], kwargs: dict[str, Any],
                                                       fragment: str) -> None:
    result = check(*args, **kwargs)
    assert result.status is Status.ERROR
    assert result.category == "bad_option"
    assert result.message is not None and fragment in result.message

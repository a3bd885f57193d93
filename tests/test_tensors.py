"""Tensor variables: gradients, full Jacobians, vector-Jacobian products, point parsing.

Expected gradients are derived by hand in each test (or computed here with plain
Python from the hand formula), never copied from the program's output.
"""

from __future__ import annotations

import json
import math

import pytest

from gradcheck_cli.check import check
from gradcheck_cli.errors import InputError
from gradcheck_cli.limits import MAX_TENSOR_ELEMENTS
from gradcheck_cli.parse import parse_point
from gradcheck_cli.render.json import render_json
from gradcheck_cli.results import Status


def flat(value):
    if isinstance(value, tuple):
        return [v for item in value for v in flat(item)]
    return [value]


def approx_equal(actual, expected, rel=1e-12):
    """Nested tuples equal element by element (``None`` only where expected)."""
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == len(expected), (actual, expected)
        for a, e in zip(actual, expected, strict=True):
            approx_equal(a, e, rel)
        return
    if expected is None:
        assert actual is None
    elif math.isinf(expected):
        assert actual == expected
    else:
        assert abs(actual - expected) <= rel * max(1.0, abs(expected)), (actual, expected)


def only(result, name):
    (found,) = [d for d in result.derivatives if d.wrt == (name,)]
    return found


# -- 1. seed examples ---------------------------------------------------------------------

def test_half_sum_of_squares_gradient():
    # f = 1/2 * sum(5 (x_i + 1)^2); df/dx_i = 5 (x_i + 1) = 10 at x_i = 1
    result = check("(1/2)*sum(5*(x+1)**2)", "x=[1, 1]")
    assert result.status is Status.PASS
    assert result.value.symbolic == 0.5 * 5 * (2**2 + 2**2) == 10.0 * 2
    assert result.value.autograd == 20.0
    d = only(result, "x")
    assert d.shape == (2,)
    assert d.symbolic == (10.0, 10.0)
    assert d.autograd == (10.0, 10.0)
    approx_equal(d.finite_difference, (10.0, 10.0), 1e-8)
    assert result.point_dict["x"] == (1.0, 1.0)


def test_vjp_ones_on_eye():
    # d/dinp sum((inp + 1)^2) = 2 (inp + 1): 4 on the diagonal of eye(5), 2 elsewhere.
    result = check("(inp+1)**2", "inp=eye(5)", vjp="ones")
    assert result.status is Status.PASS
    expected = tuple(tuple(4.0 if i == j else 2.0 for j in range(5)) for i in range(5))
    d = only(result, "inp")
    assert d.shape == (5, 5)
    assert d.symbolic == expected
    assert d.autograd == expected
    assert result.value.shape == (5, 5)
    assert result.value.symbolic == tuple(tuple(4.0 if i == j else 1.0 for j in range(5))
                                          for i in range(5))


REGRESSION = [
    ([1.0, 2.0, 3.0], [2.0, 3.0, 5.0], 0.5, 0.1),
    ([0.5, -1.0, 2.0, 4.0], [1.0, 0.0, 3.0, 7.5], -0.25, 2.0),
]


@pytest.mark.parametrize(("xs", "ys", "w", "b"), REGRESSION)
def test_regression_loss_gradients(xs, ys, w, b):
    # L = mean(1/2 r_i^2), r_i = y_i - (w x_i + b)
    r = [y - (w * x + b) for x, y in zip(xs, ys, strict=True)]
    n = len(xs)
    loss = sum(0.5 * ri * ri for ri in r) / n
    dw = sum(-ri * x for ri, x in zip(r, xs, strict=True)) / n
    db = sum(-ri for ri in r) / n
    point = f"x={xs},y={ys},w={w},b={b}"
    result = check("mean(0.5*(y - (w*x + b))**2)", point, wrt="w,b")
    assert result.status is Status.PASS
    assert [d.wrt for d in result.derivatives] == [("w",), ("b",)]
    approx_equal(result.value.symbolic, loss)
    approx_equal(only(result, "w").symbolic, dw)
    approx_equal(only(result, "w").autograd, dw)
    approx_equal(only(result, "b").symbolic, db)
    approx_equal(only(result, "b").autograd, db)
    assert only(result, "w").shape == ()


# -- 2. full Jacobians and vjps -----------------------------------------------------------

def test_full_jacobian_of_elementwise_square():
    result = check("x**2", "x=[1, 2, 3]")
    assert result.status is Status.PASS
    d = only(result, "x")
    expected = ((2.0, 0.0, 0.0), (0.0, 4.0, 0.0), (0.0, 0.0, 6.0))
    assert d.shape == (3, 3)
    assert d.symbolic == expected
    assert d.autograd == expected
    assert result.value.symbolic == (1.0, 4.0, 9.0)


A = ((1.0, 2.0), (3.0, 4.0))
A_TEXT = "[[1, 2], [3, 4]]"
X = (5.0, 6.0)


def test_jacobian_of_matmul_is_the_matrix():
    result = check("matmul(A, x)", f"A={A_TEXT},x=[5, 6]", wrt="x")
    assert result.status is Status.PASS
    d = only(result, "x")
    assert d.shape == (2, 2)
    assert d.symbolic == A
    assert d.autograd == A
    assert result.value.symbolic == (1 * 5 + 2 * 6, 3 * 5 + 4 * 6)


@pytest.mark.parametrize(("vector", "v"), [("[1, 0]", (1.0, 0.0)), ("[0, 1]", (0.0, 1.0)),
                                           ("[2, -1]", (2.0, -1.0))])
def test_vjp_with_a_literal_vector(vector, v):
    # v^T A wrt x; outer(v, x) wrt A.
    result = check("matmul(A, x)", f"A={A_TEXT},x=[5, 6]", vjp=vector)
    assert result.status is Status.PASS
    grad_x = tuple(sum(v[i] * A[i][j] for i in range(2)) for j in range(2))
    grad_a = tuple(tuple(v[i] * X[j] for j in range(2)) for i in range(2))
    assert only(result, "x").symbolic == grad_x
    assert only(result, "x").autograd == grad_x
    assert only(result, "A").symbolic == grad_a
    assert only(result, "A").autograd == grad_a
    assert only(result, "A").shape == (2, 2)


def test_vjp_first_row():
    d = only(check("matmul(A, x)", f"A={A_TEXT},x=[5, 6]", wrt="x", vjp="[1, 0]"), "x")
    assert d.symbolic == A[0]
    assert d.shape == (2,)


def test_matmul_of_matrices_with_vjp_ones():
    # d/dA sum(A B) = ones @ B^T: row sums of B in each row; d/dB = A^T @ ones.
    b = ((5.0, 6.0), (7.0, 8.0))
    result = check("matmul(A, B)", f"A={A_TEXT},B=[[5, 6], [7, 8]]", vjp="ones")
    row_sums = tuple(sum(row) for row in b)
    col_sums_a = tuple(sum(A[i][k] for i in range(2)) for k in range(2))
    assert only(result, "A").symbolic == (row_sums, row_sums)
    assert only(result, "B").symbolic == tuple((c, c) for c in col_sums_a)
    assert only(result, "A").autograd == (row_sums, row_sums)


def test_vjp_on_a_scalar_output_says_it_needs_a_tensor_output():
    # A scalar's gradient needs no vector: --vjp is refused with the reason (issue 10),
    # by the engine when only it knows the output is a scalar (sum), else by the request.
    for expression, point in [("sum(x)", "x=[1, 2]"), ("x[0]", "x=[1, 2]"), ("x**2", "x=3")]:
        result = check(expression, point, vjp="ones")
        assert result.status is Status.ERROR
        assert result.category == "shape_error"
        assert result.message.startswith(f"--vjp needs a tensor output, and {expression} is a scalar")
        assert "scalar variables only" not in result.message


# -- 3. reductions ------------------------------------------------------------------------

# (expression, point, {name: expected gradient})
REDUCTIONS = [
    ("sum(x)", "x=[1, 2, 3]", {"x": (1.0, 1.0, 1.0)}),
    ("mean(x**2)", "x=[1, 2, 3, 4]", {"x": tuple(2 * v / 4 for v in (1, 2, 3, 4))}),
    ("prod(x)", "x=[2, 3, 4]", {"x": (3.0 * 4, 2.0 * 4, 2.0 * 3)}),
    ("dot(x, y)", "x=[1, 2],y=[3, 4]", {"x": (3.0, 4.0), "y": (1.0, 2.0)}),
    ("norm(x)", "x=[3, 4]", {"x": (3 / 5, 4 / 5)}),
    ("sum(x*y)", "x=[1, 2],y=[3, 4]", {"x": (3.0, 4.0), "y": (1.0, 2.0)}),
    ("sum(matmul(A, x))", f"A={A_TEXT},x=[5, 6]",
     {"x": (1.0 + 3.0, 2.0 + 4.0), "A": ((5.0, 6.0), (5.0, 6.0))}),
    ("sum(x)*y", "x=[1, 2],y=3", {"x": (3.0, 3.0), "y": 1.0 + 2.0}),
    ("sum(exp(x))", "x=[0, 1]", {"x": (1.0, math.e)}),
    ("sum(x**2)", "x=[[1, 2], [3, 4]]", {"x": ((2.0, 4.0), (6.0, 8.0))}),
]


@pytest.mark.parametrize(("expression", "point", "expected"), REDUCTIONS)
def test_reduction_gradients(expression, point, expected):
    result = check(expression, point)
    assert result.status is Status.PASS
    assert {d.wrt[0] for d in result.derivatives} == set(expected)
    for name, gradient in expected.items():
        d = only(result, name)
        approx_equal(d.symbolic, gradient)
        approx_equal(d.autograd, gradient)
        approx_equal(d.finite_difference, gradient, 1e-7)
        shape = () if not isinstance(gradient, tuple) else (
            (len(gradient), len(gradient[0])) if isinstance(gradient[0], tuple)
            else (len(gradient),))
        assert (d.shape or ()) == shape


# -- 4. point parsing ---------------------------------------------------------------------

# (point text, shape, values)
POINTS = [
    ("x=[1, 2, 3]", (3,), (1.0, 2.0, 3.0)),
    ("x=[[1, 2], [3, 4]]", (2, 2), (1.0, 2.0, 3.0, 4.0)),
    ("x=[[[1], [2]], [[3], [4]]]", (2, 2, 1), (1.0, 2.0, 3.0, 4.0)),
    ("x=[pi/4, 2]", (2,), (math.pi / 4, 2.0)),
    ("x=ones(3)", (3,), (1.0, 1.0, 1.0)),
    ("x=ones(2, 3)", (2, 3), (1.0,) * 6),
    ("x=zeros(2)", (2,), (0.0, 0.0)),
    ("x=eye(3)", (3, 3), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)),
    ("x=full(3, 2.5)", (3,), (2.5, 2.5, 2.5)),
    ("x=full(2, pi)", (2,), (math.pi, math.pi)),
    ("x=arange(3)", (3,), (0.0, 1.0, 2.0)),
    ("x=arange(2, 5)", (3,), (2.0, 3.0, 4.0)),
    ("x=arange(0.5, 3)", (3,), (0.5, 1.5, 2.5)),
    ("x=2", (), (2.0,)),
]


@pytest.mark.parametrize(("text", "shape", "values"), POINTS)
def test_parse_tensor_values(text, shape, values):
    (assignment,) = parse_point(text)
    assert assignment.name == "x"
    assert assignment.shape == shape
    assert assignment.values == values
    assert assignment.is_tensor == (shape != ())


def test_parse_several_tensors_and_scalars():
    a, b, c = parse_point("A=[[1, 2], [3, 4]], x=[5, 6], s=3")
    assert (a.name, a.shape, a.values) == ("A", (2, 2), (1.0, 2.0, 3.0, 4.0))
    assert (b.name, b.shape, b.values) == ("x", (2,), (5.0, 6.0))
    assert (c.name, c.shape, c.values) == ("s", (), (3.0,))


TOO_MANY = "[" + ", ".join(["1"] * (MAX_TENSOR_ELEMENTS + 1)) + "]"

# (point text, category)
REFUSED = [
    ("x=[[1, 2], [3]]", "parse_error"),
    ("x=[1, [2]]", "parse_error"),
    ("x=[]", "parse_error"),
    (f"x={TOO_MANY}", "limit"),
    ("x=ones(8, 9)", "limit"),           # 72 elements
    ("x=eye(9)", "limit"),               # 81 elements
    (f"x=ones({MAX_TENSOR_ELEMENTS + 1})", "limit"),
    (f"x=arange({MAX_TENSOR_ELEMENTS + 1})", "limit"),
    ("x=[1, exp(1000)]", "non_finite_point"),
    ("x=[1, log(0)]", "non_finite_point"),
    ("x=[1, 1/0]", "non_finite_point"),
]


@pytest.mark.parametrize(("text", "category"), REFUSED)
def test_refused_points(text, category):
    with pytest.raises(InputError) as caught:
        parse_point(text)
    assert caught.value.category == category
    result = check("sum(x)", text)
    assert result.status is Status.ERROR
    assert result.category == category


def test_exactly_max_tensor_elements_is_accepted():
    n = MAX_TENSOR_ELEMENTS
    result = check("sum(x)", f"x=ones({n})")
    assert result.status is Status.PASS
    assert result.value.symbolic == float(n)
    assert only(result, "x").symbolic == (1.0,) * n


# (expression, point, options, category)
BAD_REQUESTS = [
    ("x**2", "x=[1, 2, 3]", {"vjp": "[1, 2]"}, "shape_error"),
    ("x", "x=[1, 2]", {"vjp": "[[1, 2]]"}, "shape_error"),
    ("sum(x)", "x=[1, 2]", {"vjp": "[1, 2]"}, "shape_error"),
    ("x + y", "x=[1, 2],y=[1, 2, 3]", {}, "shape_error"),
    ("dot(x, y)", "x=[1, 2],y=[1, 2, 3]", {}, "shape_error"),
    ("x**2", "x=[1, 2]", {"order": 2}, "shape_error"),   # a Hessian needs a scalar output
    ("sum(x)", "x=[1, 2]", {"order": 2, "vjp": "ones"}, "bad_option"),
]


@pytest.mark.parametrize(("expression", "point", "options", "category"), BAD_REQUESTS)
def test_bad_tensor_requests_are_errors_not_crashes(expression, point, options, category):
    result = check(expression, point, **options)
    assert result.status is Status.ERROR
    assert result.category == category
    assert result.is_input_error
    assert result.message


# -- 5. element kinks and poles -----------------------------------------------------------

def test_relu_kink_in_one_element():
    result = check("sum(relu(x))", "x=[-1, 0, 2]")
    assert result.status is Status.WARN
    assert result.category == "not_differentiable"
    d = only(result, "x")
    assert d.worst_element == "x[1]"
    assert d.symbolic == (0.0, None, 1.0)
    assert d.autograd == (0.0, 0.0, 1.0)
    assert d.one_sided == (0.0, 1.0)
    assert d.message.startswith("x[1]:")
    assert result.value.symbolic == 0 + 0 + 2.0


def test_abs_kink_in_a_jacobian():
    result = check("abs(x)", "x=[0, 1]")
    d = only(result, "x")
    assert d.shape == (2, 2)
    assert d.symbolic == ((None, 0.0), (0.0, 1.0))
    assert d.autograd == ((0.0, 0.0), (0.0, 1.0))
    assert d.one_sided == (-1.0, 1.0)
    assert result.status is Status.WARN
    assert result.category == "not_differentiable"


def test_sqrt_pole_in_one_element():
    result = check("sum(sqrt(x))", "x=[0, 1]")
    d = only(result, "x")
    assert result.status is not Status.PASS
    assert result.category == "pole"
    assert d.category == "pole"
    assert d.worst_element == "x[0]"
    assert d.symbolic == (math.inf, 0.5)  # 1/(2 sqrt(x))
    assert d.autograd == (math.inf, 0.5)


def test_nan_element_never_passes():
    result = check("sum(x*sqrt(x))", "x=[0, 1]")
    d = only(result, "x")
    assert d.symbolic == (0.0, 1.5)  # (3/2) sqrt(x)
    assert math.isnan(d.autograd[0])
    assert d.autograd[1] == 1.5
    assert d.status is Status.FAIL
    assert d.category == "autograd_nan"
    assert d.worst_element == "x[0]"


@pytest.mark.parametrize(("expression", "point"), [
    ("sum(sign(x))", "x=[0, 1]"),
    ("sign(x)", "x=[0, 1]"),
])
def test_sign_jump_in_an_element_is_not_a_pass(expression, point):
    # sign jumps at 0: no derivative exists there (the scalar sign(x) at 0 is a warning).
    result = check(expression, point)
    d = only(result, "x")
    assert d.status is Status.WARN
    assert d.category == "not_differentiable"
    assert flat(d.symbolic)[0] is None
    assert result.status is Status.WARN


def test_norm_at_the_origin_is_not_differentiable():
    # norm(x) along x[1] = 0 is |x[0]|: one-sided derivatives -1 and 1, no gradient.
    # torch's 0 is a valid subgradient, so a warning, as for norm of a 1-vector at 0.
    one = check("norm(x)", "x=[0]")
    assert one.status is Status.WARN
    assert one.category == "not_differentiable"
    result = check("norm(x)", "x=[0, 0]")
    d = only(result, "x")
    assert d.autograd == (0.0, 0.0)
    assert d.symbolic == (None, None)
    assert d.category == "not_differentiable"
    assert result.status is Status.WARN


def test_removable_element_is_judged_like_the_scalar():
    # x/x at 0 is 0/0 as written, with limit 1: the scalar check calls it removable.
    scalar = check("x/x", "x=0")
    assert (scalar.status, scalar.category) == (Status.WARN, "removable")
    result = check("sum(x/x)", "x=[0, 1]")
    assert result.value.symbolic == 2.0
    assert math.isnan(result.value.autograd)
    assert result.value.category == "removable"
    assert result.value.status is Status.WARN


def test_derivative_outside_the_domain_is_not_a_pass():
    # log(x) at -1 has no real value, so no derivative; the scalar check warns "domain".
    scalar = check("log(x)", "x=-1")
    assert scalar.derivatives[0].category == "domain"
    result = check("sum(log(x))", "x=[-1, 1]")
    assert result.value.category == "domain"
    d = only(result, "x")
    assert d.autograd == (-1.0, 1.0)  # 1/x, the formula continued
    assert d.status is Status.WARN
    assert d.category == "domain"


# -- 6. JSON ------------------------------------------------------------------------------

def _strict(text: str):
    def refuse(token: str):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_json_of_tensor_checks_is_strict_and_nested():
    results = [check("x**2", "x=[1, 2]"), check("sum(relu(x))", "x=[-1, 0, 2]"),
               check("sum(sqrt(x))", "x=[0, 1]")]
    document = _strict(render_json(results))
    assert document["summary"] == {"total": 3, "pass": 1, "warn": 2, "fail": 0, "error": 0}
    jac, kink, pole = document["checks"]

    assert jac["point"] == {"x": [1.0, 2.0]}
    assert jac["value"]["symbolic"] == [1.0, 4.0]
    assert jac["value"]["shape"] == [2]
    (d,) = jac["derivatives"]
    assert d["shape"] == [2, 2]
    assert d["symbolic"] == [[2.0, 0.0], [0.0, 4.0]]
    assert d["autograd"] == [[2.0, 0.0], [0.0, 4.0]]
    assert d["wrt"] == ["x"]

    (d,) = kink["derivatives"]
    assert d["shape"] == [3]
    assert d["symbolic"] == [0.0, None, 1.0]
    assert d["autograd"] == [0.0, 0.0, 1.0]
    assert d["worst_element"] == "x[1]"
    assert d["one_sided"] == {"left": 0.0, "right": 1.0}
    assert d["status"] == "warn"

    (d,) = pole["derivatives"]
    assert d["symbolic"] == ["inf", 0.5]  # infinity spelled as a string
    assert d["autograd"] == ["inf", 0.5]
    assert d["category"] == "pole"

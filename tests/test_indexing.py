"""Indexing tensors: ``x[0]``, ``A[1, 2]``, ``x[-1]``, ``matmul(A, x)[1]`` (issue 10).

Integer literals only, a negative one counting from the end as in torch; fewer indices
than dimensions pick a sub-tensor. Out of range is refused with a caret, by the request
where the point gives the shape, by the engine where only it knows (``sum(x)[0]``).
Expected values and gradients are derived by hand in each row.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from nested import close

from gradcheck_cli.check import check, prepare
from gradcheck_cli.errors import InputError
from gradcheck_cli.parse import Index, Variable, parse_expression, unparse, walk
from gradcheck_cli.results import Status


def only(result, name):
    (found,) = [d for d in result.derivatives if d.wrt == (name,)]
    return found




# -- 1. the parser: what an index is ------------------------------------------------------

# (text, unparsed, indices of the outermost Index, column of its '[', columns of its indices)
PARSED = [
    ("x[0]", "x[0]", (0,), 2, (3,)),
    ("A[1, 2]", "A[1, 2]", (1, 2), 2, (3, 6)),
    ("x[-1]", "x[-1]", (-1,), 2, (3,)),
    ("x[+1]", "x[1]", (1,), 2, (3,)),
    ("x[0,]", "x[0]", (0,), 2, (3,)),
    ("A[0][1]", "A[0][1]", (1,), 5, (6,)),
    ("(x*y)[0]", "(x*y)[0]", (0,), 6, (7,)),
    ("matmul(A, x)[1]", "matmul(A, x)[1]", (1,), 13, (14,)),
    ("sum(x) + y[ 2 ]", "y[2]", (2,), 11, (13,)),
    ("x^2 + x[3]", "x[3]", (3,), 8, (9,)),  # columns count the '^' as the user typed it
]


@pytest.mark.parametrize(("text", "shown", "indices", "column", "columns"), PARSED)
def test_indices_parse(text, shown, indices, column, columns):
    tree = parse_expression(text).tree
    found = next(n for n in walk(tree) if isinstance(n, Index))  # the outermost
    assert unparse(found) == shown
    assert found.indices == indices
    assert found.column == column
    assert found.columns == columns


def test_unary_minus_binds_looser_than_an_index():
    # As in Python and torch: -x[0]**2 is -((x[0])**2); (-x)[0] indexes the negation.
    assert unparse(parse_expression("-x[0]**2").tree) == "-(x[0]**2)"
    tree = parse_expression("(-x)[0]").tree
    assert isinstance(tree, Index) and unparse(tree) == "(-x)[0]"
    assert parse_expression("x[0]*y").variables == ("x", "y")
    assert isinstance(parse_expression("x[0]").tree.operand, Variable)


# (text, category, column, a fragment the message must contain)
REFUSED_BY_THE_PARSER = [
    ("x[1:2]", "parse_error", 3, "slices are not allowed"),
    ("x[::-1]", "parse_error", 3, "slices are not allowed"),
    ("A[1, 0:2]", "parse_error", 6, "slices are not allowed"),
    ("x[i]", "parse_error", 3, "the index 'i' at column 3 is not an integer literal"),
    ("x[-i]", "parse_error", 3, "not an integer literal"),
    ("x[1+1]", "parse_error", 3, "not an integer literal"),
    ("x[len(x)]", "parse_error", 3, "not an integer literal"),
    ("x[1.0]", "parse_error", 3, "the index '1.0' at column 3 is not an integer literal"),
    ("x[1e0]", "parse_error", 3, "not an integer literal"),
    ("x[True]", "parse_error", 3, "not an integer literal"),
    ("x[None]", "parse_error", 3, "not an integer literal"),
    ("x[...]", "parse_error", 3, "not an integer literal"),
    ("x['a']", "parse_error", 3, "not an integer literal"),
    ("x[[0, 1]]", "parse_error", 3, "not an integer literal"),
    ("x[0x1]", "parse_error", 3, "not an integer literal"),
    ("x[1_0]", "parse_error", 3, "not an integer literal"),
    ("x[--1]", "parse_error", 3, "not an integer literal"),
    ("x[()]", "parse_error", 2, "has no index"),
    ("x[" + "9" * 65 + "]", "limit", 3, "MAX_LITERAL_LENGTH"),
    # subscripts of numbers: nothing to index
    ("pi[0]", "parse_error", 3, "pi is a number, not a tensor"),
    ("2[0]", "parse_error", 2, "2 is a number, not a tensor"),
    ("x + (1+2)[0]", "parse_error", 10, "1+2 is a number, not a tensor"),
    ("sin(1)[0]", "parse_error", 7, "sin(1) is a number, not a tensor"),
    # what an index is applied to is checked as any expression is
    ("sin[0]", "parse_error", 1, "'sin' at column 1 is a function"),
    ("x.T[0]", "parse_error", 1, "attribute access"),
    ("[1, 2][0]", "parse_error", 1, "lists"),
    ("x[0](2)", "parse_error", 1, "did you mean x[0]*(2)?"),
]


@pytest.mark.parametrize(("text", "category", "column", "fragment"), REFUSED_BY_THE_PARSER)
def test_refused_by_the_parser(text, category, column, fragment):
    with pytest.raises(InputError) as caught:
        parse_expression(text)
    error = caught.value
    assert error.category == category
    assert error.column == column
    assert fragment in error.message
    result = check(text, "x=[1, 2]")
    assert (result.status, result.category, result.column) == (Status.ERROR, category, column)


# -- 2. values and gradients, by hand -----------------------------------------------------

M = "[[1, 2, 3], [4, 5, 6]]"
_E = (math.e, math.e**2, math.e**3)
A2 = "[[1, 2], [3, 4]]"

# (expression, point, exact value, {variable: exact gradient})
SCALAR_OUTPUTS = [
    ("x[0]", "x=[3, 4]", 3.0, {"x": (1.0, 0.0)}),
    ("x[-1]**2", "x=[3, 4]", 16.0, {"x": (0.0, 8.0)}),
    ("x[0]*x[1]", "x=[2, 5]", 10.0, {"x": (5.0, 2.0)}),
    ("x[0]*x[1]", "x=[2, 5, 7]", 10.0, {"x": (5.0, 2.0, 0.0)}),
    ("A[1, 2]", f"A={M}", 6.0, {"A": ((0.0, 0.0, 0.0), (0.0, 0.0, 1.0))}),
    ("A[1][2]", f"A={M}", 6.0, {"A": ((0.0, 0.0, 0.0), (0.0, 0.0, 1.0))}),
    ("A[-1, -3]*A[0, 0]", f"A={M}", 4.0 * 1.0, {"A": ((4.0, 0.0, 0.0), (1.0, 0.0, 0.0))}),
    ("sum(A[0])", f"A={M}", 1.0 + 2 + 3, {"A": ((1.0, 1.0, 1.0), (0.0, 0.0, 0.0))}),
    # (A x)_1 = 3*5 + 4*6; d/dx = row 1 of A; d/dA = x in row 1
    ("matmul(A, x)[1]", f"A={A2},x=[5, 6]", 3.0 * 5 + 4 * 6,
     {"A": ((0.0, 0.0), (5.0, 6.0)), "x": (3.0, 4.0)}),
    ("(x*y)[0]", "x=[2, 3],y=[5, 7]", 10.0, {"x": (5.0, 0.0), "y": (2.0, 0.0)}),
    ("sin(x)[1]", "x=[0, 0.5]", math.sin(0.5), {"x": (0.0, math.cos(0.5))}),
    ("exp(x[0]) + x[1]**3", "x=[0, 2]", 1.0 + 8.0, {"x": (1.0, 12.0)}),
    # a scalar beside the tensor: d/ds (s * x[1]) = x[1]
    ("s*x[1]", "x=[2, 5],s=3", 15.0, {"x": (0.0, 3.0), "s": 5.0}),
    ("(x - y)[0]**2 + (x - y)[1]**2", "x=[3, 1],y=[1, 1]", 4.0,
     {"x": (4.0, 0.0), "y": (-4.0, 0.0)}),
    # softmax s: ds_i/dz_j = s_i (delta_ij - s_j); at z = 0 both s are 1/2
    ("softmax(z)[0]", "z=[0, 0]", 0.5, {"z": (0.25, -0.25)}),
    # log_softmax: d/dz_j log s_i = delta_ij - s_j
    ("log_softmax(z)[1]", "z=[0, 0]", -math.log(2), {"z": (-0.5, 0.5)}),
    # cross-entropy of class 2: log(sum(exp(z))) - z_2, gradient softmax(z) - onehot(2)
    ("-log_softmax(z)[2]", "z=[1, 2, 3]", math.log(sum(_E)) - 3,
     {"z": (_E[0] / sum(_E), _E[1] / sum(_E), _E[2] / sum(_E) - 1)}),
]


@pytest.mark.parametrize(("expression", "point", "value", "gradients"), SCALAR_OUTPUTS)
def test_an_element_is_a_scalar_output(expression, point, value, gradients):
    result = check(expression, point)
    assert result.status is Status.PASS, result.message
    assert result.value.shape == ()  # one element picked: the output is a scalar
    close(result.value.symbolic, value)
    close(result.value.autograd, value)
    assert {d.wrt[0] for d in result.derivatives} == set(gradients)
    for name, gradient in gradients.items():
        d = only(result, name)
        close(d.symbolic, gradient)
        close(d.autograd, gradient)
        close(d.finite_difference, gradient, 1e-7)


def test_a_row_of_a_matrix_is_a_tensor_output():
    # A[0] of a 2x2 matrix is (A00, A01): its Jacobian d A[0][i] / d A[j, k] is 1 where
    # j = 0 and k = i, shape (2,) + (2, 2).
    result = check("A[0]", f"A={A2}")
    assert result.status is Status.PASS
    assert result.value.symbolic == (1.0, 2.0)
    d = only(result, "A")
    assert d.shape == (2, 2, 2)
    expected = tuple(tuple(tuple(1.0 if (j, k) == (0, i) else 0.0 for k in range(2))
                           for j in range(2)) for i in range(2))
    assert d.symbolic == expected
    assert d.autograd == expected


def test_an_element_with_a_kink_is_judged_like_a_scalar():
    # relu(x)[1] at x = [1, 0]: relu has a kink at x[1] = 0; torch's relu'(0) = 0.
    result = check("relu(x)[1]", "x=[1, 0]")
    d = only(result, "x")
    assert result.status is Status.WARN
    assert d.category == "not_differentiable"
    assert d.worst_element == "x[1]"
    assert d.symbolic == (0.0, None)
    assert d.autograd == (0.0, 0.0)
    assert d.one_sided == (0.0, 1.0)


def test_an_underflow_is_named_at_the_element_picked():
    # exp(-800) = 3.67e-348 is 0 in float64, so log(exp(x)[0]) is -inf, not -800.
    result = check("log(exp(x)[0])", "x=[-800, 0]")
    assert (result.status, result.category) == (Status.FAIL, "underflow")
    assert result.value.symbolic == -800.0
    assert result.value.autograd == -math.inf
    assert "exp(x)[0] is 3.66787458417769e-348, which is 0 in float64, so log(exp(x)[0]) is " \
        "computed from 0" in result.message
    # The other element is an ordinary number: nothing underflows there.
    other = check("log(exp(x)[1])", "x=[-800, 0]")
    assert other.status is Status.PASS
    assert other.value.symbolic == 0.0


# -- 3. shapes that do not fit: refused with a caret -----------------------------------------

# (expression, point, column, a fragment the message must contain)
REFUSED_BY_THE_REQUEST = [
    ("x[0]", "x=3", 2, "'x[0]' at column 2: x is a scalar here, not a tensor"),
    ("(x*y)[0]", "x=2,y=3", 6, "x*y is a scalar here"),
    ("x[3]", "x=[1, 2, 3]", 3, "the index 3 at column 3 is out of range: x has size 3 (shape (3,)), "
     "so an index runs from 0 to 2, or from -3 to -1 counting from the end"),
    ("x[-4]", "x=[1, 2, 3]", 3, "the index -4 at column 3 is out of range"),
    ("x[0, 0]", "x=[1, 2]", 2, "gives 2 indices, but x has 1 dimension (shape (2,))"),
    ("A[1, 2, 0]", f"A={M}", 2, "gives 3 indices, but A has 2 dimensions (shape (2, 3))"),
    ("A[0, 3]", f"A={M}", 6, "dimension 1 of A has size 3 (shape (2, 3))"),
    ("A[2, 0]", f"A={M}", 3, "dimension 0 of A has size 2"),
    ("A[0][3]", f"A={M}", 6, "A[0] has size 3 (shape (3,))"),
    ("1 + exp(x)[2]", "x=[1, 2]", 12, "exp(x) has size 2"),
    ("sin(x[0]) + y[5]", "x=[1],y=[1, 2]", 15, "y has size 2"),
]


@pytest.mark.parametrize(("expression", "point", "column", "fragment"), REFUSED_BY_THE_REQUEST)
def test_refused_by_the_request(expression, point, column, fragment):
    # The light core refuses these: no SymPy, no torch.
    with pytest.raises(InputError) as caught:
        prepare(expression, point)
    error = caught.value
    assert error.category == "shape_error"
    assert error.column == column
    assert error.text == expression
    assert fragment in error.message
    result = check(expression, point)
    assert (result.status, result.category, result.column) == (Status.ERROR, "shape_error", column)
    assert result.is_input_error


# Shapes only the engine knows: the value of sum(...) or matmul(...).
REFUSED_BY_THE_ENGINE = [
    ("sum(x)[0]", "x=[1, 2, 3]", 7, "'sum(x)[0]' at column 7: sum(x) is a scalar here"),
    ("matmul(A, x)[2]", f"A={A2},x=[5, 6]", 14, "the index 2 at column 14 is out of range: "
     "matmul(A, x) has size 2 (shape (2,))"),
    ("matmul(A, x)[0, 0]", f"A={A2},x=[5, 6]", 13, "gives 2 indices, but matmul(A, x) has 1 "
     "dimension"),
    ("dot(x, x)[0] + 1", "x=[1, 2]", 10, "dot(x, x) is a scalar here"),
    ("softmax(z)[2]", "z=[1, 2]", 12, "softmax(z) has size 2 (shape (2,))"),
]


@pytest.mark.parametrize(("expression", "point", "column", "fragment"), REFUSED_BY_THE_ENGINE)
def test_refused_by_the_engine(expression, point, column, fragment):
    prepare(expression, point)  # the request cannot tell
    result = check(expression, point)
    assert result.status is Status.ERROR
    assert result.category == "shape_error"
    assert result.column == column
    assert result.error_text == expression
    assert fragment in result.message
    assert result.is_input_error


def test_several_points_name_the_one_that_does_not_fit():
    with pytest.raises(InputError) as caught:
        prepare("x[1]", ["x=[1, 2]", "x=[3]"])
    assert caught.value.message.startswith("point 2 of 2: the index 1 at column 3 is out of range")
    assert caught.value.column == 3


# -- 4. the command line ------------------------------------------------------------------------

def test_cli_checks_an_element(gradcheck):
    result = gradcheck("x[0]*x[1]", "--at", "x=[2, 5]")
    assert result.exit_code == 0
    assert "pass" in result.stdout


@pytest.mark.parametrize(("expression", "point", "column"), [
    ("x[3]", "x=[1, 2, 3]", 3),       # the request
    ("sum(x)[0]", "x=[1, 2]", 7),     # the engine
    ("x[1:2]", "x=[1, 2]", 3),        # the parser
])
def test_cli_refusals_exit_2_with_a_caret(gradcheck, expression, point, column):
    result = gradcheck(expression, "--at", point)
    assert result.exit_code == 2
    # Refused before the check: on standard error; by the engine: in the report.
    shown = result.stderr if expression != "sum(x)[0]" else result.stdout
    assert "error (shape_error)" in shown or "error (parse_error)" in shown
    lines = shown.splitlines()
    at = lines.index("  " + expression)
    assert lines[at + 1] == "  " + " " * (column - 1) + "^"
    assert "Traceback" not in result.stderr + result.stdout


def test_a_check_file_with_indices_runs_in_workers(gradcheck, tmp_path: Path):
    # Each line goes to a worker process: the Index node travels there and back.
    checks = tmp_path / "checks.txt"
    checks.write_text("x[0]*x[1] @ x=[2, 5]\nA[1, 0]**2 @ A=[[1, 2], [3, 4]]\nx[2] @ x=[1, 2]\n")
    result = gradcheck("--file", str(checks), "--format", "jsonl", "--jobs", "1")
    assert result.exit_code == 1  # the third line is refused
    *checks_out, summary = [json.loads(line) for line in result.stdout.splitlines()]
    assert summary["summary"]["pass"] == 2
    assert [c["status"] for c in checks_out] == ["pass", "pass", "error"]
    assert checks_out[0]["derivatives"][0]["symbolic"] == [5.0, 2.0]
    assert checks_out[1]["derivatives"][0]["symbolic"] == [[0.0, 0.0], [6.0, 0.0]]  # 2*A[1, 0]
    assert checks_out[2]["category"] == "shape_error"

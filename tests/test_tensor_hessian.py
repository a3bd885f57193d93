"""``--order 2`` (and above) on tensor variables: the Hessian of a scalar output (issue 10).

Each multiset of variables is one partial, a block of shape x.shape + y.shape: the
(x, x) block of a vector x is its Hessian matrix. Every entry is judged as a scalar
check's partial: SymPy's exact derivative against autograd twice (reverse over
reverse), with central finite differences of the torch forward computation beside them.
At order 2 and above each element counts as a variable for MAX_PARTIALS.

Every expected block below is derived by hand in its comment.
"""

from __future__ import annotations

import json
import math

import pytest
from nested import close

from gradcheck_cli.check import check, prepare
from gradcheck_cli.errors import InputError
from gradcheck_cli.limits import MAX_PARTIALS
from gradcheck_cli.render.json import render_json
from gradcheck_cli.results import Status


def block(result, *wrt):
    (found,) = [d for d in result.derivatives if d.wrt == wrt]
    return found




def diag(*values):
    return tuple(tuple(v if i == j else 0.0 for j in range(len(values)))
                 for i, v in enumerate(values))


S05, C05 = math.sin(0.5), math.cos(0.5)

# (expression, point, options, {wrt: expected block})
HESSIANS = [
    # d2/dxi dxj sum(x**3) = 6 xi if i = j, else 0
    ("sum(x**3)", "x=[1, 2, -0.5]", {}, {("x", "x"): diag(6.0, 12.0, -3.0)}),
    # f = S**2, S = x.x = 5: d2f/dxi dxj = 4 S delta_ij + 8 xi xj
    ("dot(x, x)**2", "x=[1, 2]", {}, {("x", "x"): ((4 * 5 + 8 * 1.0, 8 * 2.0),
                                                   (8 * 2.0, 4 * 5 + 8 * 4.0))}),
    # only x0 x1 is there: the off-diagonal ones; x2 appears in no partial
    ("x[0]*x[1]", "x=[2, 5, 7]", {}, {("x", "x"): ((0.0, 1.0, 0.0), (1.0, 0.0, 0.0),
                                                   (0.0, 0.0, 0.0))}),
    # mean(x**2) = (1/n) sum x_i**2: (2/n) I, n = 4
    ("mean(x**2)", "x=[1, -2, 3, 0]", {}, {("x", "x"): diag(0.5, 0.5, 0.5, 0.5)}),
    # norm: (I - u u^T)/|x|, |x| = 5, u = (3/5, 4/5)
    ("norm(x)", "x=[3, 4]", {}, {("x", "x"): (((1 - 0.36) / 5, -0.48 / 5),
                                              (-0.48 / 5, (1 - 0.64) / 5))}),
    # log(sum(exp(x))) at 0: p = (1/2, 1/2), diag(p) - p p^T
    ("log(sum(exp(x)))", "x=[0, 0]", {}, {("x", "x"): ((0.25, -0.25), (-0.25, 0.25))}),
    # e^x0 sin x1 at (0, 0.5): [[e^x0 sin x1, e^x0 cos x1], [e^x0 cos x1, -e^x0 sin x1]]
    ("exp(x[0])*sin(x[1])", "x=[0, 0.5]", {}, {("x", "x"): ((S05, C05), (C05, -S05))}),
    # two vectors: d2/dxi dyj sum(x*y) = delta_ij; nothing else
    ("sum(x*y)", "x=[1, 2],y=[3, 4]", {}, {("x", "x"): diag(0.0, 0.0),
                                           ("x", "y"): diag(1.0, 1.0),
                                           ("y", "y"): diag(0.0, 0.0)}),
    # a vector and a scalar: (x, x) = 6 s x, (x, s) = 3 x**2, (s, s) = 0
    ("sum(x**3)*s", "x=[1, 2],s=3", {}, {("x", "x"): diag(18.0, 36.0),
                                         ("x", "s"): (3.0, 12.0),
                                         ("s", "s"): 0.0}),
    # y does not reach any first derivative but its own: zeros where autograd has None
    ("sum(x**2) + y", "x=[1, 2],y=5", {}, {("x", "x"): diag(2.0, 2.0), ("x", "y"): (0.0, 0.0),
                                           ("y", "y"): 0.0}),
    # x^T A x: the Hessian in x is A + A^T
    ("sum(x*matmul(A, x))", "A=[[1, 2], [3, 4]],x=[1, -1]", {"wrt": "x"},
     {("x", "x"): ((2.0, 5.0), (5.0, 8.0))}),
    # a matrix: d2/dAij dAkl sum(A**2) = 2 if (i, j) = (k, l): shape (2, 2) + (2, 2)
    ("sum(A**2)", "A=[[1, 2], [3, 4]]", {},
     {("A", "A"): tuple(tuple(tuple(tuple(2.0 if (i, j) == (k, m) else 0.0 for m in range(2))
                                    for k in range(2)) for j in range(2)) for i in range(2))}),
    # order 3: d3/dxi dxj dxk sum(x**4) = 24 xi if i = j = k, else 0
    ("sum(x**4)", "x=[1, 2]", {"order": 3},
     {("x", "x", "x"): (((24.0, 0.0), (0.0, 0.0)), ((0.0, 0.0), (0.0, 48.0)))}),
    # float32 autograd, exact reference: within float32's tolerances
    ("sum(x**3)", "x=[1, 2]", {"dtype": "float32"}, {("x", "x"): diag(6.0, 12.0)}),
]


@pytest.mark.parametrize(("expression", "point", "options", "blocks"), HESSIANS)
def test_hessian_blocks(expression, point, options, blocks):
    options = {"order": 2, **options}
    result = check(expression, point, **options)
    assert result.status is Status.PASS, result.message
    assert [d.wrt for d in result.derivatives] == list(blocks)
    float32 = options.get("dtype") == "float32"
    for wrt, expected in blocks.items():
        d = block(result, *wrt)
        close(d.symbolic, expected)
        close(d.autograd, expected, 1e-6 if float32 else 1e-12)
        # central differences of order n: coarser, the more so for order 3 and float32
        close(d.finite_difference, expected, 1e-2 if float32 else 1e-4 if len(wrt) == 3 else 1e-6)
        shape = _shape(expected)
        assert (d.shape or ()) == shape
        assert d.status is Status.PASS


def _shape(value):
    shape = []
    while isinstance(value, tuple):
        shape.append(len(value))
        value = value[0]
    return tuple(shape)


def test_entries_name_their_elements():
    d = block(check("dot(x, x)**2", "x=[1, 2]", order=2), "x", "x")
    # 4 S + 8 x0**2 in SymPy's words, for the first entry
    assert d.formula.startswith("d^2/dx[0]dx[0]: ")
    assert d.worst_element == "d^2/dx[0]dx[0]"


def test_autograd_nan_in_a_mixed_entry_fails():
    # f = sum(x**(3/2)) as x*sqrt(x), at x = (0, 1). Exact: d2f/dx0^2 = (3/4)/sqrt(x0), a
    # pole at 0; the mixed entries are 0; d2f/dx1^2 = 3/4. Torch's double backward
    # multiplies the zero seed of the other element by sqrt's infinite derivative at 0:
    # nan in row 1, where the exact value is 0. The scalar check of x*sqrt(x)*y at x=0
    # fails its mixed partial the same way.
    result = check("sum(x*sqrt(x))", "x=[0, 1]", order=2)
    d = block(result, "x", "x")
    assert d.symbolic == ((math.inf, 0.0), (0.0, 0.75))
    assert math.isnan(d.autograd[0][0])
    assert d.autograd[0][1] == 0.0
    assert math.isnan(d.autograd[1][0])
    assert d.autograd[1][1] == 0.75
    assert (d.status, d.category) == (Status.FAIL, "autograd_nan")
    assert d.worst_element == "d^2/dx[1]dx[0]"
    assert d.message == ("d^2/dx[1]dx[0]: autograd gives nan, but the exact second derivative "
                         "is 0")
    assert result.status is Status.FAIL
    scalar = check("x*sqrt(x)*y", "x=0,y=1", order=2)
    assert block(scalar, "x", "y").category == "autograd_nan"


def test_a_kink_in_one_element_is_a_warning():
    # sum(abs(x)) at x = (0, 1): abs' = sign jumps at x0 = 0, so d2/dx0^2 does not exist;
    # the rest of the Hessian is 0. Torch's 0 is PyTorch's convention.
    d = block(check("sum(abs(x))", "x=[0, 1]", order=2), "x", "x")
    assert d.symbolic == ((None, 0.0), (0.0, 0.0))
    assert d.autograd == ((0.0, 0.0), (0.0, 0.0))
    assert (d.status, d.category) == (Status.WARN, "not_differentiable")
    assert d.worst_element == "d^2/dx[0]dx[0]"


def test_json_carries_the_blocks():
    document = json.loads(render_json([check("sum(x*y)", "x=[1, 2],y=[3, 4]", order=2)]))
    (entry,) = document["checks"]
    assert [d["wrt"] for d in entry["derivatives"]] == [["x", "x"], ["x", "y"], ["y", "y"]]
    mixed = entry["derivatives"][1]
    assert mixed["shape"] == [2, 2]
    assert mixed["symbolic"] == [[1.0, 0.0], [0.0, 1.0]]
    assert mixed["autograd"] == [[1.0, 0.0], [0.0, 1.0]]


# -- MAX_PARTIALS: each element counts ------------------------------------------------------

# (point, options, distinct partials made, accepted)
COUNTS = [
    ("x=ones(10)", {"order": 2}, 55, True),        # 10*11/2
    ("x=ones(11)", {"order": 2}, 66, False),       # 11*12/2
    ("x=ones(6),y=ones(5)", {"order": 2}, 66, False),
    ("x=ones(6),y=ones(5)", {"order": 2, "wrt": "x"}, 21, True),
    ("x=ones(6)", {"order": 3}, 56, True),         # 6*7*8/6
    ("x=ones(7)", {"order": 3}, 84, False),        # 7*8*9/6
    ("x=ones(4)", {"order": 4}, 35, True),         # 4*5*6*7/24
    ("x=ones(5)", {"order": 4}, 70, False),        # 5*6*7*8/24
]


@pytest.mark.parametrize(("point", "options", "count", "accepted"), COUNTS)
def test_max_partials_counts_elements(point, options, count, accepted):
    assert MAX_PARTIALS == 64
    expression = "sum(x**2)" if "y" not in point else "sum(x**2) + sum(y**2)"
    if accepted:
        prepare(expression, point, **options)
        return
    with pytest.raises(InputError) as caught:
        prepare(expression, point, **options)
    assert caught.value.category == "limit"
    assert f"makes {count} partial derivatives; the limit is MAX_PARTIALS = 64" in caught.value.message
    assert "each element of a tensor counts as a variable" in caught.value.message


def test_the_largest_accepted_hessian_is_checked_whole():
    # sum(x**3) over 10 elements: diag(6 x_i), x = 0..9
    d = block(check("sum(x**3)", "x=arange(10)", order=2), "x", "x")
    assert d.status is Status.PASS
    assert d.symbolic == diag(*(6.0 * i for i in range(10)))
    assert d.autograd == d.symbolic


def test_scalar_variables_keep_their_count():
    names = [f"v{i}" for i in range(11)]
    with pytest.raises(InputError) as caught:
        prepare("+".join(names), ",".join(f"{n}=1" for n in names), order=2)
    assert caught.value.message.startswith("order 2 in 11 variables makes 66 partial derivatives")


# -- what a Hessian needs: a scalar output, no --vjp -----------------------------------------

# (expression, point, options, category, message start, refused by the request)
REFUSED = [
    ("x**2", "x=[1, 2]", {"order": 2}, "shape_error",
     "--order 2 checks the derivatives of a scalar output, and x**2 has shape (2,) here: check a "
     "scalar made from it, such as sum(x**2) or one element, (x**2)[0]", True),
    ("A[0]", "A=[[1, 2], [3, 4]]", {"order": 3}, "shape_error",
     "--order 3 checks the derivatives of a scalar output, and A[0] has shape (2,)", True),
    ("matmul(A, x)", "A=[[1, 2], [3, 4]],x=[1, 1]", {"order": 2}, "shape_error",
     "--order 2 checks the derivatives of a scalar output, and matmul(A, x) has shape (2,)", False),
    ("sum(x)", "x=[1, 2]", {"order": 2, "vjp": "ones"}, "bad_option",
     "--vjp does not combine with --order 2: a vector-Jacobian product is of first derivatives",
     True),
    # --vjp of a scalar output: it needs a tensor output (issue 10), whatever the order
    ("x**2", "x=3", {"order": 2, "vjp": "ones"}, "shape_error",
     "--vjp needs a tensor output, and x**2 is a scalar here", True),
    ("x**2", "x=3", {"vjp": "ones"}, "shape_error",
     "--vjp needs a tensor output, and x**2 is a scalar here: leave --vjp out", True),
    ("x**2", "x=3", {"vjp": "[1, 2]"}, "shape_error",
     "--vjp needs a tensor output, and x**2 is a scalar here", True),
    ("x[1]", "x=[1, 2]", {"vjp": "ones"}, "shape_error",
     "--vjp needs a tensor output, and x[1] is a scalar here", True),
    ("sum(x)", "x=[1, 2]", {"vjp": "[1, 2]"}, "shape_error",
     "--vjp needs a tensor output, and sum(x) is a scalar here", False),
]


@pytest.mark.parametrize(("expression", "point", "options", "category", "start", "early"), REFUSED)
def test_refused(expression, point, options, category, start, early):
    if early:
        with pytest.raises(InputError):
            prepare(expression, point, **options)
    else:
        prepare(expression, point, **options)  # only the engine knows the output's shape
    result = check(expression, point, **options)
    assert (result.status, result.category) == (Status.ERROR, category)
    assert result.is_input_error
    assert result.message.startswith(start), result.message
    assert "scalar variables only" not in result.message


# -- the command line ---------------------------------------------------------------------------

def test_cli_hessian(gradcheck):
    result = gradcheck("dot(x, x)**2", "--at", "x=[1, 2]", "--order", "2", "--format", "json")
    assert result.exit_code == 0
    (d,) = json.loads(result.stdout)["checks"][0]["derivatives"]
    assert d["wrt"] == ["x", "x"]
    assert d["symbolic"] == [[28.0, 16.0], [16.0, 52.0]]


@pytest.mark.parametrize("args", [
    ["x**2", "--at", "x=[1, 2]", "--order", "2"],
    ["sum(x)", "--at", "x=ones(11)", "--order", "2"],
    ["x**2", "--at", "x=3", "--vjp", "ones"],
    ["sum(x)", "--at", "x=[1, 2]", "--order", "2", "--vjp", "ones"],
    ["matmul(A, x)", "--at", "A=[[1, 2], [3, 4]],x=[1, 1]", "--order", "2"],
])
def test_cli_refusals_exit_2(gradcheck, args):
    result = gradcheck(*args)
    assert result.exit_code == 2
    assert "error (" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout

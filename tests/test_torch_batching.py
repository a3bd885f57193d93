"""The torch side's second opinions, computed for every partial at once.

Finite differences evaluate all their points in one batched forward pass (float64, the
expression as written, element-wise operations only), and forward mode differentiates
one variable after another in one dual level. Both promise the numbers that one point
and one variable at a time give, to the last bit: a batch smaller than two SIMD vectors
takes torch's scalar loop for every element, as a 0-d tensor does.

Every expected number here is computed independently: plain torch on 0-d tensors, the
finite-difference rule written out again, and hand-derived derivatives.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable

import pytest
import torch
import torch.autograd.forward_ad as fwad

from gradcheck_cli.check import check
from gradcheck_cli.engine import autograd
from gradcheck_cli.functions import FUNCTIONS
from gradcheck_cli.parse import parse_expression as parse

EPS = 2.0**-52


def same(a: float | None, b: float | None) -> bool:
    """Equal to the last bit, the sign of zero included; nan only equals nan."""
    if a is None or b is None:
        return a is b
    return a.hex() == b.hex() if a == a and b == b else (a != a) and (b != b)


def t(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=torch.float64)


def scalar_fd(f: Callable[..., torch.Tensor], point: dict[str, float],
              partial: tuple[str, ...]) -> float:
    """The central difference of the docs, one 0-d evaluation per point: steps
    eps**(1/(n+2))*max(1, |x|) made exact as (x + h) - x, signs in the product's order."""
    order = len(partial)
    steps = {}
    for name in set(partial):
        x = point[name]
        h = EPS ** (1 / (order + 2)) * max(1.0, abs(x))
        steps[name] = (x + h) - x
    total = 0.0
    for signs in itertools.product((1, -1), repeat=order):
        shifted = dict(point)
        for name, sign in zip(partial, signs, strict=True):
            shifted[name] += sign * steps[name]
        with torch.no_grad():
            total += math.prod(signs) * float(f(**{n: t(v) for n, v in shifted.items()}))
    return total / math.prod(2 * steps[name] for name in partial)


# (expression, the same computation written in torch by hand, point, partials, the exact
# partials by hand). The hand-written torch forms use the ops the expression names, in
# the order it writes them, so their 0-d values are the ones the tree gives.
F = torch.nn.functional
CASES: list[tuple[str, Callable[..., torch.Tensor], dict[str, float], dict[tuple[str, ...], float]]] = [
    ("sin(x)*y", lambda x, y: torch.sin(x) * y, {"x": 0.7, "y": -1.3},
     {("x",): math.cos(0.7) * -1.3, ("y",): math.sin(0.7)}),
    ("exp(-1.3*x**2)*log(1 + y**2) + sin(x*y)",
     lambda x, y: torch.exp(-1.3 * x**2) * torch.log(1 + y**2) + torch.sin(x * y),
     {"x": 0.3, "y": 0.7},
     {("x",): -2.6 * 0.3 * math.exp(-1.3 * 0.09) * math.log(1.49) + 0.7 * math.cos(0.21),
      ("y",): math.exp(-1.3 * 0.09) * 1.4 / 1.49 + 0.3 * math.cos(0.21)}),
    ("x**y + 2.5*y", lambda x, y: x**y + 2.5 * y, {"x": 1.7, "y": -0.4},
     {("x",): -0.4 * 1.7**-1.4, ("y",): 1.7**-0.4 * math.log(1.7) + 2.5}),
    ("sigmoid(w*x + b)", lambda w, x, b: torch.sigmoid(w * x + b), {"w": 0.5, "x": -1.2, "b": 0.3},
     {("w",): -1.2 * (s := 1 / (1 + math.exp(0.3))) * (1 - s), ("x",): 0.5 * s * (1 - s),
      ("b",): s * (1 - s)}),
    ("(w*x + b - y)**2", lambda w, x, b, y: (w * x + b - y) ** 2,
     {"w": 1.5, "x": -0.5, "b": 0.25, "y": 2.0},
     {("w",): 2 * (r := 1.5 * -0.5 + 0.25 - 2.0) * -0.5, ("x",): 2 * r * 1.5, ("b",): 2 * r,
      ("y",): -2 * r}),
    ("atan2(y, x) + hypot(x, y)", lambda x, y: torch.atan2(y, x) + torch.hypot(x, y),
     {"x": 1.1, "y": 0.6},
     {("x",): -0.6 / 1.57 + 1.1 / math.sqrt(1.57), ("y",): 1.1 / 1.57 + 0.6 / math.sqrt(1.57)}),
    ("softplus(z) - y*z", lambda z, y: F.softplus(z) - y * z, {"z": 2.0, "y": 0.3},
     {("z",): 1 / (1 + math.exp(-2.0)) - 0.3, ("y",): -2.0}),
    ("clamp(x, -1, 1)*cosh(y)", lambda x, y: torch.clamp(x, -1.0, 1.0) * torch.cosh(y),
     {"x": 0.4, "y": 0.9}, {("x",): math.cosh(0.9), ("y",): 0.4 * math.sinh(0.9)}),
    # Five variables: ten points, more than one pass where vectors are narrow.
    ("a*b + c*d + g*a", lambda a, b, c, d, g: a * b + c * d + g * a,
     {"a": 0.5, "b": 1.5, "c": -2.0, "d": 0.25, "g": 3.0},
     {("a",): 1.5 + 3.0, ("b",): 0.5, ("c",): 0.25, ("d",): -2.0, ("g",): 0.5}),
    # Second order: four points per partial, a mixed one included.
    ("x**3*y + sin(x*y)", lambda x, y: x**3 * y + torch.sin(x * y), {"x": 1.3, "y": 0.7},
     {("x", "x"): 6 * 1.3 * 0.7 - 0.49 * math.sin(0.91),
      ("x", "y"): 3 * 1.69 + math.cos(0.91) - 0.91 * math.sin(0.91),
      ("y", "y"): -1.69 * math.sin(0.91)}),
]


@pytest.mark.parametrize(("text", "written", "point", "exact"), CASES, ids=[c[0] for c in CASES])
def test_batched_finite_differences_are_the_scalar_ones(text, written, point, exact):
    tree = parse(text).tree
    partials = list(exact)
    assert autograd._batchable(autograd.as_side(tree), "float64")
    found = autograd.finite_differences(tree, point, partials)
    for partial in partials:
        # Bound 0: the same float64 operations on the same 0-d values, summed in the
        # same order; the batch only runs them side by side.
        assert same(found[partial], scalar_fd(written, point, partial)), partial
        # And they are finite differences: truncation h**2*f'''/6 plus rounding
        # eps*|f|/h, about 1e-10 here for first partials (h = 6e-6), 1e-7 for second
        # (h = 1.2e-4, rounding eps*|f|/h**2); 1e-6 relative leaves room for both.
        assert abs(found[partial] - exact[partial]) <= 1e-6 * (1 + abs(exact[partial])), partial


def _args(arity: int, lane: int, base: float) -> list[float]:
    # Arguments inside every element-wise function's domain, different in each lane.
    return [base + 0.013 * lane + 0.1 * k for k in range(arity)]


ELEMENTWISE = sorted(name for name, function in FUNCTIONS.items()
                     if function.kind == "elementwise" and function.operator is None)


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("base", [0.3, -0.6, 2.5])
def test_a_full_batch_of_every_function_is_its_scalar_values(name, base):
    """The assumption the batching rests on, on the machine at hand: as many elements as
    one pass holds give, element by element, what one 0-d tensor gives."""
    function = FUNCTIONS[name]
    lanes = autograd._lanes()
    params = ["x", "y", "z"][:function.arity]
    if name == "clamp":  # constant bounds: a batched bound takes another kernel
        text = "clamp(x, -0.5, 0.5)"
        params = ["x"]
    else:
        text = f"{name}({', '.join(params)})"
    domain = {"acosh": 1.5, "log": 1.0, "log2": 1.0, "log10": 1.0, "sqrt": 1.0, "lgamma": 1.0}
    start = abs(base) + domain.get(name, 0.0) if name in domain else base
    if name in ("asin", "acos", "atanh"):
        start = base / 4
    points = [dict(zip(params, _args(len(params), lane, start), strict=True))
              for lane in range(lanes)]
    batched = autograd._batched_values(autograd.as_side(parse(text).tree), points, "float64")
    for point, value in zip(points, batched, strict=True):
        args = [t(point[p]) for p in params]
        if name == "clamp":
            args += [t(-0.5), t(0.5)]
        with torch.no_grad():
            assert same(value, float(function.torch(torch, *args))), point


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**"])
def test_a_full_batch_of_every_operator_is_its_scalar_values(op):
    lanes = autograd._lanes()
    points = [{"x": 0.7 + 0.37 * lane, "y": -1.1 + 0.29 * lane} for lane in range(lanes)]
    # Python's operators on 0-d tensors, as a user's code has them: a literal beside a
    # variable stays a Python number (2.3 / y is y.__rtruediv__(2.3), torch's
    # reciprocal-then-multiply, not torch.div), two literals are computed in torch.
    apply = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
             "**": operator.pow}[op]
    forms: list[tuple[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]] = [
        (f"x {op} y", lambda x, y: apply(x, y)),
        (f"x {op} 1.7", lambda x, y: apply(x, 1.7)),
        (f"2.3 {op} y", lambda x, y: apply(2.3, y)),
        (f"(x {op} y) {op} (3 {op} 0.5)", lambda x, y: apply(apply(x, y), apply(t(3.0), 0.5))),
    ]
    for text, written in forms:
        batched = autograd._batched_values(autograd.as_side(parse(text).tree), points, "float64")
        for point, value in zip(points, batched, strict=True):
            with torch.no_grad():
                expected = float(written(t(point["x"]), t(point["y"])))
            assert same(value, expected), (text, point)


@pytest.mark.parametrize(("text", "why"), [
    ("sum(x) + y", "a reduction would sum over the batch"),
    ("softmax(x)*y", "a reduction"),
    ("clamp(x, y, 2)", "a bound with a variable takes the tensor kernel"),
    ("logsigmoid(x)*y", "its kernel wakes torch's threads for two elements"),
])
def test_what_is_not_batched(text, why):
    assert not autograd._batchable(autograd.as_side(parse(text).tree), "float64"), why


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_other_dtypes_are_not_batched(dtype):
    # float32's GELU takes another kernel for a 0-d tensor than for a 1-d one.
    assert not autograd._batchable(autograd.as_side(parse("gelu(x)*y").tree), dtype)


def test_clamp_with_a_variable_bound_is_the_scalar_difference():
    text, point = "clamp(x, y, 2)*x", {"x": 0.5, "y": -0.25}
    found = autograd.finite_differences(parse(text).tree, point, [("x",), ("y",)])
    # d/dx of clamp(x, y, 2)*x = 2x inside the bounds; the bound y is not active: 0.
    written = lambda x, y: torch.clamp(x, y.item(), 2.0) * x  # noqa: E731 - 0-d bounds: numbers
    assert same(found["x",], scalar_fd(written, point, ("x",)))
    assert same(found["y",], scalar_fd(written, point, ("y",)))
    assert abs(found["x",] - 1.0) <= 1e-9 and found["y",] == 0.0


def test_a_failed_batch_falls_back_to_one_point_at_a_time(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no batch today")

    tree, point = parse("sin(x)*y").tree, {"x": 0.7, "y": -1.3}
    expected = autograd.finite_differences(tree, point, [("x",), ("y",)])
    monkeypatch.setattr(autograd, "_batched_values", broken)
    assert autograd.finite_differences(tree, point, [("x",), ("y",)]) == expected


# -- forward mode: one dual level for every variable ---------------------------------------


def scalar_forward(f: Callable[..., torch.Tensor], point: dict[str, float], name: str) -> float:
    """Forward AD with the one input ``name`` dual, every other input plain."""
    with fwad.dual_level():
        inputs = {n: t(v) for n, v in point.items()}
        inputs[name] = fwad.make_dual(inputs[name], t(1.0))
        tangent = fwad.unpack_dual(f(**inputs)).tangent
        return 0.0 if tangent is None else float(tangent)


@pytest.mark.parametrize(("text", "written", "point", "exact"), CASES[:-1],
                         ids=[c[0] for c in CASES[:-1]])
def test_forward_modes_are_forward_mode_per_variable(text, written, point, exact):
    tree = parse(text).tree
    names = [p[0] for p in exact]
    found = autograd.forward_modes(tree, point, names)
    for name in names:
        assert same(found[name], autograd.forward_mode(tree, point, name)), name
        # Forward AD is exact to rounding: a few ulps of the terms it adds.
        assert abs(found[name] - exact[name,]) <= 1e-13 * (1 + abs(exact[name,])), name
        # And it is torch's own forward mode, up to the zero tangents the build gives
        # the other variables (a*0 terms: exact zeros for finite a).
        assert abs(found[name] - scalar_forward(written, point, name)) <= \
            4 * EPS * (1 + abs(exact[name,])), name


def test_forward_modes_keep_the_retry_without_zero_tangents():
    # In y at y=0: x*log(y) has log(y) = -inf; a zero tangent for x would make 0*inf =
    # nan, and forward_mode asks torch again with the one dual input: -inf... times x.
    tree, point = parse("x*log(y) + x").tree, {"x": 2.0, "y": 0.0}
    found = autograd.forward_modes(tree, point, ["x", "y"])
    assert found["x"] == autograd.forward_mode(tree, point, "x")
    assert found["y"] == autograd.forward_mode(tree, point, "y") == math.inf
    assert found["x"] == -math.inf  # d/dx = log(0) + 1


def test_forward_modes_report_what_raised():
    # A name the point lacks raises in forward_mode; here it is handed back, not raised.
    found = autograd.forward_modes(parse("x*y").tree, {"x": 1.0, "y": 2.0}, ["x", "nope"])
    assert found["x"] == 2.0 and isinstance(found["nope"], KeyError)


# -- verdicts: the same checks, with the second opinions one at a time ----------------------


class OneAtATime(autograd.Opinions):
    """The second opinions as before the batching: a call per partial, per point."""

    def finite_difference(self, partial):
        try:
            return autograd.finite_difference(self.side, self.point, partial, self.dtype_name)
        except Exception:
            return None

    def forward_mode(self, name):
        return autograd.forward_mode(self.side, self.point, name, self.dtype_name)


LINES = [
    ("sin(x)*y", "x=0.7, y=-1.3", {}),
    ("x*sqrt(x)", "x=0", {}),                 # autograd nan: the fd opinion in the message
    ("abs(x)*y", "x=0, y=2", {}),              # a kink: one-sided differences
    ("softplus(x)", "x=30", {}),               # torch's linear branch: fd sides with autograd
    ("x**3*y + sin(x*y)", "x=1.3, y=0.7", {"order": 2}),
    ("(x+1e4)-1e4", "x=0.1", {"dtype": "float32"}),
    ("x*log(y)", "x=1, y=0", {}),
    ("max(x, y)*z + relu(z - 1)", "x=0.5, y=0.5, z=2", {}),
    ("gelu(x)*exp(y)", "x=0.3, y=-0.2", {"dtype": "float32"}),
]


@pytest.mark.parametrize(("text", "at", "options"), LINES, ids=[f"{e} @ {a}" for e, a, _ in LINES])
def test_verdicts_and_numbers_are_those_of_one_at_a_time(monkeypatch, text, at, options):
    batched = check(text, at, **options)
    monkeypatch.setattr(autograd, "Opinions", OneAtATime)
    single = check(text, at, **options)
    assert batched.status == single.status and batched.category == single.category
    assert batched.message == single.message
    for a, b in zip(batched.derivatives, single.derivatives, strict=True):
        assert (a.status, a.category, a.message) == (b.status, b.category, b.message), a.wrt
        assert same(a.finite_difference, b.finite_difference), a.wrt
        assert same(a.forward_mode, b.forward_mode), a.wrt
        assert same(a.autograd, b.autograd), a.wrt

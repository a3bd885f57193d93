"""The rewrite rules of :mod:`gradcheck_cli.rewrites`.

Three things are checked for every rule: that it is suggested where its pattern occurs
(and only there), that the rewrite is the same function as the original (both evaluated
independently with mpmath, through tests/mpref.py, at points where both are defined),
and that the rewrite stays finite where the original breaks in float64 (both checked
with :func:`gradcheck_cli.check.check`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import mpmath
import pytest
from mpmath import mp, mpf

from gradcheck_cli.check import check
from gradcheck_cli.parse import Binary, Call, Node, Number, Unary, Variable, parse_expression
from gradcheck_cli.results import CheckResult, Status
from gradcheck_cli.rewrites import COMBINED, RULES, Rule, Suggestion, suggest
from tests import mpref


def suggestions(text: str) -> list[tuple[str, str]]:
    return [(s.rule, s.expression) for s in suggest(parse_expression(text).tree)]


# -- the spec: expression -> suggestions (rule, rewritten text) ----------------------------------

SPEC = [
    # softplus, both orders of the sum, inside a larger expression, nested
    ("log(1+exp(x))", [("softplus", "softplus(x)")]),
    ("log(exp(x)+1)", [("softplus", "softplus(x)")]),
    ("log(1+exp(x))*sin(x)", [("softplus", "softplus(x)*sin(x)")]),
    ("log(1.0+exp(-2*x))", [("softplus", "softplus((-2)*x)")]),
    ("log(1+exp(log(1+exp(x))))", [("softplus", "softplus(softplus(x))")]),
    ("log(1+exp(x)) + log(1+exp(y))", [("softplus", "softplus(x)+softplus(y)")]),
    # log of sigmoid and of its complement
    ("log(sigmoid(x))", [("logsigmoid", "logsigmoid(x)")]),
    ("log(1-sigmoid(x))", [("log1m_sigmoid", "-softplus(x)")]),
    ("2*log(1-sigmoid(x*y))", [("log1m_sigmoid", "2*(-softplus(x*y))")]),
    # sigmoid written out
    ("1/(1+exp(-x))", [("sigmoid", "sigmoid(x)")]),
    ("1/(exp(-x)+1)", [("sigmoid", "sigmoid(x)")]),
    ("1/(1+exp(x))", [("sigmoid", "sigmoid(-x)")]),
    ("exp(x)/(exp(x)+1)", [("sigmoid", "sigmoid(x)")]),
    # softmax, as an identity that holds for any shape
    ("exp(x)/sum(exp(x))", [("softmax", "exp(x-logsumexp(x))")]),
    ("exp(2*x)/sum(exp(2*x))", [("softmax", "exp((2*x)-logsumexp(2*x))")]),
    ("exp(x)/sum(exp(y))", []),  # not the same u: not softmax
    # logsumexp of two
    ("log(exp(a)+exp(b))", [("logsumexp", "logsumexp(a, b)")]),
    ("log(exp(x*y)+exp(-y))", [("logsumexp", "logsumexp(x*y, -y)")]),
    # overflow in cosh, squares, and tanh written out
    ("log(cosh(x))", [("logcosh", "(x+softplus((-2)*x))-log(2)")]),
    ("log(cosh(x*y))", [("logcosh", "((x*y)+softplus((-2)*(x*y)))-log(2)")]),
    ("sqrt(x**2+y**2)", [("hypot", "hypot(x, y)")]),
    ("sqrt(y**2+x**2)", [("hypot", "hypot(y, x)")]),
    ("sqrt(x*x+(2*y)*(2*y))", [("hypot", "hypot(x, 2*y)")]),
    ("sqrt(x*x+y*x)", []),
    ("(exp(x)-exp(-x))/(exp(x)+exp(-x))", [("tanh", "tanh(x)")]),
    ("(exp(x)-exp(-x))/(exp(-x)+exp(x))", [("tanh", "tanh(x)")]),
    ("(exp(x)-exp(-x))/(exp(x)+exp(x))", []),
    # cancellations
    ("sqrt(x+1)-sqrt(x)", [("sqrt_difference", "1/(sqrt(x+1)+sqrt(x))")]),
    ("sqrt(1+x)-sqrt(x)", [("sqrt_difference", "1/(sqrt(x+1)+sqrt(x))")]),
    ("sqrt(x+1)-sqrt(y)", []),
    ("sqrt(1+x)-1", [("sqrt1pm1", "x/(sqrt(1+x)+1)")]),
    ("sqrt(x**2+1)-1", [("sqrt1pm1", "(x**2)/(sqrt(1+(x**2))+1)")]),  # the rule's order
    ("log(1+x)", [("log1p", "log1p(x)")]),
    ("log(x+1)", [("log1p", "log1p(x)")]),
    ("log(1-x**2)", [("log1p", "log1p(-(x**2))")]),
    ("exp(x)-1", [("expm1", "expm1(x)")]),
    ("exp(x)-1 + log(1+y)", [("log1p", "(exp(x)-1)+log1p(y)"), ("expm1", "expm1(x)+log(1+y)"),
                             (COMBINED, "expm1(x)+log1p(y)")]),
    # two different rules: each alone, then both
    ("log(1+exp(x)) + log(sigmoid(y))",
     [("softplus", "softplus(x)+log(sigmoid(y))"), ("logsigmoid", "log(1+exp(x))+logsigmoid(y)"),
      (COMBINED, "softplus(x)+logsigmoid(y)")]),
    # one rule's result is another's pattern: only the combined suggestion gets there
    ("log(1/(1+exp(-x)))", [("sigmoid", "log(sigmoid(x))"), (COMBINED, "logsigmoid(x)")]),
    # a specific rule wins over a generic one at the same place (not log1p(exp(x)))
    ("log(1+exp(x))", [("softplus", "softplus(x)")]),
    # no pattern
    ("x**2 + sin(x)", []),
    ("softplus(x)", []),
    ("log(2+exp(x))", []),
    ("log(exp(x))", []),
    ("exp(x)-2", []),
    ("sqrt(2+x)-1", []),
    # constants are numbers, not instabilities
    ("log(1+2)*x", []),
    ("(exp(3)-1)*x", []),
    # tensors and indexing go through
    ("log(1+exp(w[0]))*x", [("softplus", "softplus(w[0])*x")]),
]


@pytest.mark.parametrize(("text", "expected"), SPEC)
def test_suggestions(text: str, expected: list[tuple[str, str]]) -> None:
    assert suggestions(text) == expected


@pytest.mark.parametrize("text", sorted({text for text, _ in SPEC}))
def test_every_suggestion_parses_again(text: str) -> None:
    for suggestion in suggest(parse_expression(text).tree):
        assert isinstance(suggestion, Suggestion)
        parsed = parse_expression(suggestion.expression)
        # The same variables, none lost or made up by a rule.
        assert set(parsed.variables) == set(parse_expression(text).variables)
        assert suggestion.reason.endswith(".") and len(suggestion.reason) > 40


def test_rule_names_are_unique() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names)) and COMBINED not in names


# -- the same function: an independent mpmath evaluation of both ---------------------------------

#: Per rule: an expression with its pattern and points where it is defined.
SAME_FUNCTION = {
    "softplus": ("log(1+exp(x))", ["x=-30", "x=-1.5", "x=0", "x=0.7", "x=40"]),
    "logsigmoid": ("log(sigmoid(x))", ["x=-40", "x=-1", "x=0", "x=2.5", "x=30"]),
    "log1m_sigmoid": ("log(1-sigmoid(x))", ["x=-30", "x=-0.5", "x=0", "x=3", "x=25"]),
    "sigmoid": ("1/(1+exp(-x)) + 1/(1+exp(x)) + exp(x)/(1+exp(x))",
                ["x=-20", "x=-0.3", "x=0", "x=1.25", "x=15"]),
    "sqrt1pm1": ("sqrt(1+x)-1", ["x=-0.75", "x=1e-10", "x=0.5", "x=8", "x=1e6"]),
    "log1p": ("log(1+x) + log(1-y)", ["x=-0.5,y=0.5", "x=1e-8,y=-3", "x=7,y=1e-12"]),
    "expm1": ("exp(x)-1", ["x=-5", "x=-1e-9", "x=1e-9", "x=0.5", "x=20"]),
    "logcosh": ("log(cosh(x))", ["x=-300", "x=-2", "x=0", "x=1e-5", "x=0.75", "x=200"]),
    "hypot": ("sqrt(x**2+y**2)", ["x=3,y=4", "x=-1e-5,y=2", "x=0,y=-7", "x=1e10,y=1"]),
    "tanh": ("(exp(x)-exp(-x))/(exp(x)+exp(-x))", ["x=-30", "x=-0.5", "x=0.001", "x=2", "x=40"]),
    "sqrt_difference": ("sqrt(x+1)-sqrt(x)", ["x=0", "x=1e-9", "x=2.5", "x=1e12"]),
}
#: Rules whose rewrite uses a reduction (mpref has scalar functions only), checked with
#: :func:`_vector_value` below.
TENSOR_RULES = {"softmax", "logsumexp"}


def test_every_rule_has_a_case() -> None:
    names = {rule.name for rule in RULES}
    assert names == set(SAME_FUNCTION) | TENSOR_RULES
    assert names == set(BREAKS) | TENSOR_RULES


def _rewrite(text: str, rule: str) -> str:
    (found,) = [s.expression for s in suggest(parse_expression(text).tree) if s.rule == rule]
    return found


@pytest.mark.parametrize("rule", sorted(SAME_FUNCTION))
def test_rewrite_is_the_same_function(rule: str) -> None:
    text, points = SAME_FUNCTION[rule]
    rewritten = _rewrite(text, rule)
    for point in points:
        original = mpref.value(text, point, dps=50)
        new = mpref.value(rewritten, point, dps=50)
        assert original is not None and new is not None, point
        assert abs(new - original) <= mpf(10) ** -40 * max(1, abs(original)), (point, original, new)


@pytest.mark.parametrize("rule", sorted(SAME_FUNCTION))
def test_rewrite_has_the_same_derivative(rule: str) -> None:
    text, points = SAME_FUNCTION[rule]
    rewritten = _rewrite(text, rule)
    point = points[len(points) // 2]
    for variable in parse_expression(text).variables:
        original = mpref.derivative(text, point, variable, dps=50)
        new = mpref.derivative(rewritten, point, variable, dps=50)
        assert original is not None and new is not None
        assert abs(new - original) <= mpf(10) ** -30 * max(1, abs(original)), (point, original, new)


Vector = list[mpf]


def _vector_value(node: Node, env: Mapping[str, Vector]) -> Vector:
    """A tiny evaluator over 1-D vectors (a scalar is a vector of one, broadcast), with the
    reductions sum and logsumexp: enough for the softmax rule."""
    if isinstance(node, Variable):
        return env[node.name]
    if isinstance(node, Number):
        return [mpref.evaluate(node, {})]
    if isinstance(node, Unary):
        return [-v if node.op == "-" else v for v in _vector_value(node.operand, env)]
    if isinstance(node, Binary):
        left, right = _vector_value(node.left, env), _vector_value(node.right, env)
        size = max(len(left), len(right))
        left, right = left * (size // len(left)), right * (size // len(right))
        ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
               "/": lambda a, b: a / b, "**": mpmath.power}
        return [ops[node.op](a, b) for a, b in zip(left, right, strict=True)]
    assert isinstance(node, Call), node
    argument = _vector_value(node.args[0], env)
    if node.function == "sum":
        return [mpmath.fsum(argument)]
    if node.function == "logsumexp" and len(node.args) == 2:
        # Element by element, by its definition (mpmath's exponent range has no overflow).
        first, second = (_vector_value(a, env) for a in node.args)
        return [mpmath.log(mpmath.exp(a) + mpmath.exp(b)) for a, b in zip(first, second, strict=True)]
    if node.function == "logsumexp":
        return [mpmath.log(mpmath.fsum(mpmath.exp(v) for v in argument))]
    return [mpref.SCALAR[node.function](v) for v in argument]


@pytest.mark.parametrize("values", [[mpf(0)], [mpf(1), mpf(2), mpf(3)],
                                    [mpf(-40), mpf("0.5"), mpf(30), mpf(-2)]])
def test_softmax_rewrite_is_the_same_function(values: Vector) -> None:
    text = "exp(3*x)/sum(exp(3*x))"
    rewritten = parse_expression(_rewrite(text, "softmax")).tree
    with mp.workdps(50):
        original = _vector_value(parse_expression(text).tree, {"x": values})
        new = _vector_value(rewritten, {"x": values})
        # Independently: softmax by its definition.
        total = mpmath.fsum(mpmath.exp(3 * v) for v in values)
        assert len(new) == len(values)
        for a, b, v in zip(original, new, values, strict=True):
            assert abs(a - b) <= mpf(10) ** -45
            assert abs(b - mpmath.exp(3 * v) / total) <= mpf(10) ** -45


# -- stable where the original breaks, checked by gradcheck itself -------------------------------

#: Per rule: an expression with its pattern, and a point where float64 breaks it.
BREAKS = {
    "softplus": ("log(1+exp(x))", "x=1000"),
    "logsigmoid": ("log(sigmoid(x))", "x=-1000"),
    "log1m_sigmoid": ("log(1-sigmoid(x))", "x=100"),
    "sigmoid": ("1/(1+exp(-x))", "x=-1000"),
    "logsumexp": ("log(exp(a)+exp(b))", "a=1000,b=999"),
    "sqrt1pm1": ("sqrt(1+x)-1", "x=1e-20"),
    "log1p": ("log(1+x)", "x=1e-20"),
    "expm1": ("exp(x)-1", "x=1e-20"),
    "logcosh": ("log(cosh(x))", "x=1000"),
    "hypot": ("sqrt(x**2+y**2)", "x=1e200,y=1"),
    "tanh": ("(exp(x)-exp(-x))/(exp(x)+exp(-x))", "x=1000"),
    "sqrt_difference": ("sqrt(x+1)-sqrt(x)", "x=1e20"),
}
#: Where the original's gradient is nan or inf (the others lose the digits of the value).
GRADIENT_BREAKS = {"softplus", "logsigmoid", "log1m_sigmoid", "sigmoid", "logsumexp", "logcosh",
                   "hypot", "tanh", "sqrt_difference"}


def _finite_gradients(result: CheckResult) -> bool:
    return all(mpmath.isfinite(d.autograd) for d in result.derivatives)


def _accurate_gradients(result: CheckResult) -> bool:
    """Every autograd derivative finite and within 1e-15 (relative) of the exact one."""
    return _finite_gradients(result) and all(
        isinstance(d.symbolic, float) and isinstance(d.autograd, float)
        and abs(d.autograd - d.symbolic) <= 1e-15 * abs(d.symbolic)
        for d in result.derivatives)


@pytest.mark.parametrize("rule", sorted(GRADIENT_BREAKS))
def test_rewrite_passes_where_the_gradient_breaks(rule: str) -> None:
    text, point = BREAKS[rule]
    before = check(text, point)
    after = check(_rewrite(text, rule), point)
    # nan or inf (overflow), or finite but wrong (0 from a cancellation).
    assert before.status is Status.FAIL and not _accurate_gradients(before)
    # A warn is allowed: the exact value itself may underflow float64 (sigmoid(-1000)).
    assert after.status is not Status.FAIL and _accurate_gradients(after), after
    for old, new in zip(before.derivatives, after.derivatives, strict=True):
        assert new.symbolic == old.symbolic  # the same exact derivative


@pytest.mark.parametrize("rule", sorted(set(BREAKS) - GRADIENT_BREAKS))
def test_rewrite_keeps_the_digits_of_the_value(rule: str) -> None:
    text, point = BREAKS[rule]
    exact = mpref.value(text, point, dps=50)
    assert exact is not None
    original, rewritten = check(text, point).value, check(_rewrite(text, rule), point).value
    assert original is not None and rewritten is not None
    before, after = original.autograd, rewritten.autograd
    # float64 rounds 1 + 1e-20 to 1: the original loses every digit...
    assert abs(before - exact) >= abs(exact) / 2
    # ...and the rewrite keeps them, to a few units in the last place.
    assert abs(after - exact) <= 4 * 2.0**-52 * abs(exact)


def test_softmax_rewrite_passes_where_the_original_overflows() -> None:
    text = "exp(x)/sum(exp(x))"
    for point in ("x=1000", "x=[1000, 999]", "x=[[1000, 999], [1, 2]]"):
        before, after = check(text, point), check(_rewrite(text, "softmax"), point)
        assert before.status is Status.FAIL, point
        assert after.status is not Status.FAIL, (point, after)
    # For a vector, the exact derivative is softmax's: s_i (delta_ij - s_j), s = (e, 1)/(e + 1).
    after = check(_rewrite(text, "softmax"), "x=[1000, 999]")
    s0 = mpmath.e / (mpmath.e + 1)
    expected = float(s0 * (1 - s0))
    jacobian = after.derivatives[0].autograd
    assert abs(jacobian[0][0] - expected) <= 1e-13 * expected
    assert abs(jacobian[0][1] + expected) <= 1e-13 * expected


@pytest.mark.parametrize(("x", "y"), [("-3", "2"), ("0", "0"), ("50", "-50"), ("0.1", "0.2"),
                                      ("-700", "-701")])
def test_logsumexp_rewrite_is_the_same_function(x: str, y: str) -> None:
    text = "log(exp(x*y)+exp(-y))"
    rewritten = parse_expression(_rewrite(text, "logsumexp")).tree
    with mp.workdps(50):
        a, b = mpf(x), mpf(y)
        # Independently: by the definition, with mpmath's exp, which has no overflow.
        expected = mpmath.log(mpmath.exp(a * b) + mpmath.exp(-b))
        (new,) = _vector_value(rewritten, {"x": [a], "y": [b]})
        assert abs(new - expected) <= mpf(10) ** -45 * max(1, abs(expected))
        # The derivatives too, by differences of the rewrite against the hand derivative.
        slope = mpmath.diff(lambda t: _vector_value(rewritten, {"x": [t], "y": [b]})[0], a)
        weight = mpmath.exp(a * b) / (mpmath.exp(a * b) + mpmath.exp(-b))
        assert abs(slope - b * weight) <= mpf(10) ** -30 * max(1, abs(b))


def test_every_rule_is_in_the_reference() -> None:
    reference = (Path(__file__).parent.parent / "docs" / "reference.md").read_text(encoding="utf-8")
    section = reference.split("## Rewrite rules", 1)[1].split("\n## ", 1)[0]
    for rule in RULES:
        (row,) = [line for line in section.splitlines() if line.startswith(f"| `{rule.name}` |")]
        for text in (*rule.patterns, *rule.rewrites):
            assert f"`{text}`" in row, (rule.name, text)


def test_a_rule_cannot_use_a_variable_its_pattern_does_not_bind() -> None:
    with pytest.raises(ValueError, match="does not bind"):
        Rule("bad", ("log(1+exp(u))",), ("softplus(v)",), "a test.")
    with pytest.raises(ValueError, match="one rewrite per pattern"):
        Rule("bad", ("log(1+exp(u))", "log(exp(u)+1)"), ("softplus(u)",), "a test.")

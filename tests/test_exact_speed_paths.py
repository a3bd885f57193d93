"""The exact side's fast paths give what the plain paths give (issue 14).

* :func:`symbolic.formula` remembers the text of sub-expressions: its text must be
  SymPy's ``str()`` byte for byte, on trees of every shape a derivative takes, printed
  in any order (a remembered sub-expression printed again at another depth).
* :func:`certify.value` remembers its results by (expression, point): a remembered
  result must be the one computed afresh, and the values themselves must be right
  (mpmath at 50 digits, independently of SymPy).
"""

from __future__ import annotations

import math

import mpmath
import pytest
import sympy as sp

from gradcheck_cli.compare import Kind
from gradcheck_cli.engine import certify, symbolic
from gradcheck_cli.engine.sympy_functions import lgamma, sinc, xlogy

x, y = sp.Symbol("x", real=True, finite=True), sp.Symbol("y", real=True, finite=True)
half = sp.Rational(1, 2)

#: Trees of the shapes derivatives take: rationals, negative and fractional powers,
#: nested functions, piecewise and extremum atoms, the project's own functions, and
#: numbers written as SymPy orders them (a sum with a negative coefficient first).
TREES: list[sp.Expr] = [
    x**2 + 1,
    1 - x,
    -x + 3,
    2 - 3 * x,
    sp.Rational(3, 7) * x - sp.Rational(5, 2),
    x ** -2,
    1 / (x**2 + 1) ** 2,
    -2 * x / (x**2 + 1) ** 2,
    sp.sqrt(x) / 2 + x ** sp.Rational(-3, 2),
    x**y * sp.log(x) + y * x ** (y - 1),
    sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi),
    x * sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi) + sp.erf(x / sp.sqrt(2)) / 2 + half,
    sp.sin(sp.cos(sp.tan(x))) * (1 - sp.tan(x) ** 2),
    sp.tanh(sp.log(sp.exp(x) + 1)) ** 2 - 1,
    (-2 * sp.cot(x) ** 2 - 2) * sp.cot(x) * sp.polygamma(0, sp.cot(x) ** 2 + sp.Rational(17, 20)),
    sp.Heaviside(x) + sp.sign(x - 1) * sp.Abs(x),
    sp.Max(0, x) * sp.Min(x, y) + sp.DiracDelta(x),
    sp.Piecewise((x**2, x > 0), (-x, True)) + 1,
    sp.atan2(y, x) - sp.pi / 4,
    lgamma(x**2 + 1) * sinc(x) - xlogy(x, y**2 + 1),
    sp.Float("0.125") * x + sp.Float("1.5", 30),
    sp.Float("2.5"),
    sp.Integer(-3),
    sp.nan,
    sp.zoo * x,
    sp.oo - x,
    -sp.sqrt(2) * x * sp.exp(-x) - sp.pi,
    sp.I * x + 2,
    (x + y) ** 3 - 3 * x * y * (x + y) + sp.exp(x) * sp.exp(x + y),
    -(x + 1) / (x - 1) ** 3,
    sp.exp(2) * x + sp.log(3) * y - sp.pi * x * y,
    x + x**2 + sp.O(x**3),
    sp.Rational(-1, 3) * x**y + sp.Rational(2, 3) * y**x + x * y,
]


@pytest.mark.parametrize("tree", TREES, ids=[str(t) for t in TREES])
def test_formula_is_sympys_text(tree: sp.Expr) -> None:
    assert symbolic.formula(tree) == str(tree)


def test_formula_is_sympys_text_with_sub_expressions_remembered_at_other_depths() -> None:
    # Every sub-expression printed first on its own, then inside the larger trees (and
    # the larger trees first, then their parts): the remembered text must not depend on
    # the depth or the order in which it was first printed.
    parts = [node for tree in TREES for node in sp.preorder_traversal(tree)
             if isinstance(node, sp.Basic)]
    for expr in parts + TREES + list(reversed(parts)):
        assert symbolic.formula(expr) == str(expr), expr


def test_formula_prints_a_float_at_the_top_with_all_its_digits() -> None:
    # SymPy strips a Float's trailing digits only below the top level: the top-level
    # Float must not reuse the text remembered from inside a product, or vice versa.
    number = sp.Float("1.50000000000000000000", 25)
    assert symbolic.formula(number * x) == str(number * x)
    assert symbolic.formula(number) == str(number)


#: (expression, point, value at 50 digits by mpmath on its own).
VALUES = [
    (x**2 + 1, {x: sp.Rational(3, 10)}, mpmath.mpf("1.09")),
    (sp.exp(-x**2) * sp.sin(3 * x), {x: sp.Rational(7, 5)},
     lambda: mpmath.exp(-mpmath.mpf(7) ** 2 / 25) * mpmath.sin(mpmath.mpf(21) / 5)),
    (sp.log(1 + sp.exp(-x)), {x: sp.Integer(40)}, lambda: mpmath.log1p(mpmath.exp(-40))),
    (sp.erf(x) + 1, {x: sp.Integer(-6)}, lambda: mpmath.erfc(6)),
    (x ** y * sp.log(x), {x: sp.Rational(5, 2), y: sp.Rational(-1, 3)},
     lambda: mpmath.power(mpmath.mpf(5) / 2, -mpmath.mpf(1) / 3) * mpmath.log(mpmath.mpf(5) / 2)),
    (sp.atan2(y, x), {x: sp.Integer(-1), y: sp.Rational(1, 10**20)},
     lambda: mpmath.atan2(mpmath.mpf(1) / 10**20, -1)),
    (lgamma(x), {x: sp.Rational(-5, 2)}, lambda: mpmath.log(abs(mpmath.gamma(-mpmath.mpf(5) / 2)))),
]


@pytest.mark.parametrize(("expr", "point", "expected"), VALUES, ids=[str(v[0]) for v in VALUES])
def test_certified_value_is_right_and_the_same_when_remembered(expr: sp.Expr, point: dict,
                                                              expected: object) -> None:
    with mpmath.workdps(50):
        truth = expected() if callable(expected) else expected
        truth_float = float(truth)
    certify._RESULTS.clear()
    fresh = certify.value(expr, point)
    assert fresh is not None and fresh.kind is Kind.FINITE
    assert fresh.value == truth_float
    again = certify.value(expr, point)
    assert again == fresh
    assert (expr, frozenset(point.items())) in certify._RESULTS


def test_remembered_results_are_per_point_and_per_symbol() -> None:
    positive = sp.Symbol("x", real=True, finite=True, positive=True)
    certify._RESULTS.clear()
    at_one = certify.value(sp.sqrt(x), {x: sp.Integer(1)})
    at_four = certify.value(sp.sqrt(x), {x: sp.Integer(4)})
    other_symbol = certify.value(sp.sqrt(x), {positive: sp.Integer(4)})  # x is not given
    assert at_one is not None and at_one.value == 1.0
    assert at_four is not None and at_four.value == 2.0
    assert other_symbol is None


def test_a_zero_proof_is_not_remembered() -> None:
    # sin(x)**2 + cos(x)**2 - 1 vanishes at every precision: its value rests on a proof
    # within a time budget, which is asked for again, not remembered.
    expr = sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1
    point = {x: sp.Rational(1, 3)}
    certify._RESULTS.clear()
    first = certify.value(expr, point)
    assert first is not None and first.value == 0.0 and first.kind is Kind.FINITE
    assert (expr, frozenset(point.items())) not in certify._RESULTS
    calls: list[int] = []

    def unproved() -> bool | None:
        calls.append(1)
        return None

    doubted = certify.value(expr, point, prove_zero=unproved)
    assert calls == [1]
    assert doubted is not None and doubted.doubt is not None


def test_the_remembered_results_are_bounded() -> None:
    certify._RESULTS.clear()
    for k in range(certify._RESULTS_KEPT + 50):
        certify.value(x + 1, {x: sp.Integer(k)})
    assert len(certify._RESULTS) == certify._RESULTS_KEPT
    latest = certify.value(x + 1, {x: sp.Integer(certify._RESULTS_KEPT + 49)})
    assert latest is not None and latest.value == certify._RESULTS_KEPT + 50
    assert not math.isnan(latest.value)


# -- is_zero: certified nonzero without substituting first ------------------------------------

X = sp.Symbol("x", real=True)


@pytest.mark.parametrize(("expr", "point", "zero"), [
    (X - sp.Rational(1, 3), sp.Rational(1, 3), True),     # exactly on the kink
    (X - sp.Rational(1, 3), sp.Rational(1, 2), False),
    (sp.sin(sp.pi * X), sp.Integer(2), True),              # zero only by SymPy's exact route
    (sp.exp(X) - 1 - X, sp.Rational(1, 10**12), False),   # 5e-25: small, certified nonzero
    # The line that took 41 s: the float64 digits of 0.623 in a rational power.
    ((4 * X**2 + 1) ** (X / (X**2 + 4)) - sp.log(X**4 + 4), sp.Rational(0.623), False),
])
def test_is_zero(expr: sp.Expr, point: sp.Expr, zero: bool) -> None:
    assert symbolic.is_zero(expr, {X: point}) is zero


def test_a_kink_argument_with_a_rational_power_is_checked_exactly() -> None:
    from gradcheck_cli import check

    # max picks log1p(x**4 + 3) at x = 0.623 (1.4233 against 1.1424): d/dx is
    # 4x**3/(x**4 + 4), here at the float64 nearest 0.623, by mpmath at 50 digits.
    result = check("max(pow(((x) + (x))**2 + 1, (x)/((x)**2 + 4)), log1p(((x)**2)**2 + 3))",
                   "x=0.623")
    with mpmath.workdps(50):
        x = mpmath.mpf(0.623)
        expected = float(4 * x**3 / (x**4 + 4))
    (derivative,) = result.derivatives
    assert result.status.value == "pass"
    assert derivative.symbolic == pytest.approx(expected, rel=1e-15)


def test_a_point_sympy_cannot_put_in_quickly_still_gets_its_exact_values() -> None:
    from gradcheck_cli import check

    # At x = 1e-300 SymPy's exact substitution raises a ratio of ~1,000-digit integers to a
    # rational power for minutes (the check used to run into --timeout); the certified
    # values need none of it. Value: a*log(b), a = (1.752x)**2 * hypot(t, 1.121)**(2.78x),
    # b = 1 + sigmoid(t*(x - 0.2)), by mpmath at 50 digits at the float64 points.
    result = check("xlogy((pow(1.752*x, 2))*(pow(hypot((8/8)*t, 1.121), 2.78*x)), "
                   "(1 + sigmoid((t)*((x - 0.2)))))", "t=0.8333, x=1e-300")
    with mpmath.workdps(50):
        x, t = mpmath.mpf(1e-300), mpmath.mpf(0.8333)
        a = (mpmath.mpf("1.752") * x) ** 2 * mpmath.hypot(t, mpmath.mpf("1.121")) ** (
            mpmath.mpf("2.78") * x)
        b = 1 + 1 / (1 + mpmath.exp(-t * (x - mpmath.mpf("0.2"))))
        value = a * mpmath.log(b)
    assert result.status.value != "error"
    assert result.category.value == "underflow"  # 1.16e-600, below float64's range
    assert result.value is not None
    assert mpmath.almosteq(mpmath.mpf(result.value.symbolic_text), value, rel_eps=1e-11)


# -- arguments too large to reduce (certify.HUGE_ARGUMENT_BITS) --------------------------
#
# exp(1e8) = 10^(4.3e7) inside a sin, an exp or a cosh made mpmath compute pi or ln 2 to
# tens of millions of bits: a check ran into --timeout. The value is now uncertain at once
# (said so) beyond 2^HUGE_ARGUMENT_BITS, and computed as before below it. Each call runs
# under a CPU budget so that a guard that stops working fails rather than hangs.


def _value_within_a_budget(expr: sp.Expr, point: dict) -> object:
    from gradcheck_cli.engine.substitute import time_budget

    with time_budget(60):
        return certify.value(expr, point)


@pytest.mark.parametrize(("expr", "needs"), [
    (sp.sin(sp.exp(x)), "sin of a number beyond 2^262144 (about 1e78913) would need more "
                        "digits of pi"),
    (sp.exp(-sp.cosh(x)), "exp of a number beyond 2^262144"),
    (sp.exp(sp.sqrt(sp.cosh(x))) / (sp.exp(sp.sqrt(sp.cosh(x))) + 1), "ln 2"),
    (sinc(sp.exp(x) ** 2), "sinc of a number"),
])
def test_a_function_of_a_huge_argument_is_uncertain_and_says_why(expr: sp.Expr,
                                                                   needs: str) -> None:
    # At x = 1e8 each argument is about 10^(4.3e7) or 10^(2.2e7): 2^(7e7) or more.
    exact = _value_within_a_budget(expr, {x: sp.Integer(10**8)})
    assert exact is not None
    assert exact.kind is Kind.UNCERTAIN
    assert math.isnan(exact.value)
    assert "mpmath cannot evaluate it" in exact.text and needs in exact.text


def test_tanh_of_a_huge_argument_is_one_as_mpmath_says() -> None:
    # tanh(cosh(-1.72e8)) = 1 - 2*exp(-2*10^(7.5e7)) + ...: 1 at any working precision.
    exact = _value_within_a_budget(sp.acos(sp.Rational(18, 25) * sp.tanh(sp.cosh(x))),
                                   {x: sp.Integer(-172000000)})
    assert exact is not None and exact.kind is Kind.FINITE
    with mpmath.workdps(40):
        assert exact.value == float(mpmath.acos(mpmath.mpf(18) / 25))


def test_below_the_bound_a_huge_value_is_still_certified() -> None:
    # exp(exp(12)) = 10^70683.27...: exp of an argument of 2^17.3, below the bound, so its
    # digits are computed (and it is an overflow for float64), as before the bound.
    exact = _value_within_a_budget(sp.exp(sp.exp(x)), {x: sp.Integer(12)})
    assert exact is not None and exact.kind is Kind.OVERFLOW
    with mpmath.workdps(30):
        exponent = mpmath.exp(12) / mpmath.log(10)  # log10 of the value
        mantissa = mpmath.mpf(10) ** (exponent - mpmath.floor(exponent))
        expected = f"{mpmath.nstr(mantissa, 12)}e+{int(mpmath.floor(exponent))}"
    shown_mantissa, shown_exponent = exact.text.split("e+")
    assert shown_exponent == expected.split("e+")[1]
    assert mpmath.almosteq(mpmath.mpf(shown_mantissa), mantissa, rel_eps=1e-11)


# -- work a check asks for twice, and work that only explains ---------------------------


def test_a_one_sided_limit_is_computed_once_per_check(monkeypatch: pytest.MonkeyPatch) -> None:
    computed: list[sp.Expr] = []
    compute = symbolic._one_sided

    def counted(expr: sp.Expr, symbol: sp.Symbol, point: dict) -> tuple:
        computed.append(expr)
        return compute(expr, symbol, point)

    monkeypatch.setattr(symbolic, "_one_sided", counted)
    symbolic.forget_limits()
    # sin(x)/x -> 1 from both sides of 0 (its series 1 - x**2/6 + ...); 1/x -> -oo, +oo.
    for _ in range(3):
        left, right = symbolic.one_sided(sp.sin(x) / x, x, {x: sp.Integer(0)})
        assert (left.kind, left.value, right.kind, right.value) == (Kind.FINITE, 1.0,
                                                                   Kind.FINITE, 1.0)
    left, right = symbolic.one_sided(1 / x, x, {x: sp.Integer(0)})
    assert (left.kind, right.kind) == (Kind.NEG_INF, Kind.POS_INF)
    assert computed == [sp.sin(x) / x, 1 / x]
    # Another point, or the next check, computes afresh.
    symbolic.one_sided(sp.sin(x) / x, x, {x: sp.Integer(1)})
    symbolic.forget_limits()
    symbolic.one_sided(sp.sin(x) / x, x, {x: sp.Integer(0)})
    assert computed == [sp.sin(x) / x, 1 / x, sp.sin(x) / x, sp.sin(x) / x]


def test_a_pole_asked_about_by_every_partial_gets_its_message() -> None:
    from gradcheck_cli import check

    # sinc(1) = sin(pi)/pi = 0 exactly, so csc(sinc(u[0])) divides by zero: undefined, and
    # SymPy finds no limit (each one-sided limit runs into its budget; asked four times,
    # it used to take the check past --timeout).
    result = check("dot((tan(sinc(u)))**3, hypot(csc(sinc(u)), atan((u + 2)/(7 + (u)**2))))",
                   "u=[1.0, 2.476, -0.029]")
    assert result.status.value == "warn"
    # Its one-sided limits (+-oo) run into the 1 s budget: not found, so not "no limit".
    assert result.category.value == "uncertain"
    assert "(csc(sinc(u)) is a division by zero): it has no value as written here, and its " \
           "limit was not found (no limit found within 1 s)" in result.message


def test_the_walk_that_explains_a_failure_has_a_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    from gradcheck_cli.parse import parse_expression

    # SymPy's automatic evaluation of abs(exp(-1e8)**log1p(...)) with exact numbers runs
    # for minutes (it factors integers of millions of digits). A real-time alarm fails
    # the test if the budget does not stop it.
    monkeypatch.setattr(symbolic, "WRITTEN_SECONDS", 0.2)

    def too_long(signum: int, frame: object) -> None:
        raise AssertionError("as_written ran past its budget")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(60)
    try:
        tree = parse_expression("abs(pow(exp(u), log1p(0.7*sin((b + 3)))))").tree
        written = symbolic.as_written(tree, {"u": sp.Integer(-10**8), "b": sp.Integer(1)})
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert (written.undefined, written.overflow, written.underflow) == (None, None, None)
    # Where it is quick, it still explains: exp(-1e4) is 1.1e-4343, 0 in float64.
    tree = parse_expression("log(exp(u))").tree
    written = symbolic.as_written(tree, {"u": sp.Integer(-10**4)})
    assert written.underflow is not None and written.underflow.startswith("exp(u) is 1.13548")


def test_putting_the_other_variables_in_for_a_limit_has_the_limits_budget(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import signal
    import time

    # SymPy's substitution can run for minutes (lgamma of a sum holding exp(-1e8) at a
    # tensor's element took a check past --timeout); here a substitution that would spin
    # for 30 s of CPU stands in for it. The limit must give up within its budget.
    monkeypatch.setattr(symbolic, "LIMIT_SECONDS", 0.2)
    quick = symbolic.at

    def slow(expr: sp.Expr, point: dict) -> sp.Expr:
        end = time.process_time() + 30
        while time.process_time() < end:
            pass
        return quick(expr, point)

    def too_long(signum: int, frame: object) -> None:
        raise AssertionError("the substitution ran past the limit's budget")

    t = sp.Symbol("t", real=True, finite=True)
    monkeypatch.setattr(symbolic, "at", slow)
    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(20)
    try:
        symbolic.forget_limits()
        left, right = symbolic.one_sided(sp.sin(x * t) / t, t, {x: sp.Integer(3), t: sp.Integer(0)})
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert left.kind is right.kind is Kind.UNCERTAIN  # not found in time: unknown, not undefined
    assert "could not put the other variables in within 0.2 s" in left.text
    # Where it is quick, the limit is found as before: sin(x*t)/t -> x from both sides.
    monkeypatch.setattr(symbolic, "at", quick)
    symbolic.forget_limits()
    left, right = symbolic.one_sided(sp.sin(x * t) / t, t, {x: sp.Integer(3), t: sp.Integer(0)})
    assert (left.kind, left.value, right.kind, right.value) == (Kind.FINITE, 3.0, Kind.FINITE, 3.0)


def test_a_limit_not_found_in_time_is_not_an_edge_nor_a_jump(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    from gradcheck_cli import check
    from gradcheck_cli.engine.substitute import TooSlowError

    # atan2(sin(x), 1 - cos(x)) jumps at 0, from -pi/2 to pi/2. On a machine where SymPy
    # needed 1.1 s for the left limit (the budget is 1 s), the left side counted as
    # undefined: the value became "pi/2 from the right, the edge of the real domain" and
    # the derivative a kink. A side not found in time must count as unknown.
    real_limit = sp.limit

    def left_runs_out(expr: sp.Expr, symbol: sp.Symbol, at_value: sp.Expr, direction: str
                      ) -> sp.Expr:
        if direction == "-":
            raise TooSlowError
        return real_limit(expr, symbol, at_value, direction)

    monkeypatch.setattr(sp, "limit", left_runs_out)
    result = check("atan2(sin(x), 1 - cos(x))", "x=0")
    messages = [result.value.message or ""] + [d.message or "" for d in result.derivatives]
    assert not any("edge of the real domain" in m for m in messages), messages
    assert not any("jump" in m for m in messages), messages
    assert result.value.symbolic is None  # no number claimed for the value
    assert all(d.symbolic is None for d in result.derivatives)
    # Nor "no limit": the limit exists, it was not found in time.
    assert not any("with no limit" in m for m in messages), messages
    assert result.value.category.value == "uncertain"
    assert "its limit was not found (no limit found within 1 s)" in result.value.message
    # With both sides found, the jump is reported as before.
    monkeypatch.setattr(sp, "limit", real_limit)
    result = check("atan2(sin(x), 1 - cos(x))", "x=0")
    assert "-1.57079632679 from the left and 1.57079632679 from the right" in result.value.message

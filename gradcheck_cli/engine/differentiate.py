"""SymPy's own differentiation rules, applied without SymPy's per-node bookkeeping.

``sympy.diff`` goes through ``Derivative.__new__`` at every node of the expression,
and each time asks whether the result ``is_zero``. With real, finite symbols that
question runs SymPy's assumption system over the whole sub-derivative, and it does not
change the answer: ``Derivative`` returns the same object either way. On the checks of
``bench/bench_batch.py`` it is more than half of the time SymPy spends differentiating.

:func:`diff` walks the expression once and applies, node for node, the rule SymPy's
class for that node applies: the sum rule of ``Add._eval_derivative``, the Leibniz
rule of ``Mul._eval_derivative_n_times``, the formula of ``Pow._eval_derivative``, and
the chain rule of ``Function._eval_derivative`` (and of ``MinMaxBase``, which repeats
it for ``Max`` and ``Min``) with each function's own ``fdiff``, and the real-argument
branches of ``Abs._eval_derivative`` and ``sign._eval_derivative``. Anything else
(complex arguments, piecewise and delta functions, unevaluated objects) is handed to
``sympy.diff`` itself. The result is the expression ``sympy.diff``
returns, structurally; ``tests/test_differentiate.py`` holds it to that. Two known
differences are left: for ``b**c`` with ``c`` free of the symbol, ``sympy.diff`` builds
``0*log(b)``, which is ``nan`` where ``b`` is provably zero without being the number 0;
here that term is 0. And ``sign`` of an argument that SymPy cannot prove real (nor
imaginary) has the real rule here, ``2*u'*DiracDelta(u)``, where ``sympy.diff`` leaves an
unevaluated ``Derivative``: the expression language is real-valued.
"""

from __future__ import annotations

import sympy as sp
from sympy.core.function import ArgumentIndexError
from sympy.functions.elementary.miscellaneous import MinMaxBase

#: Function classes whose derivative is the chain rule over ``fdiff``, exactly as
#: ``Function._eval_derivative`` computes it (``MinMaxBase`` repeats the same code).
_CHAIN_RULE = (sp.Function._eval_derivative, MinMaxBase._eval_derivative)
#: Coefficients with which a term multiplied by 0 is nan, not 0 (``x*y/0`` in x).
_INFINITE = (sp.zoo, sp.oo, sp.S.NegativeInfinity, sp.nan)


def diff(expr: sp.Expr, symbol: sp.Symbol, memo: dict[tuple[sp.Expr, sp.Symbol], sp.Expr]
         | None = None) -> sp.Expr:
    """``sympy.diff(expr, symbol)``, computed by SymPy's rules without ``Derivative``.

    ``memo`` may be shared between calls on related expressions (a partial and the
    next order's): a sub-expression is differentiated once.
    """
    return _Differentiator(symbol, {} if memo is None else memo).diff(expr)


class _Differentiator:
    def __init__(self, symbol: sp.Symbol, memo: dict[tuple[sp.Expr, sp.Symbol], sp.Expr]) -> None:
        self.symbol = symbol
        self.memo = memo

    def diff(self, expr: sp.Expr) -> sp.Expr:
        key = (expr, self.symbol)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = self._rule(expr)
        return found

    def _rule(self, expr: sp.Expr) -> sp.Expr:
        s = self.symbol
        if expr == s:
            return sp.S.One
        if s not in expr.free_symbols:
            return sp.S.Zero  # Derivative's own quick exit, before any rule
        if expr.is_Add:
            return sp.Add(*[self.diff(a) for a in expr.args])
        if expr.is_Mul:
            # The general Leibniz rule for n = 1: one term per factor differentiated.
            # A factor free of the symbol gives a zero term, left out rather than built,
            # unless an infinite coefficient would make SymPy's 0 * zoo a nan.
            args = list(expr.args)
            every = args[0] in _INFINITE
            return sp.Add(*[sp.Mul(*args[:i], inner, *args[i + 1:])
                            for i, inner in enumerate(map(self.diff, args)) if inner or every])
        if expr.is_Pow:
            base, exponent = expr.args
            outer = self.diff(exponent)
            # Without a variable exponent, log(base) would be built only to be multiplied
            # by 0, and building it asks SymPy's assumptions about the base.
            log_term = outer * sp.log(base) if outer else sp.S.Zero
            return expr * (log_term + self.diff(base) * exponent / base)
        rule = type(expr)._eval_derivative if isinstance(expr, sp.Expr) else None
        if rule in _CHAIN_RULE:
            return self._chain_rule(expr)
        # Abs and sign of a real argument, as their own _eval_derivative writes them, with
        # the argument's derivative from here: ``sympy.diff`` would differentiate the whole
        # argument again through ``Derivative``, node by node.
        if rule is sp.Abs._eval_derivative and (expr.args[0].is_extended_real
                                                or expr.args[0].is_imaginary):
            return self.diff(expr.args[0]) * sp.sign(sp.conjugate(expr.args[0]))
        if rule is sp.sign._eval_derivative and expr.args[0].is_extended_real is not False \
                and not expr.args[0].is_imaginary:
            # SymPy applies this rule only where it can prove the argument real; where it
            # cannot (sign(atanh(0.65*cos(y)))), it leaves Derivative(sign(...), y), which
            # has no value at any point. The expression language is real: wherever the
            # expression has a value, the argument is real and this is its derivative
            # (and where the argument is not real, DiracDelta of it has no value either).
            return 2 * self.diff(expr.args[0]) * sp.DiracDelta(expr.args[0])
        return sp.diff(expr, s)

    def _chain_rule(self, expr: sp.Expr) -> sp.Expr:
        terms = []
        for index, argument in enumerate(expr.args, start=1):
            inner = self.diff(argument)
            if inner.is_zero:
                continue
            try:
                outer = expr.fdiff(index)
            except ArgumentIndexError:
                outer = sp.Function.fdiff(expr, index)
            terms.append(outer * inner)
        return sp.Add(*terms)

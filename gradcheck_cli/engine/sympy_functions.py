"""SymPy functions that SymPy lacks in the form the expression language means."""

from __future__ import annotations

from typing import Any

import sympy as sp

#: Arguments below this get SymPy's exact loggamma; above, it can recurse without end.
_EXACT_BELOW = 10**6


class lgamma(sp.Function):  # type: ignore[misc]  # noqa: N801 - the name is how it prints
    """log |Gamma(x)|, as ``torch.lgamma`` computes it, real on the whole real line.

    SymPy's ``loggamma`` is the complex log-gamma, which is not real for negative x,
    and ``log(Abs(gamma(x)))`` differentiates into an unreadable formula.
    """

    @classmethod
    def eval(cls, x: Any) -> Any:
        if x.is_integer and x.is_nonpositive:
            return sp.oo
        if x.is_Rational and x.is_positive and x.q <= 2 and x < _EXACT_BELOW:
            # lgamma(1) = lgamma(2) = 0, lgamma(1/2) = log(sqrt(pi)): SymPy's exact forms.
            # Elsewhere the value stays lgamma(x), for the certified evaluation: SymPy's
            # loggamma recursed without end on 1e600 (x**2 at 1e300).
            return sp.loggamma(x)
        return None

    def fdiff(self, argindex: int = 1) -> Any:
        return sp.polygamma(0, self.args[0])

    def _eval_evalf(self, prec: int) -> Any:
        return sp.log(sp.Abs(sp.gamma(self.args[0])))._eval_evalf(prec)

    def _eval_is_real(self) -> bool | None:
        is_real: bool | None = self.args[0].is_real
        return is_real

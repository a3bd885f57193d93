"""SymPy functions that SymPy lacks in the form the expression language means."""

from __future__ import annotations

from fractions import Fraction
from math import comb, factorial
from typing import Any

import mpmath
import numpy as np
import sympy as sp
from sympy.core.function import ArgumentIndexError

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


class xlogy(sp.Function):  # type: ignore[misc]  # noqa: N801 - the name is how it prints
    """x*log(y), and 0 wherever x is 0 (at y = 0 and y < 0 too), as ``torch.xlogy``.

    ``x*log(y)`` would be 0*zoo (nan) at x = 0, y = 0 and complex at y < 0; torch
    defines xlogy(0, y) = 0 for every y that is not nan, and so does this class, so
    the exact side computes the function the user called. The derivative in y at
    x = 0 is then the derivative of the constant 0 (found by restriction where
    ``x/y`` is 0/0); the derivative in x, log(y), is the ordinary one.
    """

    nargs = 2

    @classmethod
    def eval(cls, x: Any, y: Any) -> Any:
        if x.is_zero:
            return sp.S.Zero
        if x.is_zero is False and x.is_number:
            return x * sp.log(y)  # the convention is only at x = 0
        return None

    def fdiff(self, argindex: int = 1) -> Any:
        x, y = self.args
        if argindex == 1:
            return sp.log(y)
        if argindex == 2:
            return x / y
        raise ArgumentIndexError(self, argindex)

    def _eval_evalf(self, prec: int) -> Any:
        x, y = self.args
        if x.is_zero:
            return sp.S.Zero
        return (x * sp.log(y))._eval_evalf(prec)

    def _eval_is_real(self) -> bool | None:
        x, y = self.args
        if x.is_zero:
            return True
        if x.is_real and y.is_positive:
            return True
        return None


class sinc(sp.Function):  # type: ignore[misc]  # noqa: N801 - the name is how it prints
    """The normalised sinc of ``torch.sinc``: sin(pi*x)/(pi*x), and 1 at x = 0.

    SymPy's ``sinc`` is the unnormalised sin(x)/x, and its derivative,
    cos(x)/x - sin(x)/x**2, is 0/0 at 0, where sinc is an ordinary point of an analytic
    function. So each derivative here is a function of its own
    (:class:`sinc_derivative`), with its exact value at 0 and an mpmath form that is
    accurate near 0 (a power series) as well as away from it.
    """

    nargs = 1

    @classmethod
    def eval(cls, x: Any) -> Any:
        return sinc_derivative.exact(0, x)

    def fdiff(self, argindex: int = 1) -> Any:
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return sinc_derivative(1, self.args[0])

    def _eval_evalf(self, prec: int) -> Any:
        return _evalf_sinc(0, self.args[0], prec)

    def _numpycode(self, printer: Any) -> str:
        # Not numpy's sinc(x/pi), which the printer would otherwise write for this name:
        # see sinc_numpy (a sweep's reference provides it as SINC_CODE_NAME).
        return f"{SINC_CODE_NAME}(0, {printer._print(self.args[0])})"

    _mpmathcode = _numpycode

    def _eval_is_real(self) -> bool | None:
        is_real: bool | None = self.args[0].is_real
        return is_real


class sinc_derivative(sp.Function):  # type: ignore[misc]  # noqa: N801 - prints as sinc'(x)
    """The n-th derivative of the normalised :class:`sinc`, ``sinc_derivative(n, x)``.

    Printed as ``sinc'(x)``, ``sinc''(x)``, ...: the formula a user reads.
    """

    nargs = 2

    @classmethod
    def eval(cls, n: Any, x: Any) -> Any:
        if not (n.is_Integer and n > 0):
            raise ValueError(f"sinc_derivative takes a positive integer order, not {n}")
        return cls.exact(int(n), x)

    @staticmethod
    def exact(n: int, x: Any) -> Any:
        """The exact value of the n-th derivative at 0 and at the integers, else ``None``.

        At 0, from the series sinc(x) = sum of (-1)**k (pi*x)**(2k) / (2k+1)!: 0 for odd
        n, (-1)**(n/2) * pi**n / (n + 1) for even n. At an integer m != 0, sin(pi*m) = 0
        and cos(pi*m) = (-1)**m make Leibniz's rule for sin(u) * u**-1 exact.
        """
        if x.is_zero:
            return sp.S.Zero if n % 2 else sp.Integer(-1) ** (n // 2) * sp.pi**n / (n + 1)
        if not (x.is_Integer and x != 0):
            return None
        u = sp.pi * x
        total = sp.S.Zero
        for k in range(n + 1):
            # sin(u + m*pi/2) at u = pi*x: 0 for even m, (-1)**((m-1)/2) * (-1)**x for odd m.
            m = n - k
            if m % 2:
                sine = sp.Integer(-1) ** ((m - 1) // 2 + int(x) % 2)
                total += sp.binomial(n, k) * sine * (-1) ** k * sp.factorial(k) / u ** (k + 1)
        return sp.expand(sp.pi**n * total)

    def fdiff(self, argindex: int = 2) -> Any:
        if argindex != 2:
            raise ArgumentIndexError(self, argindex)
        n, x = self.args
        return sinc_derivative(n + 1, x)

    def _eval_evalf(self, prec: int) -> Any:
        n, x = self.args
        return _evalf_sinc(int(n), x, prec)

    def _numpycode(self, printer: Any) -> str:
        n, x = self.args
        return f"{SINC_CODE_NAME}({int(n)}, {printer._print(x)})"

    _mpmathcode = _numpycode

    def _eval_is_real(self) -> bool | None:
        is_real: bool | None = self.args[1].is_real
        return is_real

    def _sympystr(self, printer: Any) -> str:
        n, x = self.args
        return f"sinc{chr(39) * int(n)}({printer.doprint(x)})"


def _evalf_sinc(n: int, x: Any, prec: int) -> Any:
    """SymPy's ``evalf`` of the n-th derivative of sinc, through :func:`sinc_mpmath`."""
    value = x._eval_evalf(prec + 20) if not x.is_Number else sp.Float(x, _dps(prec + 20))
    if value is None or not value.is_Float:
        return None
    with mpmath.workprec(prec + 20):
        result = sinc_mpmath(n, mpmath.mpf(value._mpf_))
    return sp.Float._new(mpmath.mpf(result)._mpf_, prec)


def _dps(bits: int) -> int:
    """Decimal digits for a precision in bits."""
    return max(1, int(bits * 0.30103) + 1)


#: The name under which generated numpy and mpmath code calls :func:`sinc_numpy` or
#: :func:`sinc_mpmath` (``sympy.lambdify(..., modules=[{SINC_CODE_NAME: ...}, ...])``).
SINC_CODE_NAME = "gradcheck_sinc"
#: pi to 40 digits, for arrays of any float type (numpy.pi is a float64).
_PI_TEXT = "3.141592653589793238462643383279502884197"


def sinc_numpy(n: int, x: Any) -> Any:
    """:func:`sinc_mpmath` for a numpy array, in the array's own float type (a sweep's
    reference evaluates in longdouble): the Taylor series where |pi*x| <= 1, which has no
    cancellation, and Leibniz's rule elsewhere."""
    x = np.asarray(x)
    kind = x.dtype.type if np.issubdtype(x.dtype, np.floating) else np.float64
    pi = kind(_PI_TEXT)
    u = pi * x.astype(kind)
    small = np.abs(u) <= 1
    near = np.where(small, u, kind(0))
    total = np.zeros_like(near)
    eps = np.finfo(kind).eps / 256
    for k in range((n + 1) // 2, (n + 1) // 2 + 40):
        ratio = Fraction((-1) ** k * factorial(2 * k), factorial(2 * k - n) * factorial(2 * k + 1))
        term = kind(ratio.numerator) / kind(ratio.denominator) * near ** (2 * k - n)
        total = total + term
        if np.all(np.abs(term) <= eps * np.abs(total)):
            break
    far = np.where(small, kind(1), u)
    sine, cosine = np.sin(far), np.cos(far)
    shifted = (sine, cosine, -sine, -cosine)  # sin(u + m*pi/2) for m = 0, 1, 2, 3 (mod 4)
    leibniz = sum(comb(n, j) * shifted[(n - j) % 4] * (-1) ** j * factorial(j) / far ** (j + 1)
                  for j in range(n + 1))
    return pi**n * np.where(small, total, leibniz)


def sinc_mpmath(n: int, x: Any) -> Any:
    """The n-th derivative of sin(pi*x)/(pi*x) at an mpmath number, at the working
    precision.

    Near 0 (|pi*x| <= 1) its Taylor series, which has no cancellation: the n-th
    derivative of sum (-1)**k u**(2k) / (2k+1)! with u = pi*x is
    pi**n * sum over 2k >= n of (-1)**k (2k)! / ((2k-n)! (2k+1)!) u**(2k-n).
    Elsewhere Leibniz's rule for sin(u) * u**-1, whose terms are no larger than n! and
    the result: d^n/du^n = sum over k of C(n,k) sin(u + (n-k)*pi/2) (-1)**k k! / u**(k+1).
    sin(u + m*pi/2) is taken as +-sin(u) or +-cos(u), never by adding m*pi/2 to u
    (which a huge u would swallow).
    """
    u = mpmath.pi * x
    if n == 0 and x != 0 and abs(u) > 1:
        return mpmath.sin(u) / u
    if abs(u) <= 1:
        total = mpmath.mpf(0)
        k = (n + 1) // 2
        eps = mpmath.mpf(2) ** (-mpmath.mp.prec - 8)
        while True:
            term = mpmath.mpf(-1) ** k * mpmath.factorial(2 * k) / (
                mpmath.factorial(2 * k - n) * mpmath.factorial(2 * k + 1)) * u ** (2 * k - n)
            total += term
            if abs(term) <= eps * abs(total):
                break
            k += 1
        return mpmath.pi**n * total
    sine, cosine = mpmath.sin(u), mpmath.cos(u)
    shifted = (sine, cosine, -sine, -cosine)  # sin(u + m*pi/2) for m = 0, 1, 2, 3 (mod 4)
    total = mpmath.fsum(mpmath.binomial(n, k) * shifted[(n - k) % 4] * (-1) ** k
                        * mpmath.factorial(k) / u ** (k + 1) for k in range(n + 1))
    return mpmath.pi**n * total

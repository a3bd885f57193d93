"""The function registry: the one place where a function is added.

Each row names a function once and gives its three forms:

* ``sympy``: the exact mathematical definition, used for the symbolic side;
* ``torch``: what a PyTorch user writes, used for the autograd side;
* ``math``: a plain-float form, used only to fold constants (point values such as
  ``pi/4`` and constant exponents checked against the limits) without importing
  SymPy or torch.

The SymPy and torch forms take the module as their first argument, so that this
module imports neither (``gradcheck --help`` and parse errors must stay fast).

A row may also describe where the function is not differentiable (``kink``): a
predicate on the exact SymPy arguments, and the convention PyTorch uses there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The modules are passed in as ``Any``: typing them would mean importing them.
SympyForm = Callable[..., Any]
TorchForm = Callable[..., Any]
MathForm = Callable[..., float]


@dataclass(frozen=True)
class Function:
    """One supported function and its implementations."""

    name: str
    arity: int
    summary: str
    sympy: SympyForm
    torch: TorchForm
    math: MathForm
    torch_name: str
    #: Where the function is not differentiable: given the exact argument values, a
    #: quantity that is zero exactly at a kink (``a`` for abs, ``a - b`` for max).
    #: ``None`` for functions smooth on their domain.
    kink: Callable[..., Any] | None = None
    #: What PyTorch returns at such a point, in words.
    convention: str | None = None
    #: ``elementwise`` functions map each element of a tensor; ``reduction``s take
    #: whole tensors (``sum``, ``dot``, ``matmul``) and their SymPy form gets arrays.
    kind: str = "elementwise"
    #: Defined for real arguments only, even where the formula would take others:
    #: max, min and relu compare their arguments, and of a number that is not real
    #: (``acos(2)``) there is no larger; the engine makes such a value undefined
    #: (SymPy's Max refuses it, or spends minutes deciding it).
    real_arguments: bool = False


def _sigmoid_float(x: float) -> float:
    # Written so that neither branch overflows.
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _softplus_float(x: float) -> float:
    return x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))


def _sign_float(x: float) -> float:
    return float((x > 0) - (x < 0))


def _lgamma_sympy(sp: Any, a: Any) -> Any:
    from .engine.sympy_functions import lgamma  # imports SymPy, so only when SymPy is in use

    return lgamma(a)


def _array(a: Any) -> Any:
    import numpy as np  # SymPy's side of tensors: arrays of exact expressions

    return np.asarray(a, dtype=object)


def _extremum(sp: Any, which: Any, a: Any, b: Any) -> Any:
    # Of a number that is not real (max(x, acos(2))) there is no larger of two values;
    # the engine gives such operands nan before they get here (``real_arguments``).
    # SymPy's Max may still refuse a comparison it cannot decide: undefined too.
    try:
        return which(a, b)
    except ValueError:
        return sp.nan


def _sympy_sum(sp: Any, a: Any) -> Any:
    return sp.Add(*_array(a).ravel())


def _sympy_prod(sp: Any, a: Any) -> Any:
    return sp.Mul(*_array(a).ravel())


def _sympy_matmul(sp: Any, a: Any, b: Any) -> Any:
    import numpy as np

    return np.matmul(_array(a), _array(b))


def _reduction(name: str, arity: int, summary: str, sympy: SympyForm, torch: TorchForm,
               math_form: MathForm, torch_name: str) -> Function:
    return Function(name, arity, summary, sympy, torch, math_form, torch_name, kind="reduction")


def _row(
    name: str,
    arity: int,
    summary: str,
    sympy: SympyForm,
    torch: TorchForm,
    math_form: MathForm,
    torch_name: str,
    kink: Callable[..., Any] | None = None,
    convention: str | None = None,
    real_arguments: bool = False,
) -> Function:
    return Function(name, arity, summary, sympy, torch, math_form, torch_name, kink, convention,
                    real_arguments=real_arguments)


_ROWS: tuple[Function, ...] = (
    _row("sin", 1, "sine", lambda sp, a: sp.sin(a), lambda t, a: t.sin(a), math.sin, "torch.sin"),
    _row("cos", 1, "cosine", lambda sp, a: sp.cos(a), lambda t, a: t.cos(a), math.cos, "torch.cos"),
    _row("tan", 1, "tangent", lambda sp, a: sp.tan(a), lambda t, a: t.tan(a), math.tan, "torch.tan"),
    _row("sec", 1, "secant, 1/cos", lambda sp, a: sp.sec(a), lambda t, a: 1 / t.cos(a),
         lambda a: 1 / math.cos(a), "1 / torch.cos"),
    _row("csc", 1, "cosecant, 1/sin", lambda sp, a: sp.csc(a), lambda t, a: 1 / t.sin(a),
         lambda a: 1 / math.sin(a), "1 / torch.sin"),
    _row("cot", 1, "cotangent, cos/sin", lambda sp, a: sp.cot(a), lambda t, a: t.cos(a) / t.sin(a),
         lambda a: math.cos(a) / math.sin(a), "torch.cos / torch.sin"),
    _row("asin", 1, "inverse sine", lambda sp, a: sp.asin(a), lambda t, a: t.asin(a), math.asin,
         "torch.asin"),
    _row("acos", 1, "inverse cosine", lambda sp, a: sp.acos(a), lambda t, a: t.acos(a), math.acos,
         "torch.acos"),
    _row("atan", 1, "inverse tangent", lambda sp, a: sp.atan(a), lambda t, a: t.atan(a), math.atan,
         "torch.atan"),
    _row("atan2", 2, "atan2(y, x), angle of the point (x, y)", lambda sp, y, x: sp.atan2(y, x),
         lambda t, y, x: t.atan2(y, x), math.atan2, "torch.atan2"),
    _row("sinh", 1, "hyperbolic sine", lambda sp, a: sp.sinh(a), lambda t, a: t.sinh(a), math.sinh,
         "torch.sinh"),
    _row("cosh", 1, "hyperbolic cosine", lambda sp, a: sp.cosh(a), lambda t, a: t.cosh(a),
         math.cosh, "torch.cosh"),
    _row("tanh", 1, "hyperbolic tangent", lambda sp, a: sp.tanh(a), lambda t, a: t.tanh(a),
         math.tanh, "torch.tanh"),
    _row("asinh", 1, "inverse hyperbolic sine", lambda sp, a: sp.asinh(a), lambda t, a: t.asinh(a),
         math.asinh, "torch.asinh"),
    _row("acosh", 1, "inverse hyperbolic cosine", lambda sp, a: sp.acosh(a),
         lambda t, a: t.acosh(a), math.acosh, "torch.acosh"),
    _row("atanh", 1, "inverse hyperbolic tangent", lambda sp, a: sp.atanh(a),
         lambda t, a: t.atanh(a), math.atanh, "torch.atanh"),
    _row("exp", 1, "exponential", lambda sp, a: sp.exp(a), lambda t, a: t.exp(a), math.exp,
         "torch.exp"),
    _row("log", 1, "natural logarithm", lambda sp, a: sp.log(a), lambda t, a: t.log(a), math.log,
         "torch.log"),
    _row("log2", 1, "base-2 logarithm", lambda sp, a: sp.log(a, 2), lambda t, a: t.log2(a),
         math.log2, "torch.log2"),
    _row("log10", 1, "base-10 logarithm", lambda sp, a: sp.log(a, 10), lambda t, a: t.log10(a),
         math.log10, "torch.log10"),
    _row("log1p", 1, "log(1 + x)", lambda sp, a: sp.log(1 + a), lambda t, a: t.log1p(a),
         math.log1p, "torch.log1p"),
    _row("expm1", 1, "exp(x) - 1", lambda sp, a: sp.exp(a) - 1, lambda t, a: t.expm1(a),
         math.expm1, "torch.expm1"),
    _row("sqrt", 1, "square root", lambda sp, a: sp.sqrt(a), lambda t, a: t.sqrt(a), math.sqrt,
         "torch.sqrt"),
    _row("abs", 1, "absolute value", lambda sp, a: sp.Abs(a), lambda t, a: t.abs(a), abs,
         "torch.abs", kink=lambda a: a, convention="PyTorch takes abs'(0) = 0"),
    _row("sign", 1, "sign: -1, 0 or 1", lambda sp, a: sp.sign(a), lambda t, a: t.sign(a),
         _sign_float, "torch.sign", kink=lambda a: a,
         convention="PyTorch takes sign'(x) = 0 everywhere, the jump at 0 included"),
    _row("sigmoid", 1, "logistic sigmoid 1/(1 + exp(-x))", lambda sp, a: 1 / (1 + sp.exp(-a)),
         lambda t, a: t.sigmoid(a), _sigmoid_float, "torch.sigmoid"),
    _row("softplus", 1, "log(1 + exp(x))", lambda sp, a: sp.log(1 + sp.exp(a)),
         lambda t, a: t.nn.functional.softplus(a), _softplus_float,
         "torch.nn.functional.softplus"),
    _row("relu", 1, "max(0, x)", lambda sp, a: _extremum(sp, sp.Max, 0, a), lambda t, a: t.relu(a),
         lambda a: max(0.0, a), "torch.relu", kink=lambda a: a,
         convention="PyTorch takes relu'(0) = 0", real_arguments=True),
    _row("erf", 1, "error function", lambda sp, a: sp.erf(a), lambda t, a: t.erf(a), math.erf,
         "torch.erf"),
    _row("erfc", 1, "complementary error function", lambda sp, a: sp.erfc(a),
         lambda t, a: t.erfc(a), math.erfc, "torch.erfc"),
    _row("lgamma", 1, "log |Gamma(x)|", _lgamma_sympy,
         lambda t, a: t.lgamma(a), math.lgamma, "torch.lgamma"),
    _row("min", 2, "smaller of two values", lambda sp, a, b: _extremum(sp, sp.Min, a, b),
         lambda t, a, b: t.minimum(a, b), min, "torch.minimum", kink=lambda a, b: a - b,
         convention="PyTorch's minimum splits a tie, 0.5 to each argument", real_arguments=True),
    _row("max", 2, "larger of two values", lambda sp, a, b: _extremum(sp, sp.Max, a, b),
         lambda t, a, b: t.maximum(a, b), max, "torch.maximum", kink=lambda a, b: a - b,
         convention="PyTorch's maximum splits a tie, 0.5 to each argument", real_arguments=True),
    # Reductions: on a scalar they are the identity (sum, mean, prod) or |x| (norm).
    _reduction("sum", 1, "sum of all elements", _sympy_sum, lambda t, a: t.sum(a),
               lambda a: a, "torch.sum"),
    _reduction("mean", 1, "mean of all elements",
               lambda sp, a: _sympy_sum(sp, a) / _array(a).size, lambda t, a: t.mean(a),
               lambda a: a, "torch.mean"),
    _reduction("prod", 1, "product of all elements", _sympy_prod, lambda t, a: t.prod(a),
               lambda a: a, "torch.prod"),
    _reduction("dot", 2, "dot product of two vectors",
               lambda sp, a, b: _sympy_sum(sp, _array(a) * _array(b)),
               lambda t, a, b: t.dot(a, b), lambda a, b: a * b, "torch.dot"),
    _reduction("norm", 1, "Euclidean norm, sqrt(sum(x**2))",
               lambda sp, a: sp.sqrt(_sympy_sum(sp, _array(a) ** 2)),
               lambda t, a: t.linalg.vector_norm(a), abs, "torch.linalg.vector_norm"),
    _reduction("matmul", 2, "matrix product", _sympy_matmul, lambda t, a, b: t.matmul(a, b),
               lambda a, b: a * b, "torch.matmul"),
)

#: Every supported function by name.
FUNCTIONS: dict[str, Function] = {row.name: row for row in _ROWS}

#: Named constants of the expression language, with their float values.
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


def function_table() -> list[tuple[str, str, str]]:
    """Rows of (call signature, meaning, torch form) for help texts and the README."""
    rows = []
    for function in _ROWS:
        params = ", ".join(["x"] if function.arity == 1 else ["a", "b"])
        if function.name == "atan2":
            params = "y, x"
        rows.append((f"{function.name}({params})", function.summary, function.torch_name))
    return rows

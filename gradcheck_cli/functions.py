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
    #: Other numbers of arguments it also takes: ``logsumexp(x)`` of a tensor, and
    #: ``logsumexp(a, b)`` of two values.
    other_arities: tuple[int, ...] = ()
    #: Its parameters as the function table writes them (``y, x`` for atan2); by
    #: default ``x``, ``a, b``, ``a, b, c``.
    params: str | None = None
    #: What a point where ``kink`` vanishes is called in messages.
    kink_kind: str = "a kink"
    #: An operator the call is the same as (``pow(a, b)`` is ``a**b``): the parser
    #: builds that operator's node, so that every rule for it holds for the call too.
    operator: str | None = None

    @property
    def arities(self) -> tuple[int, ...]:
        """Every number of arguments the function takes, its main one first."""
        return (self.arity, *self.other_arities)

    @property
    def signature(self) -> str:
        """The call as the function table shows it: ``atan2(y, x)``."""
        params = self.params or ", ".join(["x"] if self.arity == 1 else "abc"[:self.arity])
        return f"{self.name}({params})"


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


def _gelu_float(x: float) -> float:
    return 0.5 * x * math.erfc(-x / math.sqrt(2))


def _xlogy_float(x: float, y: float) -> float:
    return 0.0 if x == 0 else x * math.log(y)


def _sinc_float(x: float) -> float:
    return 1.0 if x == 0 else math.sin(math.pi * x) / (math.pi * x)


def _logsumexp_float(*xs: float) -> float:
    top = max(xs)
    if math.isinf(top):
        return top
    return top + math.log(math.fsum(math.exp(x - top) for x in xs))


def _sympy_xlogy(sp: Any, x: Any, y: Any) -> Any:
    from .engine.sympy_functions import xlogy  # imports SymPy, so only when SymPy is in use

    return xlogy(x, y)


def _sympy_sinc(sp: Any, x: Any) -> Any:
    from .engine.sympy_functions import sinc

    return sinc(x)


#: What torch.clamp's gradient is at its bounds, measured (torch 2.13) and documented.
CLAMP_CONVENTION = ("PyTorch's clamp gives x the gradient wherever lo <= x <= hi (1 at either "
                    "bound), and a bound the gradient only where x is strictly beyond it")


def _sympy_clamp(sp: Any, x: Any, lo: Any, hi: Any) -> Any:
    # min(max(x, lo), hi), as torch.clamp defines it: with lo > hi that is hi.
    return _extremum(sp, sp.Min, _extremum(sp, sp.Max, x, lo), hi)


def _torch_clamp(t: Any, x: Any, lo: Any, hi: Any) -> Any:
    # torch.clamp(x, -1, 1), as a user writes it, takes constant bounds as numbers: a
    # kernel (and backward) of its own. Bounds that are variables, or forward-mode
    # duals, stay tensors (torch takes two numbers or two tensors, not one of each).
    def plain(b: Any) -> bool:
        return bool(b.dim() == 0 and not b.requires_grad and
                    t.autograd.forward_ad.unpack_dual(b).tangent is None)

    if plain(lo) and plain(hi):
        return t.clamp(x, lo.item(), hi.item())
    return t.clamp(x, lo, hi)


def _sympy_logsumexp(sp: Any, *args: Any) -> Any:
    import numpy as np

    if len(args) == 2:
        # logsumexp(a, b) = log(exp(a) + exp(b)), broadcast as torch.logaddexp does.
        pair = np.vectorize(lambda a, b: sp.log(sp.exp(a) + sp.exp(b)), otypes=[object])
        result = pair(*args)
        return result if result.ndim else result.item()
    # Of a scalar, log(exp(x)), which SymPy writes as x.
    return sp.log(sp.Add(*[sp.exp(a) for a in _array(args[0]).ravel()]))


def _torch_logsumexp(t: Any, *args: Any) -> Any:
    if len(args) == 2:
        return t.logaddexp(*args)
    (a,) = args
    return t.logsumexp(a, dim=tuple(range(a.dim())))


def _sympy_softmax(sp: Any, a: Any, log: bool) -> Any:
    """softmax or log_softmax over the last dimension, as torch's ``dim=-1``.

    Element i of a row is written 1/(1 + sum over j != i of exp(x_j - x_i)), which is
    exp(x_i)/sum(exp(x_j)) exactly, and its log as -log(1 + ...): every term of these
    and of their derivatives is positive, so no cancellation hides a digit, even at
    exp(1e300).
    """
    import numpy as np

    array = _array(a)
    if not array.shape:
        return sp.S.Zero if log else sp.S.One  # torch: softmax of a 0-d tensor is 1
    out = np.empty(array.shape, dtype=object)
    for index in np.ndindex(*array.shape[:-1]):
        row = array[index]
        for i in range(len(row)):
            total = 1 + sp.Add(*[sp.exp(row[j] - row[i]) for j in range(len(row)) if j != i])
            out[(*index, i)] = -sp.log(total) if log else 1 / total
    return out


def _reduction(name: str, arity: int, summary: str, sympy: SympyForm, torch: TorchForm,
               math_form: MathForm, torch_name: str, other_arities: tuple[int, ...] = ()
               ) -> Function:
    return Function(name, arity, summary, sympy, torch, math_form, torch_name, kind="reduction",
                    other_arities=other_arities)


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
    **extra: Any,
) -> Function:
    return Function(name, arity, summary, sympy, torch, math_form, torch_name, kink, convention,
                    real_arguments=real_arguments, **extra)


_ROWS: tuple[Function, ...] = (
    _row("sin", 1, "sine", lambda sp, a: sp.sin(a), lambda t, a: t.sin(a), math.sin, "torch.sin"),
    _row("cos", 1, "cosine", lambda sp, a: sp.cos(a), lambda t, a: t.cos(a), math.cos, "torch.cos"),
    _row("tan", 1, "tangent", lambda sp, a: sp.tan(a), lambda t, a: t.tan(a), math.tan, "torch.tan"),
    # reciprocal, not 1 / x: the same numbers, but torch's forward mode runs a Python
    # decomposition for a Python number times a dual one (0.1 ms, and an import of
    # torch._dynamo the first time, 0.4 s per process).
    _row("sec", 1, "secant, 1/cos", lambda sp, a: sp.sec(a), lambda t, a: t.reciprocal(t.cos(a)),
         lambda a: 1 / math.cos(a), "1 / torch.cos"),
    _row("csc", 1, "cosecant, 1/sin", lambda sp, a: sp.csc(a), lambda t, a: t.reciprocal(t.sin(a)),
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
         lambda t, y, x: t.atan2(y, x), math.atan2, "torch.atan2", params="y, x"),
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
         convention="PyTorch's minimum splits a tie, 0.5 to each argument", real_arguments=True,
         kink_kind="a tie"),
    _row("max", 2, "larger of two values", lambda sp, a, b: _extremum(sp, sp.Max, a, b),
         lambda t, a, b: t.maximum(a, b), max, "torch.maximum", kink=lambda a, b: a - b,
         convention="PyTorch's maximum splits a tie, 0.5 to each argument", real_arguments=True,
         kink_kind="a tie"),
    # The activations and losses of machine learning, each as torch.nn.functional has it.
    _row("gelu", 1, "GELU, exact: x/2*(1 + erf(x/sqrt(2)))",
         lambda sp, a: a * (1 + sp.erf(a / sp.sqrt(2))) / 2,
         lambda t, a: t.nn.functional.gelu(a), _gelu_float, "torch.nn.functional.gelu"),
    _row("silu", 1, "SiLU (swish): x*sigmoid(x)", lambda sp, a: a / (1 + sp.exp(-a)),
         lambda t, a: t.nn.functional.silu(a), lambda a: a * _sigmoid_float(a),
         "torch.nn.functional.silu"),
    _row("mish", 1, "mish: x*tanh(softplus(x))", lambda sp, a: a * sp.tanh(sp.log(1 + sp.exp(a))),
         lambda t, a: t.nn.functional.mish(a), lambda a: a * math.tanh(_softplus_float(a)),
         "torch.nn.functional.mish"),
    _row("logsigmoid", 1, "log(sigmoid(x)) = -log(1 + exp(-x))",
         lambda sp, a: -sp.log(1 + sp.exp(-a)), lambda t, a: t.nn.functional.logsigmoid(a),
         lambda a: -_softplus_float(-a), "torch.nn.functional.logsigmoid"),
    _row("clamp", 3, "x limited to [lo, hi]: min(max(x, lo), hi)", _sympy_clamp,
         _torch_clamp, lambda a, lo, hi: min(max(a, lo), hi),
         "torch.clamp", kink=lambda a, lo, hi: (a - lo) * (a - hi) * (lo - hi),
         convention=CLAMP_CONVENTION, real_arguments=True, params="x, lo, hi"),
    _row("hypot", 2, "sqrt(a**2 + b**2)", lambda sp, a, b: sp.sqrt(a**2 + b**2),
         lambda t, a, b: t.hypot(a, b), math.hypot, "torch.hypot",
         kink=lambda a, b: a**2 + b**2, kink_kind="a cone point (both arguments 0)",
         convention="PyTorch's hypot gives nan for both partials at (0, 0)"),
    _row("xlogy", 2, "x*log(y), and 0 where x = 0 (y = 0 included)", _sympy_xlogy,
         lambda t, a, b: t.xlogy(a, b), _xlogy_float, "torch.xlogy", params="x, y"),
    _row("sinc", 1, "normalised sinc: sin(pi*x)/(pi*x), and 1 at 0", _sympy_sinc,
         lambda t, a: t.sinc(a), _sinc_float, "torch.sinc"),
    _row("pow", 2, "a**b, the same as the operator", lambda sp, a, b: a**b,
         lambda t, a, b: t.pow(a, b), math.pow, "torch.pow", operator="**"),
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
    _reduction("logsumexp", 1, "log(sum(exp(x))) over all elements; logsumexp(a, b) is "
               "log(exp(a) + exp(b)), element by element", _sympy_logsumexp, _torch_logsumexp,
               _logsumexp_float, "torch.logsumexp, torch.logaddexp", other_arities=(2,)),
    _reduction("softmax", 1, "exp(x)/sum(exp(x)) over the last dimension (a scalar gives 1)",
               lambda sp, a: _sympy_softmax(sp, a, log=False),
               lambda t, a: t.softmax(a, dim=-1), lambda a: 1.0, "torch.softmax(x, dim=-1)"),
    _reduction("log_softmax", 1, "log(softmax(x)) over the last dimension (a scalar gives 0)",
               lambda sp, a: _sympy_softmax(sp, a, log=True),
               lambda t, a: t.log_softmax(a, dim=-1), lambda a: 0.0,
               "torch.log_softmax(x, dim=-1)"),
)

#: Every supported function by name.
FUNCTIONS: dict[str, Function] = {row.name: row for row in _ROWS}

#: Named constants of the expression language, with their float values.
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


def function_table() -> list[tuple[str, str, str]]:
    """Rows of (call signature, meaning, torch form) for help texts and the README."""
    return [(function.signature, function.summary, function.torch_name) for function in _ROWS]

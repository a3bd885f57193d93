"""The function registry: every row's SymPy form and torch form agree at an ordinary point,
and with the mathematics written out here with ``math``."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from typer.testing import Result

from gradcheck_cli import Status, check
from gradcheck_cli.functions import FUNCTIONS, function_table

EULER_GAMMA = 0.5772156649015329


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


# name -> (point, f(point), f'(point)), each worked out with math at an interior point
UNARY: dict[str, tuple[float, float, float]] = {
    "sin": (0.7, math.sin(0.7), math.cos(0.7)),
    "cos": (0.7, math.cos(0.7), -math.sin(0.7)),
    "tan": (0.7, math.tan(0.7), 1 / math.cos(0.7) ** 2),
    "sec": (0.7, 1 / math.cos(0.7), math.sin(0.7) / math.cos(0.7) ** 2),
    "csc": (0.7, 1 / math.sin(0.7), -math.cos(0.7) / math.sin(0.7) ** 2),
    "cot": (0.7, math.cos(0.7) / math.sin(0.7), -1 / math.sin(0.7) ** 2),
    "asin": (0.3, math.asin(0.3), 1 / math.sqrt(1 - 0.09)),
    "acos": (0.3, math.acos(0.3), -1 / math.sqrt(1 - 0.09)),
    "atan": (0.7, math.atan(0.7), 1 / (1 + 0.49)),
    "sinh": (0.7, math.sinh(0.7), math.cosh(0.7)),
    "cosh": (0.7, math.cosh(0.7), math.sinh(0.7)),
    "tanh": (0.7, math.tanh(0.7), 1 - math.tanh(0.7) ** 2),
    "asinh": (0.7, math.asinh(0.7), 1 / math.sqrt(0.49 + 1)),
    "acosh": (2.0, math.acosh(2.0), 1 / math.sqrt(3.0)),
    "atanh": (0.3, math.atanh(0.3), 1 / (1 - 0.09)),
    "exp": (0.7, math.exp(0.7), math.exp(0.7)),
    "log": (2.0, math.log(2.0), 0.5),
    "log2": (3.0, math.log2(3.0), 1 / (3.0 * math.log(2))),
    "log10": (3.0, math.log10(3.0), 1 / (3.0 * math.log(10))),
    "log1p": (0.5, math.log1p(0.5), 1 / 1.5),
    "expm1": (0.7, math.expm1(0.7), math.exp(0.7)),
    "sqrt": (2.0, math.sqrt(2.0), 1 / (2 * math.sqrt(2.0))),
    "abs": (-0.7, 0.7, -1.0),
    "sign": (-0.7, -1.0, 0.0),
    "sigmoid": (0.7, sigmoid(0.7), sigmoid(0.7) * (1 - sigmoid(0.7))),
    "softplus": (0.7, math.log1p(math.exp(0.7)), sigmoid(0.7)),
    "relu": (0.7, 0.7, 1.0),
    "erf": (0.7, math.erf(0.7), 2 / math.sqrt(math.pi) * math.exp(-0.49)),
    "erfc": (0.7, math.erfc(0.7), -2 / math.sqrt(math.pi) * math.exp(-0.49)),
    # digamma(2.5) = digamma(1/2) + 1/(1/2) + 1/(3/2) = -gamma - 2 log 2 + 2 + 2/3
    "lgamma": (2.5, math.lgamma(2.5), -EULER_GAMMA - 2 * math.log(2) + 2 + 2 / 3),
}

# name -> (y, x), f(y, x), (df/dy, df/dx): the expression is name(y, x)
BINARY: dict[str, tuple[tuple[float, float], float, tuple[float, float]]] = {
    "atan2": ((0.7, 1.3), math.atan2(0.7, 1.3),
              (1.3 / (1.3 ** 2 + 0.7 ** 2), -0.7 / (1.3 ** 2 + 0.7 ** 2))),
    "min": ((0.7, 1.3), 0.7, (1.0, 0.0)),
    "max": ((0.7, 1.3), 1.3, (0.0, 1.0)),
}

NAMES = ["sin", "cos", "tan", "sec", "csc", "cot", "asin", "acos", "atan", "atan2", "sinh",
         "cosh", "tanh", "asinh", "acosh", "atanh", "exp", "log", "log2", "log10", "log1p",
         "expm1", "sqrt", "abs", "sign", "sigmoid", "softplus", "relu", "erf", "erfc", "lgamma",
         "min", "max"]


def test_registry_has_the_documented_functions() -> None:
    assert set(NAMES) <= set(FUNCTIONS)
    assert set(UNARY) | set(BINARY) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_arity(name: str) -> None:
    assert FUNCTIONS[name].arity == (2 if name in BINARY else 1)
    assert FUNCTIONS[name].name == name


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_function(name: str) -> None:
    point, value, derivative = UNARY[name]
    result = check(f"{name}(x)", {"x": point})
    assert (result.status, result.category) == (Status.PASS, "ok"), result.message
    assert result.value is not None
    assert result.value.symbolic == pytest.approx(value, rel=1e-14, abs=1e-15)
    assert result.value.autograd == pytest.approx(value, rel=1e-14, abs=1e-15)
    (d,) = result.derivatives
    assert d.symbolic == pytest.approx(derivative, rel=1e-14, abs=1e-15)
    assert d.autograd == pytest.approx(derivative, rel=1e-13, abs=1e-15)
    # The float form used to fold constants is the same function.
    assert FUNCTIONS[name].math(point) == pytest.approx(value, rel=1e-14, abs=1e-15)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_function(name: str) -> None:
    (y, x), value, (dy, dx) = BINARY[name]
    result = check(f"{name}(y, x)", {"y": y, "x": x})
    assert (result.status, result.category) == (Status.PASS, "ok"), result.message
    assert result.value is not None
    assert result.value.symbolic == pytest.approx(value, rel=1e-14)
    assert [d.wrt for d in result.derivatives] == [("y",), ("x",)]
    assert [d.symbolic for d in result.derivatives] == pytest.approx([dy, dx], rel=1e-14, abs=1e-15)
    assert [d.autograd for d in result.derivatives] == pytest.approx([dy, dx], rel=1e-13, abs=1e-15)
    assert FUNCTIONS[name].math(y, x) == pytest.approx(value, rel=1e-14)


def test_function_table_rows() -> None:
    rows = function_table()
    assert [call.split("(")[0] for call, _, _ in rows] == list(FUNCTIONS)
    for call, meaning, torch_form in rows:
        name = call.split("(")[0]
        if name in NAMES:
            assert call.count(",") == FUNCTIONS[name].arity - 1
        assert meaning
        assert torch_form == FUNCTIONS[name].torch_name
    assert ("atan2(y, x)", FUNCTIONS["atan2"].summary, "torch.atan2") in rows


def test_functions_option_lists_every_name(gradcheck: Callable[..., Result]) -> None:
    result = gradcheck("--functions")
    assert result.exit_code == 0
    # A row starts two spaces in; what folds under it starts further in.
    listed = {line.split()[0].split("(")[0] for line in result.stdout.splitlines()
              if line.startswith("  ") and not line.startswith("   ") and "(" in line}
    assert listed == set(FUNCTIONS)
    assert set(NAMES) <= listed

"""float16 and bfloat16: the ranges, the default tolerances, overflow, underflow, rounding.

Every expected number here is worked out by hand or with ``math`` at float64 (exact values
of derivatives), and the half-precision results torch must give are emulated by rounding
to the dtype's significant bits (:func:`held`), never read from gradcheck itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest
from typer.testing import Result

from gradcheck_cli.check import check
from gradcheck_cli.compare import default_tolerance, finite_difference_tolerance
from gradcheck_cli.dtypes import DType
from gradcheck_cli.results import Status

Invoke = Callable[..., Result]

#: Significant bits (the implicit one included): IEEE binary16 has 11, bfloat16 8.
BITS = {"float16": 11, "bfloat16": 8}

#: torch.testing.assert_close's default (rtol, atol) per dtype, from its documentation.
ASSERT_CLOSE = {"float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5)}


def held(value: float, dtype: str) -> float:
    """``value`` rounded to the dtype's significant bits, ties to even (normal range)."""
    if value == 0 or not math.isfinite(value):
        return value
    mantissa, exponent = math.frexp(value)  # value = mantissa * 2**exponent, 0.5 <= |m| < 1
    bits = BITS[dtype]
    return float(round(mantissa * 2**bits) * 2.0 ** (exponent - bits))  # round(): ties to even


def within(actual: float, exact: float, dtype: str) -> bool:
    rtol, atol = ASSERT_CLOSE[dtype]
    return abs(actual - exact) <= atol + rtol * abs(exact)


# -- the dtypes -----------------------------------------------------------------------------


@pytest.mark.parametrize(("dtype", "largest", "smallest_normal", "epsilon", "tiny"), [
    # binary16: 5 exponent bits (bias 15), 10 fraction bits
    (DType.FLOAT16, (2 - 2**-10) * 2**15, 2.0**-14, 2.0**-10, 2.0**-14 * 2**-10 / 2),
    # bfloat16: float32's 8 exponent bits (bias 127), 7 fraction bits
    (DType.BFLOAT16, (2 - 2**-7) * 2.0**127, 2.0**-126, 2.0**-7, 2.0**-126 * 2**-7 / 2),
])
def test_the_half_types_hold_what_ieee_and_bfloat16_say(dtype: DType, largest: float,
                                                        smallest_normal: float, epsilon: float,
                                                        tiny: float) -> None:
    assert dtype.largest == largest
    assert dtype.smallest_normal == smallest_normal
    assert dtype.epsilon == epsilon
    assert dtype.tiny == tiny  # half the smallest subnormal: below it, a value rounds to 0


def test_the_named_values() -> None:
    assert DType.FLOAT16.largest == 65504.0
    assert DType.BFLOAT16.largest == 3.3895313892515355e38
    assert float(np.finfo(np.float16).max) == 65504.0
    assert float(np.finfo(np.float16).smallest_subnormal) == 2 * DType.FLOAT16.tiny


@pytest.mark.parametrize(("dtype", "rtol", "atol"), [
    ("float16", 1e-3, 1e-5),
    ("bfloat16", 1.6e-2, 1e-5),
    # Unchanged by the half types: tighter than assert_close's 1.3e-6/1e-5 and 1e-7/1e-7.
    ("float32", 1e-5, 1e-6),
    ("float64", 1e-7, 1e-12),
])
def test_default_tolerances(dtype: str, rtol: float, atol: float) -> None:
    tolerance = default_tolerance(dtype)
    assert (tolerance.rtol, tolerance.atol) == (rtol, atol)


@pytest.mark.parametrize(("dtype", "rough"), [("float16", 0.098), ("bfloat16", 0.39)])
def test_finite_differences_in_a_half_type_are_a_rough_opinion(dtype: str, rough: float) -> None:
    # 10 * eps**(2/3): float16 10 * 2**(-20/3) = 0.0984, bfloat16 10 * 2**(-14/3) = 0.394.
    tolerance = finite_difference_tolerance(1, dtype)
    assert tolerance.rtol == pytest.approx(rough, rel=0.01)
    assert finite_difference_tolerance(2, dtype).rtol == pytest.approx(100 * rough, rel=0.01)


# -- ordinary functions at ordinary points pass ---------------------------------------------

#: (expression, x, exact value, exact derivative), by hand and ``math``.
ORDINARY = [
    ("sin(x)", 0.5, math.sin(0.5), math.cos(0.5)),
    ("exp(x)", 2.0, math.exp(2), math.exp(2)),
    ("x**3", 2.0, 8.0, 12.0),
    ("tanh(x)", 0.25, math.tanh(0.25), 1 - math.tanh(0.25) ** 2),
    ("sigmoid(x)", 1.0, 1 / (1 + math.exp(-1)), math.exp(-1) / (1 + math.exp(-1)) ** 2),
    ("log(x)", 3.0, math.log(3), 1 / 3),
    ("sqrt(x)", 4.0, 2.0, 0.25),
    ("x*exp(-x)", 0.5, 0.5 * math.exp(-0.5), 0.5 * math.exp(-0.5)),
]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize(("expression", "x", "value", "derivative"), ORDINARY)
def test_ordinary_checks_pass_with_the_default_tolerances(dtype: str, expression: str, x: float,
                                                          value: float, derivative: float
                                                          ) -> None:
    assert held(x, dtype) == x  # points the dtype holds exactly: no rounded point
    result = check(expression, f"x={x}", dtype=dtype)
    assert result.status is Status.PASS, result.message
    assert result.value is not None
    (d,) = result.derivatives
    assert result.value.symbolic == pytest.approx(value, rel=1e-15)
    assert d.symbolic == pytest.approx(derivative, rel=1e-15)
    # computed in the dtype: numbers it holds, close to the exact ones by assert_close's rule
    for computed, exact in ((result.value.autograd, value), (d.autograd, derivative)):
        assert isinstance(computed, float)
        assert held(computed, dtype) == computed
        assert within(computed, exact, dtype)
    assert d.forward_mode == d.autograd  # forward mode works in half precision on cpu


@pytest.mark.parametrize(("dtype", "value"), [
    # exp(2) = 7.389056...: float16's spacing in [4, 8) is 2**-8, bfloat16's 2**-5
    ("float16", 1892 / 2**8),   # 7.389056 * 256 = 1891.6
    ("bfloat16", 236 / 2**5),   # 7.389056 * 32 = 236.45
])
def test_exp_is_the_exact_value_rounded_to_the_dtype(dtype: str, value: float) -> None:
    result = check("exp(x)", "x=2", dtype=dtype)
    assert result.value is not None
    assert result.value.autograd == value == held(math.exp(2), dtype)
    assert result.derivatives[0].autograd == value


def test_tensors_in_half_precision() -> None:
    # d/dx sum(x**2) = 2x: [1, 3, -5], exact in either dtype
    for dtype in ("float16", "bfloat16"):
        result = check("sum(x**2)", "x=[0.5, 1.5, -2.5]", dtype=dtype)
        assert result.status is Status.PASS, result.message
        assert result.value is not None and result.value.autograd == 0.25 + 2.25 + 6.25
        assert result.derivatives[0].autograd == (1.0, 3.0, -5.0)


# -- overflow and underflow, by the dtype's range --------------------------------------------


def test_exp_at_12_overflows_float16() -> None:
    exact = math.exp(12)  # 162754.791419..., beyond 65504
    assert exact > 65504
    result = check("exp(x)", "x=12", dtype="float16")
    assert result.status is Status.WARN
    assert result.category == "overflow"
    assert result.value is not None
    for comparison in (result.value, result.derivatives[0]):
        assert comparison.category == "overflow"
        assert comparison.status is Status.WARN
        assert comparison.symbolic == pytest.approx(exact, rel=1e-15)
        assert comparison.autograd == math.inf
        assert comparison.message is not None
        assert "162754.791419" in comparison.message
        assert "beyond float16's range (largest 65504)" in comparison.message


def test_exp_at_12_fits_bfloat16() -> None:
    # bfloat16 has float32's range: exp(12) is in [2**17, 2**18), spacing 2**10;
    # 162754.79 / 1024 = 158.94 -> 159 * 1024 = 162816.
    result = check("exp(x)", "x=12", dtype="bfloat16")
    assert result.status is Status.PASS
    assert result.value is not None and result.value.autograd == 159 * 1024.0


def test_a_literal_beyond_float16_overflows() -> None:
    # 100000 is inf in float16: the value and the derivative 100000 are beyond its range
    result = check("x*100000", "x=1", dtype="float16")
    assert result.category == "overflow"
    assert result.derivatives[0].symbolic == 100000.0
    assert result.derivatives[0].autograd == math.inf


def test_exp_at_minus_20_underflows_float16_but_not_bfloat16() -> None:
    exact = math.exp(-20)  # 2.06e-9: below float16's smallest subnormal 2**-24 = 5.96e-8
    assert exact < 2.0**-25
    result = check("exp(x)", "x=-20", dtype="float16")
    assert result.status is Status.WARN and result.category == "underflow"
    assert result.value is not None and result.value.autograd == 0.0
    assert "too small for float16" in (result.value.message or "")
    wide = check("exp(x)", "x=-20", dtype="bfloat16")  # 2**-126 is far below it
    assert wide.status is Status.PASS
    assert wide.value is not None and wide.value.autograd == held(exact, "bfloat16")


# -- rounding: a half-precision difference that float64 does not have ------------------------


def test_a_float16_derivative_mismatch_that_float64_explains_is_rounding() -> None:
    # d/dx (x+100)**2 - 200x = 2x = 0.2 at 0.1. In float16, x = 0.0999755859375 and
    # x + 100 = 100.125 (spacing 2**-4 in [64, 128)); the backward is 2 * 100.125 - 200.
    x16 = np.float16(0.1)
    assert float(x16) == 0.0999755859375
    shifted = np.float16(x16 + np.float16(100))
    assert float(shifted) == 100.125
    emulated = float(np.float16(np.float16(2) * shifted) - np.float16(200))
    assert emulated == 0.25
    result = check("(x+100)**2 - 200*x", "x=0.1", dtype="float16")
    (d,) = result.derivatives
    assert d.autograd == emulated
    assert d.symbolic == pytest.approx(0.2, rel=1e-15)
    assert d.status is Status.FAIL and d.category == "rounding"
    assert d.message is not None
    assert "the same computation in float64 gives 0.2" in d.message
    assert "float16 rounding" in d.message


def test_a_bfloat16_derivative_mismatch_that_float64_explains_is_rounding() -> None:
    # d/dx (x+1000)**2 - 2000x = 2x = 1 at 0.5. bfloat16 holds 1000.5 as 1000 (spacing 4 in
    # [512, 1024)): the backward is 2 * 1000 - 2000 = 0.
    assert held(1000.5, "bfloat16") == 1000.0
    result = check("(x+1000)**2 - 2000*x", "x=0.5", dtype="bfloat16")
    (d,) = result.derivatives
    assert d.autograd == 0.0
    assert d.symbolic == 1.0
    assert d.category == "rounding" and d.status is Status.FAIL
    assert "bfloat16 rounding" in (d.message or "")


@pytest.mark.parametrize(("dtype", "computed"), [
    # (x+100) - 100 at 0.1: float16 100.0999755859375 -> 100.125 (spacing 2**-4);
    # bfloat16 holds 100.1 as 100 (spacing 2**-1 in [64, 128))
    ("float16", 0.125),
    ("bfloat16", 0.0),
])
def test_a_value_lost_to_rounding_is_rounding(dtype: str, computed: float) -> None:
    result = check("(x+100)-100", "x=0.1", dtype=dtype)
    assert result.value is not None
    assert result.value.autograd == computed
    assert result.value.category == "rounding"
    assert result.derivatives[0].status is Status.PASS  # d/dx is exactly 1 either way


# -- the command line --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_the_command_line_takes_the_half_types(gradcheck: Invoke, dtype: str) -> None:
    result = gradcheck("x**3", "--at", "x=2", "--dtype", dtype, "--format", "json")
    assert result.exit_code == 0, result.stderr
    (found,) = json.loads(result.stdout)["checks"]
    assert found["status"] == "pass"
    assert found["derivatives"][0]["autograd"] == 12.0


def test_the_command_line_reports_float16_overflow(gradcheck: Invoke) -> None:
    result = gradcheck("exp(x)", "--at", "x=12", "--dtype", "float16", "--format", "json")
    assert result.exit_code == 0, result.stderr  # a warning, not a failure
    (found,) = json.loads(result.stdout)["checks"]
    assert found["category"] == "overflow"


@pytest.mark.parametrize("value", ["float8", "int32"])
def test_the_command_line_refuses_other_dtypes_listing_all_four(gradcheck: Invoke,
                                                                 value: str) -> None:
    result = gradcheck("x", "--at", "x=1", "--dtype", value)
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "choose float64, float32, float16 or bfloat16" in message
    assert "Traceback" not in result.stderr


# -- an op without a half kernel ----------------------------------------------------------------


def _torch_error(compute: Callable[[], object]) -> Exception:
    try:
        compute()
    except Exception as error:  # torch's own error, as a check would meet it
        return error
    raise AssertionError("torch computed it: pick another op without a half kernel")


def _eigh_bfloat16() -> object:
    import torch
    return torch.linalg.eigh(torch.eye(2, dtype=torch.bfloat16))


def _inv_float16() -> object:
    import torch
    return torch.linalg.inv(torch.eye(2, dtype=torch.float16))


@pytest.mark.parametrize(("compute", "words"), [
    (_eigh_bfloat16, "bfloat16 is not supported by torch for linalg_eigh_cpu"),
    (_inv_float16, "float16 is not supported by torch for linalg.inv"),
])
def test_an_op_without_a_half_kernel_is_said_in_words(compute: Callable[[], object], words: str
                                                      ) -> None:
    from gradcheck_cli.dtypes import unsupported

    message = unsupported(_torch_error(compute))
    assert message is not None and message.startswith(words)
    assert "compute in float32 or float64" in message
    assert unsupported(RuntimeError("something else went wrong")) is None


def test_a_check_that_meets_one_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from gradcheck_cli.check import load_evaluation
    from gradcheck_cli.engine import evaluate

    load_evaluation()
    error = _torch_error(_eigh_bfloat16)

    def no_kernel(request: object) -> object:
        raise error

    monkeypatch.setattr(evaluate, "evaluate_request", no_kernel)
    result = check("sin(x)", "x=1", dtype="bfloat16")
    assert result.status is Status.ERROR
    assert result.category == "bad_option"
    assert (result.message or "").startswith("bfloat16 is not supported by torch for "
                                             "linalg_eigh_cpu")
    assert "internal" not in (result.message or "") and "Traceback" not in (result.message or "")


def test_a_tensor_element_lost_to_float16_rounding_is_rounding() -> None:
    # out[0] = (0.1 + 100) - 100 is 0.125 in float16 (as above); out[1] = 0.5 exactly.
    result = check("(x+100)-100", "x=[0.1, 0.5]", dtype="float16")
    assert result.value is not None
    assert result.value.autograd == (0.125, 0.5)
    assert result.value.category == "rounding"
    assert (result.value.message or "").startswith("out[0]: autograd gives 0.125")


def _call(name: str, arity: int) -> tuple[str, str]:
    """A call of ``name`` in x, and a point: vectors for dot and matmul."""
    if name in ("dot", "matmul"):
        return f"{name}(x, x)", "x=[0.5, 1.5]"
    return f"{name}({', '.join(['x', '0.7', '1.3'][:arity])})", "x=0.4"


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_every_function_has_a_half_kernel_on_the_cpu(dtype: str) -> None:
    from gradcheck_cli.functions import FUNCTIONS

    for name, function in FUNCTIONS.items():
        expression, point = _call(name, function.arity)
        result = check(expression, point, dtype=dtype)
        assert result.status is not Status.ERROR, (expression, result.message)
        if not point.startswith("x=["):  # tensor checks have no forward-mode column
            assert all(d.forward_mode is not None for d in result.derivatives), expression

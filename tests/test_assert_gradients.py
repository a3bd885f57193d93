"""``assert_gradients``: gradcheck as one line of a user's test.

Expected values are derived by hand (the derivative of x*sigmoid(x) is
sigmoid(x)*(1 + x*(1 - sigmoid(x)))) and computed here with ``math``, never by gradcheck.
"""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import gradcheck_cli
from gradcheck_cli.results import Category, Status
from gradcheck_cli.testing import GradcheckWarning, assert_gradients

REPO = Path(__file__).resolve().parent.parent


def swish(x: torch.Tensor) -> torch.Tensor:
    """Right: x*sigmoid(x)."""
    return x * torch.sigmoid(x)


def swish_tanh(x: torch.Tensor) -> torch.Tensor:
    """Wrong: another function, x*tanh(x)."""
    return x * torch.tanh(x)


def square_by_abs(x: torch.Tensor) -> torch.Tensor:
    """x*|x|: x**2 for x >= 0 only, so of several points only the negative ones fail."""
    return x * torch.abs(x)


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def swish_prime(x: float) -> float:
    """d/dx x*sigmoid(x) = sigmoid(x) + x*sigmoid(x)*(1 - sigmoid(x))."""
    s = sigmoid(x)
    return s + x * s * (1 - s)


def close(a: object, b: float, rtol: float) -> bool:
    return isinstance(a, float) and abs(a - b) <= rtol * abs(b)


def as_float32(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", value))[0])


def caught(**kwargs: object) -> str:
    """The text of the AssertionError that ``assert_gradients(**kwargs)`` must raise."""
    with pytest.raises(AssertionError) as info:
        assert_gradients(**kwargs)  # type: ignore[arg-type]
    assert type(info.value) is AssertionError
    return str(info.value)


# -- passing -----------------------------------------------------------------------------


def test_pass_returns_the_results_with_the_exact_values() -> None:
    results = assert_gradients("x*sigmoid(x)", at={"x": 1.5}, impl=swish)
    assert len(results) == 1
    (derivative,) = results[0].derivatives
    assert results[0].status is Status.PASS
    assert close(derivative.symbolic, swish_prime(1.5), 1e-15)   # 1.0412941542991...
    assert close(derivative.autograd, swish_prime(1.5), 1e-14)
    assert results[0].impl is not None and "swish" in results[0].impl


def test_several_points_in_float32_are_checked_in_float32() -> None:
    points = [-3.0, 0.0, 40.0]
    results = assert_gradients("x*sigmoid(x)", at=["x=-3", "x=0", "x=40"], impl=swish,
                               dtype="float32")
    assert [r.point_dict["x"] for r in results] == points
    assert [r.status for r in results] == [Status.PASS] * 3
    for x, result in zip(points, results, strict=True):
        (derivative,) = result.derivatives
        autograd = derivative.autograd
        assert isinstance(autograd, float)
        assert autograd == as_float32(autograd)          # computed in float32
        assert close(derivative.symbolic, swish_prime(x), 1e-15)
        assert abs(autograd - swish_prime(x)) <= 1e-6 + 1e-5 * abs(swish_prime(x))


def test_right_expect_passes() -> None:
    (result,) = assert_gradients("x**3", at="x=2", expect="3*x**2")
    (derivative,) = result.derivatives
    assert result.value is not None and result.value.symbolic == 8.0
    assert derivative.symbolic == 12.0 and derivative.autograd == 12.0
    assert derivative.expected is not None and derivative.expected.value == 12.0


@pytest.mark.parametrize("at, points", [
    ("x=2", [2.0]),                        # text: one point
    ({"x": 2}, [2.0]),                     # a mapping: one point
    (2, [2.0]),                            # a bare number, for one variable
    ([1, "x=2", {"x": 3}], [1.0, 2.0, 3.0]),  # a list: several points
])
def test_at_is_one_point_or_several(at: object, points: list[float]) -> None:
    results = assert_gradients("x**2", at=at)  # type: ignore[arg-type]
    assert [r.point_dict["x"] for r in results] == points
    assert [r.derivatives[0].autograd for r in results] == [2 * x for x in points]


def test_no_point_for_an_expression_without_variables() -> None:
    (result,) = assert_gradients("2*pi")
    assert result.value is not None and result.value.symbolic == 2 * math.pi


# -- failing -----------------------------------------------------------------------------


def test_a_wrong_function_fails_with_the_table_and_the_reason() -> None:
    text = caught(expression="x*sigmoid(x)", at={"x": 1.5}, impl=swish_tanh)
    first = text.splitlines()[0]
    assert first == ("1 of 1 check of x*sigmoid(x) did not pass: fail at x=1.5 "
                     f"({Category.IMPL_VALUE_MISMATCH})")
    assert "✗ fail" in text
    assert "partial" in text and "symbolic" in text and "autograd" in text   # the table
    assert "x*sigmoid(x)  at  x = 1.5" in text
    assert "swish_tanh" in text                                              # the explanation
    assert f"{1.5 * math.tanh(1.5):.12g}" in text       # what it computes: 1.35772238047
    assert f"{swish_prime(1.5):.11g}" in text           # the exact derivative: 1.0412941543
    assert "\x1b[" not in text


def test_one_failing_point_among_passing_ones_is_the_only_one_named() -> None:
    text = caught(expression="x**2", at=[1, 2, -3, 4], impl=square_by_abs)
    assert text.splitlines()[0] == ("1 of 4 checks of x**2 did not pass: fail at x=-3 "
                                    f"({Category.IMPL_VALUE_MISMATCH})")   # -9 for 9
    assert "x**2  at  x = -3" in text
    for passing in ("x = 1", "x = 2", "x = 4"):
        assert passing not in text
    assert "✗ fail" in text and "✓ pass" not in text   # -9 for 9, and 6 for -6: all wrong


def test_a_wrong_expect_fails_with_both_values() -> None:
    text = caught(expression="x**3", at="x=2", expect="3*x**3")
    assert f"({Category.EXPECTED_MISMATCH})" in text.splitlines()[0]
    assert "expected 3*x**3 = 24   ✗ fail" in text
    assert "is 24 here, and the exact one is 12" in text
    assert "\x1b[" not in text


def test_many_failures_are_counted_and_the_first_three_named() -> None:
    text = caught(expression="x**2", at=[-1, -2, -3, -4, 5], impl=square_by_abs)
    first = text.splitlines()[0]
    assert first.startswith("4 of 5 checks of x**2 did not pass: fail at x=-1 (")
    assert first.endswith(", and 1 more")
    for point in ("x = -1", "x = -2", "x = -3", "x = -4"):
        assert f"x**2  at  {point}" in text
    assert "x = 5" not in text


# -- warnings ----------------------------------------------------------------------------


def test_a_warning_is_a_gradcheck_warning_at_the_callers_line() -> None:
    with pytest.warns(GradcheckWarning) as record:
        results = assert_gradients("abs(x)", at=[0, 1])
    assert [r.status for r in results] == [Status.WARN, Status.PASS]
    assert results[0].derivatives[0].autograd == 0.0       # PyTorch's abs'(0)
    assert results[1].derivatives[0].autograd == 1.0
    (warning,) = record.list
    assert isinstance(warning.message, GradcheckWarning)
    assert warning.message.category == "not_differentiable"
    assert str(warning.message).startswith("abs(x) at x=0: not differentiable here")
    assert warning.filename == __file__                     # stacklevel: the caller's line


def test_not_equivalent_expect_is_a_warning() -> None:
    # 3*x**2 + x - 2 equals 3*x**2 at x=2 only: right here, not the same function.
    with pytest.warns(GradcheckWarning) as record:
        (result,) = assert_gradients("x**3", at="x=2", expect="3*x**2 + x - 2")
    assert result.status is Status.WARN
    assert [w.message.category for w in record.list
            if isinstance(w.message, GradcheckWarning)] == ["expected_not_equivalent"]


def test_allow_warn_false_makes_a_warning_a_failure() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")                     # and no warning is issued
        text = caught(expression="abs(x)", at=[0, 1], allow_warn=False)
    assert text.splitlines()[0] == ("1 of 2 checks of abs(x) did not pass: warn at x=0 "
                                    "(not_differentiable)")
    assert "! warn" in text and "not differentiable here (abs(x) has a kink)" in text
    assert "x = 1" not in text


def test_allow_warn_false_still_passes_clean_checks() -> None:
    (result,) = assert_gradients("abs(x)", at=-2, allow_warn=False)
    assert result.derivatives[0].autograd == -1.0


# -- refused input -----------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, said", [
    ({"expression": "x+*2", "at": "x=1"},
     ["gradcheck cannot check x+*2: cannot parse the expression at column 3: invalid syntax "
      "(parse_error)", "  x+*2\n    ^"]),
    ({"expression": "x+2", "at": "y=1"},
     ["the point gives a value for y, which is not in the expression (its variables: x) "
      "(unknown_variable)"]),
    ({"expression": "x**2", "at": "x=1", "dtype": "float8"},
     ["dtype must be one of float64, float32, float16, bfloat16, not 'float8' (bad_option)"]),
    ({"expression": "x**2", "at": "x=1", "impl": 42},
     ['impl must be a TARGET such as "mypkg.ops:swish" or a callable, not int']),
    ({"expression": "x**2", "at": "x=1", "impl": "no_such_module_here:f"},
     ["cannot import no_such_module_here"]),
    ({"expression": "x**2", "at": "x=1", "rtol": -1},
     ["rtol must be a finite number >= 0, not -1"]),
    ({"expression": "x*y", "at": ["x=1,y=2", "x=3"]},
     ["no value for y"]),
    ({"expression": 7, "at": "x=1"},
     ["the expression must be text"]),
])
def test_refused_input_is_an_assertion_error_with_the_message(kwargs: dict[str, object],
                                                               said: list[str]) -> None:
    text = caught(**kwargs)
    assert text.splitlines()[0].startswith("gradcheck cannot check ")
    for part in said:
        assert part in text
    assert "\x1b[" not in text


# -- the package -------------------------------------------------------------------------


def test_exported_from_the_package() -> None:
    assert gradcheck_cli.assert_gradients is assert_gradients
    assert gradcheck_cli.GradcheckWarning is GradcheckWarning


def test_import_and_a_refusal_load_neither_torch_nor_sympy() -> None:
    code = ("import sys\n"
            "from gradcheck_cli.testing import assert_gradients\n"
            "try:\n"
            "    assert_gradients('x+*2', at='x=1')\n"
            "except AssertionError as error:\n"
            "    assert 'invalid syntax' in str(error), error\n"
            "else:\n"
            "    raise SystemExit('no AssertionError')\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sympy'))\n"
            "assert not heavy, heavy[:5]\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr

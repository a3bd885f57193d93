"""Sweeps over ranges (--sweep): boundaries, bits of error, usage errors.

Every expected value is derived here independently: boundaries by numpy's own exp in
the dtype (the float just below overflows, the next one up does not), bits of error
from ulps counted by hand with ``np.nextafter``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import Result

from gradcheck_cli import limits
from gradcheck_cli.engine.sweep import bits_of_error, from_ordered, ordered, run_sweep, samples
from gradcheck_cli.errors import InputError
from gradcheck_cli.results import Category, Status
from gradcheck_cli.sweep import SweepResult, parse_sweep, prepare_sweep

REFERENCE = (Path(__file__).resolve().parents[1] / "docs" / "reference.md").read_text("utf-8")


def sweep(expression: str, spec: str, dtype: str = "float64", count: int = 2_000
          ) -> SweepResult:
    return run_sweep(prepare_sweep(expression, [spec], [], samples=count, dtype=dtype))


@pytest.mark.parametrize(("dtype", "floats", "near"), [
    ("float64", np.float64, 709.782712893384),  # log(DBL_MAX)
    ("float32", np.float32, 88.72283),          # log(FLT_MAX)
])
def test_softplus_as_written_fails_exactly_where_exp_overflows(dtype: str, floats: type,
                                                               near: float) -> None:
    result = sweep("log(1+exp(x))", "x=-1000:1000", dtype)
    # Below the left end of the range the derivative underflows: a warning, as at a point.
    underflow, region = result.regions
    assert underflow.status is Status.WARN and underflow.category is Category.UNDERFLOW
    assert region.status is Status.FAIL
    assert region.category is Category.OVERFLOW
    assert region.confirmed and region.worst.status is Status.FAIL
    assert region.end == {"x": 1000.0}
    ((passing, failing),) = region.boundary
    with np.errstate(over="ignore"):
        assert np.isfinite(np.exp(floats(passing)))
        assert np.isinf(np.exp(floats(failing)))
    assert floats(failing) == np.nextafter(floats(passing), floats(np.inf))
    assert passing == pytest.approx(near, rel=1e-6)
    assert result.confirmed_exactly >= 1


def test_x_sqrt_x_fails_at_its_endpoint_only() -> None:
    result = sweep("x*sqrt(x)", "x=0:1")
    region, tiny = result.regions
    assert region.start == region.end == {"x": 0.0}
    assert region.status is Status.FAIL
    assert region.category is Category.AUTOGRAD_NAN and region.confirmed
    # At the smallest subnormal the derivative is right: the boundary is (5e-324, 0).
    assert region.boundary == ((5e-324, 0.0),)
    assert result.by_status["fail"] == 1
    # Above 0, x**1.5 is below float64's smallest subnormal up to about 1.8e-216: 0 is the
    # nearest float64 there, a warning (underflow) as at a single point, not a failure.
    assert tiny.status is Status.WARN and tiny.category is Category.UNDERFLOW
    assert tiny.boundary[0] == (0.0, 5e-324)


def test_a_range_without_failure(gradcheck: Callable[..., Result]) -> None:
    result = gradcheck("sin(x)", "--sweep", "x=-10:10", "--samples", "1000")
    assert result.exit_code == 0, result.output
    assert "no region fails" in result.stdout


def test_the_command_line_reports_the_boundary_in_json(gradcheck: Callable[..., Result]) -> None:
    result = gradcheck("log(1+exp(x))", "--sweep", "x=-1000:1000", "--samples", "1000",
                       "--format", "json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    record = document["checks"][0]
    assert record["status"] == "fail"
    underflow, region = record["sweep"]["regions"]
    assert (underflow["status"], underflow["category"]) == ("warn", "underflow")
    assert region["category"] == "overflow"
    assert region["boundary"] == [[709.782712893384, 709.7827128933841]]
    assert region["worst"]["status"] == "fail"
    assert record["sweep"]["samples"] >= 1000
    assert record["sweep"]["ranges"] == {"x": {"from": -1000.0, "to": 1000.0}}


def test_the_table_shows_regions_and_a_sparkline(gradcheck: Callable[..., Result]) -> None:
    result = gradcheck("log(1+exp(x))", "--sweep", "x=-1000:1000", "--samples", "1000")
    assert result.exit_code == 1
    assert shows_boundary(result.stdout, 709.782712893384, 709.7827128933841)
    assert re.search(r"bits of error [▁▂▃▄▅▆▇█ ]+█", result.stdout)


@pytest.mark.parametrize(("actual", "exact", "bits"), [
    (1.0, 1.0, 0.0),
    (1.0, np.nextafter(1.0, 2.0), 1.0),                         # one ulp: log2(1 + 1)
    (1.0, np.nextafter(np.nextafter(np.nextafter(1.0, 2.0), 2.0), 2.0), 2.0),  # 3 ulps
    (5e-324, -5e-324, np.log2(3.0)),                            # across zero: 2 ulps
    (0.0, -0.0, 0.0),
    (np.nan, 1.0, 64.0),                                        # nan: every bit
    (np.nan, np.nan, 0.0),
])
def test_bits_of_error_count_ulps_as_herbie_does(actual: float, exact: float, bits: float) -> None:
    found = bits_of_error(np.array([actual]), np.array([exact], dtype=np.longdouble), "float64")
    assert found[0] == pytest.approx(bits, abs=1e-12)


def test_bits_of_error_round_the_reference_to_the_dtype_first() -> None:
    # 1 + 2**-30 rounds to 1.0 in float32 (its ulp at 1 is 2**-23): no error.
    exact = np.array([np.longdouble(1) + np.longdouble(2.0) ** -30])
    assert bits_of_error(np.array([1.0]), exact, "float32")[0] == 0.0
    # 2**-23 above 1 is one float32 ulp: one bit.
    one_ulp = np.array([np.longdouble(1) + np.longdouble(2.0) ** -23])
    assert bits_of_error(np.array([1.0]), one_ulp, "float32")[0] == 1.0


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_ordered_places_are_adjacent_for_adjacent_floats(dtype: str) -> None:
    values = np.array([-1.0, -0.0, 0.0, 1.0, 2.0])
    places = ordered(values, dtype)
    assert places[1] == places[2] == 0
    assert places[0] == -places[3]
    assert np.array_equal(from_ordered(places, dtype), np.abs(values) * np.sign(values))
    assert from_ordered(np.array([1]), dtype)[0] > 0  # the smallest subnormal


def test_samples_reach_every_scale_and_the_special_points() -> None:
    x = samples(-1.7976931348623157e308, 1.7976931348623157e308, 10_000, "float64")
    assert x[0] == -1.7976931348623157e308 and x[-1] == 1.7976931348623157e308
    assert np.all(np.diff(x) > 0)
    assert {-1.0, 0.0, 1.0} <= set(x.tolist())
    assert np.any((np.abs(x) > 0) & (np.abs(x) < 1e-300))
    assert np.any((np.abs(x) > 1e300) & (np.abs(x) < 1e305))


def test_samples_are_floats_of_the_dtype() -> None:
    x = samples(0.1, 0.7, 1_000, "float32")
    assert np.array_equal(x, x.astype(np.float32).astype(np.float64))


@pytest.mark.parametrize(("text", "expected"), [
    ("x=-1:1", ("x", -1.0, 1.0)),
    ("x = -pi : 2*pi", ("x", -np.pi, 2 * np.pi)),
    ("t=-inf:inf", ("t", -1.7976931348623157e308, 1.7976931348623157e308)),
])
def test_parse_sweep(text: str, expected: tuple[str, float, float]) -> None:
    assert parse_sweep(text) == expected


def test_inf_is_the_dtypes_largest_float() -> None:
    assert parse_sweep("x=0:inf", "float16") == ("x", 0.0, 65504.0)


@pytest.mark.parametrize(("args", "needle"), [
    (("x**2", "--sweep", "x=1:1"), "LO must be below HI"),
    (("x**2", "--sweep", "x=2:1"), "LO must be below HI"),
    (("x**2", "--sweep", "x=0:1", "--samples", str(limits.MAX_SAMPLES + 1)), "MAX_SAMPLES"),
    (("x**2", "--sweep", "y=0:1"), "not a variable of the expression"),
    (("x*y", "--sweep", "x=0:1", "--at", "y=[1, 2]"), "tensor"),
    (("x**2", "--sweep", "x=0"), "LO:HI"),
    (("x**2", "--sweep", "x=0:exp(1000)"), "not a finite number"),
    (("x**2", "--sweep", "x=0:1", "--at", "x=3"), "swept"),
    (("x*y*z", "--sweep", "x=0:1", "--at", "y=2"), "--at z=1"),
    (("sum(x)", "--sweep", "x=0:1"), "elementwise"),
    (("x**2", "--samples", "10"), "--sweep"),
    (("x**2", "--sweep", "x=0:1", "--format", "junit"), "table or json"),
    (("--file", "examples.txt", "--sweep", "x=0:1"), "--file"),
])
def test_usage_errors_exit_2(gradcheck: Callable[..., Result], args: tuple[str, ...],
                             needle: str) -> None:
    result = gradcheck(*args)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr


def test_too_many_sweep_variables_is_refused() -> None:
    specs = ["a=0:1", "b=0:1", "c=0:1", "d=0:1"]
    with pytest.raises(InputError, match="MAX_SWEEP_VARIABLES"):
        prepare_sweep("a+b+c+d", specs, [])


@pytest.mark.parametrize(("name", "value"), [
    ("MAX_SAMPLES", limits.MAX_SAMPLES),
    ("MAX_SWEEP_VARIABLES", limits.MAX_SWEEP_VARIABLES),
    ("MAX_EXACT_POINTS", limits.MAX_EXACT_POINTS),
])
def test_sweep_limits_are_documented(name: str, value: int) -> None:
    mentions = re.findall(rf"`{name}`[^|\n]*?(?:\|\s*)?=?\s*([\d,]+)", REFERENCE)
    assert any(int(m.replace(",", "")) == value for m in mentions), (name, mentions)


def test_a_failing_region_gets_a_rewrite_swept_over_the_same_range() -> None:
    result = sweep("log(1+exp(x))", "x=-1000:1000")
    underflow, region = result.regions
    assert underflow.suggestion is None  # a warning: nothing to fix
    assert region.suggestion is not None
    assert region.suggestion.expression == "softplus(x)"
    assert region.suggestion.passes
    assert "passes on the whole range" in region.suggestion.message


def test_no_suggestion_where_the_failure_is_not_rewritable() -> None:
    region, _ = sweep("x*sqrt(x)", "x=0:1").regions
    # autograd_nan at 0, but no known pattern in x*sqrt(x): nothing to suggest.
    assert region.suggestion is None


def test_the_plot_is_written(gradcheck: Callable[..., Result], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the floor venv (.ci/run) has no matplotlib")
    path = tmp_path / "softplus.png"
    result = gradcheck("log(1+exp(x))", "--sweep", "x=-1000:1000", "--samples", "500",
                       "--plot", str(path))
    assert result.exit_code == 1, result.output
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(("args", "needle"), [
    (("x**2", "--sweep", "x=0:1", "--plot", "out.gif"), ".png, .svg or .pdf"),
    (("x**2", "--sweep", "x=0:1", "--plot", "/no/such/folder/p.png"), "not a writable folder"),
    (("x**2", "--at", "x=1", "--plot", "p.png"), "--sweep"),
])
def test_plot_usage_errors_exit_2(gradcheck: Callable[..., Result], args: tuple[str, ...],
                                  needle: str) -> None:
    result = gradcheck(*args)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr


def test_without_matplotlib_the_plot_is_a_usage_error_naming_the_extra(
        gradcheck: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *rest: None if name == "matplotlib" else real(name, *rest))
    result = gradcheck("x**2", "--sweep", "x=0:1", "--plot", str(tmp_path / "p.png"))
    assert result.exit_code == 2
    assert 'pip install "gradcheck-cli[plot]"' in result.stderr
    assert not (tmp_path / "p.png").exists()


@pytest.mark.skipif(np.finfo(np.longdouble).nmant <= 52, reason="longdouble is float64 here: "
                    "the reference is only as wide as float64 (documented)")
def test_the_reference_keeps_its_constants_wider_than_float64() -> None:
    # pi/3 as a float64 is off by ~4e-17 relative, which exp(pi*x/3) multiplies by up to
    # |pi*x/3| ~ 10; passed in as a longdouble, the reference agrees with mpmath at 50
    # digits to within a few longdouble ulps (5.4e-20 each).
    result = sweep("exp(pi*x/3)", "x=-10:10")
    assert result.regions == ()
    assert result.reference_error < 2.0 ** -58


def test_a_cancellation_the_reference_cannot_hold_is_reported() -> None:
    # (1 - cos(x))/x**2 at x <= 1e-9: cos(x) = 1 - x**2/2 rounds to 1 in longdouble, so
    # the reference is 0 where the exact value is 1/2: found by the comparison with mpmath.
    result = sweep("(1-cos(x))/x**2", "x=1e-12:1e-9")
    assert result.reference_error == pytest.approx(1.0)


def test_values_beyond_longdoubles_range_are_not_a_loss_of_precision() -> None:
    # exp(-x) on [11400, 11500] is below e**-11400 < 1e-4950, under longdouble's smallest
    # normal (about 3.4e-4932): the reference's 0 there is a range limit, not a
    # cancellation, and the mpmath comparison skips it (nothing left to compare: nan).
    import mpmath

    assert mpmath.exp(-11400) < mpmath.mpf(str(np.finfo(np.longdouble).tiny))
    result = sweep("exp(-x)", "x=11400:11500")
    assert np.isnan(result.reference_error)


def test_log1p_and_expm1_keep_the_reference_right_in_the_tails() -> None:
    # log(1+exp(x)) is evaluated as log1p(exp(x)) by the reference: at x = -100 it is
    # exp(-100) = 3.72e-44 (1 + exp(x) would be 1 in longdouble, the value 0).
    result = sweep("log(1+exp(x))", "x=-1000:1000")
    assert result.reference_error < 2.0 ** -58


def test_second_derivatives_are_swept_too(gradcheck: Callable[..., Result]) -> None:
    from gradcheck_cli.engine.sweep import _Judge

    request = prepare_sweep("x**3*y", ["x=-10:10"], ["y=2"], order=2, samples=100)
    x = np.array([-3.0, 0.5, 7.0])
    found = _Judge(request.request, "x").torch_side(x)
    # d2/dx2 x**3*y = 6*x*y, d2/dxdy = 3*x**2, d2/dy2 = 0: by hand.
    assert found[("x", "x")] == pytest.approx(12 * x, rel=1e-15)
    assert found[("x", "y")] == pytest.approx(3 * x**2, rel=1e-15)
    assert np.array_equal(found[("y", "y")], np.zeros(3))
    result = gradcheck("x**3", "--sweep", "x=-10:10", "--order", "2", "--samples", "500")
    assert result.exit_code == 0, result.output


def test_impl_with_a_wrong_backward_fails_over_the_range(gradcheck: Callable[..., Result]) -> None:
    result = gradcheck("sigmoid(x)", "--impl", "tests.impls:BadSigmoid.apply", "--sweep",
                       "x=-10:10", "--samples", "500", "--format", "json")
    assert result.exit_code == 1, result.output
    regions = json.loads(result.stdout)["checks"][0]["sweep"]["regions"]
    assert [r["category"] for r in regions if r["status"] == "fail"] == ["impl_backward_mismatch"]


def test_impl_with_the_right_backward_passes(gradcheck: Callable[..., Result]) -> None:
    result = gradcheck("sigmoid(x)", "--impl", "tests.impls:GoodSigmoid.apply", "--sweep",
                       "x=-10:10", "--samples", "500")
    assert result.exit_code == 0, result.output


def _mixes(x: object) -> object:
    """Not elementwise: each output depends on the mean of all inputs."""
    return x * x.mean()  # type: ignore[attr-defined]


def test_an_impl_that_mixes_elements_is_refused() -> None:
    request = prepare_sweep("x**2", ["x=-1:1"], [], impl=_mixes, samples=100)
    with pytest.raises(InputError, match="is not elementwise"):
        run_sweep(request)


@pytest.mark.parametrize("width", [60, 80, 200])
def test_the_boundary_is_printed_whole_at_every_width(width: int) -> None:
    # log(DBL_MAX) = 709.782712893384: float64 exp of it is finite, of the next float inf
    # (numpy, independently); the report gives both adjacent floats, every digit.
    below = 709.782712893384
    above = float(np.nextafter(below, np.inf))
    with np.errstate(over="ignore"):
        assert np.isfinite(np.exp(below)) and np.isinf(np.exp(above))
    from typer.testing import CliRunner

    from gradcheck_cli.cli import app

    printed = CliRunner().invoke(app, ["log(1+exp(x))", "--sweep", "x=-1000:1000"],
                                 env={"COLUMNS": str(width), "NO_COLOR": "1"}).stdout
    assert shows_boundary(printed, below, above)
    assert "…" not in printed


def shows_boundary(printed: str, below: float, above: float) -> bool:
    """The boundary's two adjacent floats, every digit: side by side in the regions table
    where it fits, else a line each in the region's block; never cut, never wrapped."""
    lines = printed.splitlines()
    return f"{below!r} | {above!r}" in printed or (
        any(line.endswith(f"last outside {below!r}") for line in lines)
        and any(line.endswith(f"first inside {above!r}") for line in lines))


@pytest.mark.parametrize("name", ["mpf", "numpy", "exp_", "log1p_"])
def test_variable_names_never_reach_the_generated_code(name: str) -> None:
    # lambdify prints the SymPy trees the project built; with dummify the variables are
    # Dummy symbols there, so a variable called mpf cannot shadow mpmath's mpf (it made
    # the mpmath comparison fail: nan). The same sweep as with x, to the same accuracy.
    named = sweep(f"exp({name})/3", f"{name}=-2:2")
    plain = sweep("exp(x)/3", "x=-2:2")
    assert named.reference_error < 2.0 ** -58
    assert named.bits == plain.bits


@pytest.mark.parametrize(("expression", "spec"), [
    ("sign(x)*x**2", "x=-2:2"),   # its derivative holds DiracDelta(x)
    ("lgamma(x)", "x=1:3"),
    ("xlogy(x, x + 2)", "x=1:3"),
])
def test_functions_numpy_and_mpmath_lack_do_not_end_a_sweep(expression: str, spec: str) -> None:
    # The references are generated code: DiracDelta, lgamma and xlogy were undefined names
    # there, and the sweep stopped ("could not be completed: NameError").
    result = sweep(expression, spec)
    assert result.samples > 0
    assert result.by_status["fail"] == result.by_status["error"] == 0, result.by_status


def test_xlogy_and_sign_sweeps_settle_by_the_reference() -> None:
    # x*log(x + 2) is smooth on [1, 3]: every sample passes, settled by the vectorised
    # reference (no unsettled samples left over).
    result = sweep("xlogy(x, x + 2)", "x=1:3")
    assert result.by_status["pass"] == result.samples and result.unsettled == 0
    # sign(x)*x**2 = x*|x|: its derivative 2|x| passes everywhere; the only warnings are
    # values x*|x| below float64's smallest subnormal (|x| < 2.2e-162), rounded to 0.
    result = sweep("sign(x)*x**2", "x=-2:2")
    assert result.unsettled == 0 and result.by_status["fail"] == 0
    assert {c for c, n in result.by_category.items() if n} <= {"underflow"}, result.by_category


def test_a_sinc_sweep_uses_the_normalised_sinc() -> None:
    # numpy's printer wrote the project's sinc, sin(pi*x)/(pi*x), as numpy's sinc(x/pi),
    # which is sin(x)/x. Away from 0 torch's sinc and its derivative are accurate to
    # float64, so against the right reference every sample of [1, 3] passes with a few
    # bits of error (more only beside a zero of sinc or of its derivative, and at the zeros
    # 1 and 3, where torch's sin(pi*x) is 1e-16, not 0); against the wrong one, 64.
    result = sweep("sinc(x)", "x=1:3")
    assert result.by_status["pass"] == result.samples and result.unsettled == 0
    assert sorted(result.bits)[len(result.bits) // 2] <= 6
    assert sum(bits > 16 for bits in result.bits) == 2


@pytest.mark.parametrize("order", [0, 1, 2])
def test_the_references_sinc_is_mpmaths_normalised_sinc(order: int) -> None:
    import mpmath

    from gradcheck_cli.engine.sympy_functions import sinc_numpy

    # In longdouble, at 0, near it (where the closed form cancels), at ordinary points and
    # at a large argument; against mpmath at 40 digits, by its own numerical derivative
    # of sin(pi*x)/(pi*x) (1 at 0), not by the project's series.
    points = ["0", "1e-12", "1e-5", "0.3", "0.5", "1.5", "-2.7", "7.3"]
    found = sinc_numpy(order, np.array(points, dtype=np.longdouble))
    with mpmath.workdps(40):
        def normalised(t: mpmath.mpf) -> mpmath.mpf:
            return mpmath.sinc(mpmath.pi * t)  # mpmath's sinc is sin(u)/u

        for text, value in zip(points, found, strict=True):
            exact = mpmath.diff(normalised, mpmath.mpf(text), order)
            assert abs(mpmath.mpf(str(value)) - exact) <= 1e-17 * max(1, abs(exact)), (order, text)

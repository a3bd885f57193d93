"""``--impl``: the user's own torch code against the exact derivative of a spec.

The functions checked are in tests/impls.py, each right or wrong in one known way. The
numbers are worked out by hand or with mpmath, never by the code under test.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import mpmath
import pytest
import torch
from typer.testing import Result

from gradcheck_cli import check, check_points
from gradcheck_cli.impl import load_target
from gradcheck_cli.results import Category, CheckResult, Status

Invoke = Callable[..., Result]

mpmath.mp.dps = 40


def sigmoid(x: float) -> Any:
    return 1 / (1 + mpmath.exp(-mpmath.mpf(x)))


def close(actual: Any, expected: Any, rel: float = 1e-14) -> bool:
    return abs(float(actual) - float(expected)) <= rel * max(1.0, abs(float(expected)))


# -- verdicts: one row per kind of user function -----------------------------------------

VERDICTS = [
    # spec, target, point, status, category
    ("x*sigmoid(x)", "tests.impls:swish", "x=1.5", Status.PASS, Category.OK),
    ("x*sigmoid(x)", "tests/impls.py:swish", "x=-3", Status.PASS, Category.OK),
    ("sigmoid(x)", "tests.impls:GoodSigmoid.apply", "x=0.5", Status.PASS, Category.OK),
    ("x*sigmoid(x)", "tests.impls:swish_wrong", "x=1.5", Status.FAIL,
     Category.IMPL_VALUE_MISMATCH),
    ("sigmoid(x)", "tests.impls:BadSigmoid.apply", "x=0.5", Status.FAIL,
     Category.IMPL_BACKWARD_MISMATCH),
    ("sigmoid(x)", "examples/bad_sigmoid.py:BadSigmoid.apply", "x=0.5", Status.FAIL,
     Category.IMPL_BACKWARD_MISMATCH),
    ("x**2", "tests.impls:detached", "x=3", Status.FAIL, Category.NO_GRADIENT),
    ("x*y", "tests.impls:through_item", "x=2,y=3", Status.FAIL, Category.NO_GRADIENT),
    ("x", "tests.impls:raises", "x=1", Status.ERROR, Category.IMPL_ERROR),
    ("2*x", "tests.impls:BackwardRaises.apply", "x=1", Status.ERROR, Category.IMPL_ERROR),
    ("x", "tests.impls:returns_list", "x=1", Status.ERROR, Category.IMPL_BAD_OUTPUT),
    ("x", "tests.impls:returns_int", "x=1", Status.ERROR, Category.IMPL_BAD_OUTPUT),
    ("x", "tests.impls:returns_complex", "x=1", Status.ERROR, Category.IMPL_BAD_OUTPUT),
    ("x", "tests.impls:returns_wrong_shape", "x=1", Status.ERROR, Category.IMPL_BAD_OUTPUT),
    ("x**2*y", "tests.impls:power_rest", "x=1,y=2", Status.PASS, Category.OK),
    ("2*x**2", "tests.impls:with_option", "x=1.25", Status.PASS, Category.OK),
    # tensors: a loss, a Jacobian, a VJP, and the same faults
    ("mean((w*x+b-y)**2)", "tests.impls:mse", "w=0.5,b=0.25,x=[1, 2, 3],y=[2, 1, 0]",
     Status.PASS, Category.OK),
    ("mean((w*x+b-y)**2)", "tests.impls:mse_detached_bias",
     "w=0.5,b=0.25,x=[1, 2, 3],y=[2, 1, 0]", Status.FAIL, Category.NO_GRADIENT),
    ("x**2", "tests.impls:square_elements", "x=[1, 2]", Status.PASS, Category.OK),
    ("x*tanh(x)", "tests.impls:swish", "x=[1, 2]", Status.FAIL, Category.IMPL_VALUE_MISMATCH),
    ("sum(x**2)", "tests.impls:raises", "x=[1, 2]", Status.ERROR, Category.IMPL_ERROR),
    ("x**2", "tests.impls:returns_wrong_shape", "x=[1, 2, 3]", Status.ERROR,
     Category.IMPL_BAD_OUTPUT),
]


@pytest.mark.parametrize(("spec", "target", "point", "status", "category"), VERDICTS)
def test_verdicts(spec: str, target: str, point: str, status: Status, category: Category
                  ) -> None:
    result = check(spec, point, impl=target)
    assert (result.status, result.category) == (status, category), result.message
    assert result.impl == target


@pytest.mark.parametrize(("spec", "function", "point", "status", "category", "said"), [
    ("relu(x)", torch.relu, "x=0", Status.WARN, Category.NOT_DIFFERENTIABLE, "kink"),
    ("x*sqrt(x)", lambda x: x * torch.sqrt(x), "x=0", Status.FAIL, Category.AUTOGRAD_NAN,
     "SqrtBackward0"),
    ("exp(x)", torch.exp, "x=1000", Status.WARN, Category.OVERFLOW, "beyond float64's range"),
])
def test_every_existing_category_applies(spec: str, function: Callable[..., Any], point: str,
                                         status: Status, category: Category, said: str) -> None:
    result = check(spec, point, impl=function)
    assert (result.status, result.category) == (status, category), result.message
    assert said in (result.message or "")


def test_a_library_function_by_target() -> None:
    # gelu(x) = x*Phi(x): at -0.75, d/dx = Phi(x) + x*phi(x).
    result = check("x*(1+erf(x/sqrt(2)))/2", "x=-0.75", impl="torch.nn.functional:gelu")
    x = mpmath.mpf("-0.75")
    phi = mpmath.exp(-x**2 / 2) / mpmath.sqrt(2 * mpmath.pi)
    exact = mpmath.ncdf(x) + x * phi
    assert result.status is Status.PASS, result.message
    assert close(result.derivatives[0].autograd, exact, rel=1e-12)


def test_vjp_of_a_wrong_backward_names_it() -> None:
    result = check("sigmoid(x)", "x=[0.5, 1]", impl="tests.impls:BadSigmoid.apply", vjp="ones")
    assert result.category is Category.IMPL_BACKWARD_MISMATCH
    assert "BadSigmoidBackward" in (result.message or "")
    # autograd is the wrong backward's s; spec autograd is torch's s*(1-s).
    (d,) = result.derivatives
    assert all(close(a, sigmoid(x)) for a, x in zip(d.autograd, (0.5, 1), strict=True))  # type: ignore[arg-type]
    assert all(close(a, sigmoid(x) * (1 - sigmoid(x)))
               for a, x in zip(d.spec_autograd, (0.5, 1), strict=True))  # type: ignore[arg-type]


# -- the numbers ---------------------------------------------------------------------------


def test_correct_function_values_and_five_opinions() -> None:
    result = check("x*sigmoid(x)", "x=1.5", impl="tests.impls:swish")
    s = sigmoid(1.5)
    value, exact = 1.5 * s, s + 1.5 * s * (1 - s)
    assert close(result.value.autograd, value)  # type: ignore[union-attr]
    assert close(result.value.spec_autograd, value)  # type: ignore[union-attr, arg-type]
    (d,) = result.derivatives
    assert close(d.symbolic, exact) and close(d.autograd, exact)
    assert close(d.spec_autograd, exact) and close(d.forward_mode, exact)
    assert close(d.finite_difference, exact, rel=1e-9)
    assert d.forward_note is None


def test_wrong_backward_names_its_grad_fn_and_keeps_forward_mode_out() -> None:
    result = check("sigmoid(x)", "x=0.5", impl="tests.impls:BadSigmoid.apply")
    (d,) = result.derivatives
    s = sigmoid(0.5)
    assert close(d.autograd, s)  # the wrong backward returns grad * s
    assert close(d.symbolic, s * (1 - s)) and close(d.spec_autograd, s * (1 - s))
    assert close(d.finite_difference, s * (1 - s), rel=1e-9)
    assert "grad_fn BadSigmoidBackward" in (d.message or "")
    assert "the backward is wrong" in (d.message or "")
    # No jvp: not a failure of its own, and said in the forward column's place.
    assert d.forward_mode is None
    assert d.forward_note == "forward mode not supported by this Function"
    assert result.value is not None and result.value.status is Status.PASS


def test_function_with_jvp_has_forward_mode() -> None:
    (d,) = check("sigmoid(x)", "x=0.5", impl="tests.impls:GoodSigmoid.apply").derivatives
    s = sigmoid(0.5)
    assert close(d.forward_mode, s * (1 - s)) and d.forward_note is None


def test_value_mismatch_says_by_how_much_and_that_the_spec_agrees() -> None:
    result = check("x*sigmoid(x)", "x=1.5", impl="tests.impls:swish_wrong")
    wrong, right = 1.5 * mpmath.tanh(1.5), 1.5 * sigmoid(1.5)
    assert close(result.value.autograd, wrong)  # type: ignore[union-attr]
    assert close(result.value.abs_diff, abs(wrong - right), rel=1e-12)  # type: ignore[union-attr]
    message = result.message or ""
    assert "computes another function" in message and "at x=1.5" in message
    assert "the spec as written in torch gives" in message and "agreeing" in message


def test_no_gradient_says_so_in_those_words() -> None:
    result = check("x*y", "x=2,y=3", impl="tests.impls:through_item")
    dx, dy = result.derivatives
    assert dx.category is Category.NO_GRADIENT
    assert "does not reach the output" in (dx.message or "") and ".detach()" in (dx.message or "")
    assert "the exact derivative is 3" in (dx.message or "")
    assert dy.status is Status.PASS and dy.autograd == 2.0


def test_no_gradient_needs_a_nonzero_exact_derivative() -> None:
    # x*0 + y: x's exact derivative is 0, so a function that never touches x is right.
    result = check("0*x + y", "x=2,y=3", impl=lambda x, y: y * 1.0)
    assert result.status is Status.PASS, result.message


def test_impl_error_shows_the_users_frames_not_gradchecks() -> None:
    result = check("x", "x=1", impl="tests.impls:raises")
    message = result.message or ""
    assert message.startswith("tests.impls:raises raised ValueError: shape mismatch in my layer")
    assert "tests/impls.py" in message and "in _helper_that_raises" in message
    assert "gradcheck_cli" not in message and "torch/" not in message


def test_backward_that_raises_is_impl_error() -> None:
    result = check("2*x", "x=1", impl="tests.impls:BackwardRaises.apply")
    assert "backward not written yet" in (result.message or "")
    assert "in backward" in (result.message or "")


@pytest.mark.parametrize(("target", "said"), [
    ("tests.impls:returns_list", "returned list"),
    ("tests.impls:returns_int", "torch.int64"),
    ("tests.impls:returns_complex", "complex"),
    ("tests.impls:returns_wrong_shape", "shape (2,), but the expression's value has shape ()"),
])
def test_bad_output_says_what_came_back(target: str, said: str) -> None:
    assert said in (check("x", "x=1", impl=target).message or "")


def test_tensor_loss_gradients_by_hand() -> None:
    # r = w*x + b - y = [-1.25, 0.25, 1.75]; loss = mean(r**2) = 1.5625;
    # dL/dw = (2/3) sum(r*x) = 3; dL/db = (2/3) sum(r) = 0.5; dL/dx = (2/3) r w.
    result = check("mean((w*x+b-y)**2)", "w=0.5,b=0.25,x=[1, 2, 3],y=[2, 1, 0]",
                   impl="tests.impls:mse", wrt="w,b,x")
    assert result.status is Status.PASS
    assert close(result.value.autograd, 1.5625)  # type: ignore[union-attr]
    dw, db, dx = result.derivatives
    assert close(dw.autograd, 3) and close(db.autograd, 0.5)
    assert all(close(a, e) for a, e in zip(dx.autograd, (-1.25 / 3, 0.25 / 3, 1.75 / 3),  # type: ignore[arg-type]
                                           strict=True))
    assert dx.spec_autograd == dx.autograd


def test_tensor_detached_bias_is_no_gradient_on_b_only() -> None:
    result = check("mean((w*x+b-y)**2)", "w=0.5,b=0.25,x=[1, 2, 3],y=[2, 1, 0]",
                   impl="tests.impls:mse_detached_bias", wrt="w,b")
    dw, db = result.derivatives
    assert dw.status is Status.PASS and db.category is Category.NO_GRADIENT


def test_args_give_the_positional_order() -> None:
    # positional(a, b) = a**2*b: with --args x,y it is x**2*y; with y,x it is y**2*x.
    right = check("x**2*y", "x=1.5,y=2", impl="tests.impls:positional", args="x,y")
    assert right.status is Status.PASS
    swapped = check("x**2*y", "x=1.5,y=2", impl="tests.impls:positional", args=["y", "x"])
    assert swapped.category is Category.IMPL_VALUE_MISMATCH
    assert close(swapped.value.autograd, 2**2 * 1.5)  # type: ignore[union-attr]


def test_a_callable_from_the_library_and_its_name() -> None:
    swish = load_target("tests.impls:swish")
    result = check("x*sigmoid(x)", {"x": 1.5}, impl=swish)
    assert result.status is Status.PASS
    assert result.impl == "tests.impls.swish"  # module.qualname of the callable
    results = check_points("x*sigmoid(x)", ["x=1", "x=2"], impl=swish)
    assert [r.status for r in results] == [Status.PASS, Status.PASS]


def test_float32_impl_is_judged_in_float32() -> None:
    result = check("x*sigmoid(x)", "x=1.5", impl="tests.impls:swish", dtype="float32")
    (d,) = result.derivatives
    assert result.status is Status.PASS
    exact = sigmoid(1.5) * (1 + 1.5 * (1 - sigmoid(1.5)))
    # The function ran in float32: its gradient is a float32 number, within float32's reach
    # of the exact one.
    assert float(torch.tensor(d.autograd, dtype=torch.float32)) == d.autograd
    assert abs(d.autograd - exact) < 1e-6  # type: ignore[operator]


@pytest.mark.parametrize(("impl", "args", "said"), [
    ("nosuch_module_xyz:f", None, "cannot import nosuch_module_xyz: ModuleNotFoundError"),
    ("tests.impls:nope", None, "tests.impls has no attribute 'nope'"),
    ("tests.impls:NOT_CALLABLE", None, "NOT_CALLABLE is int, not a function"),
    ("tests/no_such_file.py:f", None, "no such file"),
    ("tests.impls", None, "is not a TARGET"),
    ("tests.impls:positional", None, "its parameter 'a' matches no variable"),
    ("tests.impls:power_rest", "x", "--args leaves out y"),
    ("tests.impls:power_rest", "x,z", "--args names z, which is not a variable"),
    ("tests.impls:power_rest", "x,x", "--args names x twice"),
    ("tests.impls:power_rest", "x,1", "is not a variable name"),
    ("tests.impls:swish", None, "no parameter named y"),
])
def test_refusals_in_the_library(impl: str, args: str | None, said: str) -> None:
    result: CheckResult = check("x**2*y", "x=1,y=2", impl=impl, args=args)
    assert result.status is Status.ERROR and result.category is Category.BAD_OPTION
    assert said in (result.message or ""), result.message


# -- the command line ----------------------------------------------------------------------


@pytest.mark.parametrize(("extra", "said"), [
    (["--impl", "nosuch_module_xyz:f"], "cannot import nosuch_module_xyz"),
    (["--impl", "tests.impls:nope"], "has no attribute 'nope'"),
    (["--impl", "tests.impls:positional"], "matches no variable"),
    (["--impl", "tests.impls:power_rest", "--args", "x"], "--args leaves out y"),
    (["--args", "x,y"], "it needs --impl"),
    (["--device", "tpu"], "choose cpu, cuda, cuda:N or mps"),
])
def test_refusals_on_the_command_line(gradcheck: Invoke, extra: list[str], said: str) -> None:
    result = gradcheck("x**2*y", "--at", "x=1,y=2", *extra)
    assert result.exit_code == 2
    output = result.stdout + result.stderr
    assert said in output.replace("\n", " ") and "Traceback" not in output


def test_impl_with_file_is_refused(gradcheck: Invoke, tmp_path: Any) -> None:
    lines = tmp_path / "checks.txt"
    lines.write_text("x**2 @ x=1\n")
    result = gradcheck("--file", str(lines), "--impl", "tests.impls:swish")
    assert result.exit_code == 2
    assert "--impl applies to a single expression" in result.stderr


def test_cli_catches_the_example_and_says_json(gradcheck: Invoke) -> None:
    result = gradcheck("sigmoid(x)", "--impl", "examples/bad_sigmoid.py:BadSigmoid.apply",
                       "--at", "x=0.5", "--format", "json")
    assert result.exit_code == 1
    (record,) = json.loads(result.stdout)["checks"]
    assert record["impl"] == "examples/bad_sigmoid.py:BadSigmoid.apply"
    assert record["category"] == "impl_backward_mismatch"
    (d,) = record["derivatives"]
    s = sigmoid(0.5)
    assert close(d["autograd"], s) and close(d["spec_autograd"], s * (1 - s))
    assert d["forward_mode"] is None
    assert d["forward_mode_note"] == "forward mode not supported by this Function"
    assert close(record["value"]["spec_autograd"], s)


def test_cli_table_shows_impl_and_spec(gradcheck: Invoke) -> None:
    result = gradcheck("x*sigmoid(x)", "--impl", "tests.impls:swish", "--at", "x=1.5")
    assert result.exit_code == 0
    assert "impl   tests.impls:swish" in result.stdout
    assert "spec autograd 1.22636171429" in result.stdout  # 1.5*sigmoid(1.5)


def test_timeout_stops_a_hanging_function(gradcheck: Invoke) -> None:
    result = gradcheck("x", "--impl", "tests.impls:hangs", "--at", "x=1", "--timeout", "1",
                       "--format", "json")
    assert result.exit_code == 1
    (record,) = json.loads(result.stdout)["checks"]
    assert record["category"] == "timeout" and record["status"] == "error"


def test_plain_expression_on_the_cpu_device(gradcheck: Invoke) -> None:
    assert gradcheck("x**2", "--at", "x=3", "--device", "cpu").exit_code == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch has CUDA: nothing to refuse")
def test_cuda_refused_where_torch_has_none(gradcheck: Invoke) -> None:
    result = gradcheck("x**2", "--at", "x=3", "--device", "cuda")
    assert result.exit_code == 2
    assert "CUDA is not available" in (result.stdout + result.stderr).replace("\n", " ")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here)")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cuda_impl_and_expression(dtype: str) -> None:
    s = sigmoid(0.5)
    bad = check("sigmoid(x)", "x=0.5", impl="tests.impls:BadSigmoid.apply", device="cuda",
                dtype=dtype)
    assert bad.category is Category.IMPL_BACKWARD_MISMATCH, bad.message
    assert abs(bad.derivatives[0].autograd - float(s)) < 1e-6  # type: ignore[operator]
    good = check("x*sigmoid(x)", "x=1.5", impl="tests.impls:swish", device="cuda", dtype=dtype)
    assert good.status is Status.PASS, good.message
    plain = check("mean((w*x+b-y)**2)", "w=0.5,b=0.25,x=[1, 2, 3],y=[2, 1, 0]", device="cuda",
                  dtype=dtype)
    assert plain.status is Status.PASS, plain.message
    assert math.isclose(plain.derivatives[0].autograd, 3.0, rel_tol=1e-6)  # type: ignore[arg-type]


def test_one_variable_and_one_parameter_need_no_names() -> None:
    # x*sigmoid(x) at 1.5: d/dx = s + x*s*(1 - s) with s = 1/(1 + exp(-1.5)).
    s = 1 / (1 + math.exp(-1.5))
    result = check("x*sigmoid(x)", "x=1.5", impl="tests.impls:renamed")
    (d,) = result.derivatives
    assert result.status is Status.PASS
    assert abs(d.autograd - (s + 1.5 * s * (1 - s))) <= 1e-15  # type: ignore[operator]


def test_a_wrong_jvp_is_not_called_a_wrong_backward() -> None:
    # At x = -1: sigmoid'(x) = s*(1-s) with s = 1/(1+e), by hand; the jvp (wrong where
    # s < 1/2) gives s alone.
    s = 1 / (1 + math.e)
    result = check("sigmoid(x)", "x=-1", impl="tests.impls:WrongJvpSigmoid.apply")
    (derivative,) = result.derivatives
    assert result.status.value == "fail"
    assert derivative.category.value == "forward_reverse_mismatch"
    assert derivative.autograd == pytest.approx(s * (1 - s), rel=1e-15)
    assert derivative.forward_mode == pytest.approx(s, rel=1e-15)
    assert "the jvp is wrong" in (derivative.message or "")
    assert "the backward is wrong" not in (derivative.message or "")

"""``--dtype`` refusals that list the choices, and a library that makes no warning noise.

Library users run gradcheck inside their own test suites, often with warnings turned into
errors (``pytest -W error``). Torch's first forward-mode dual number imports its JVP
decompositions, which call the deprecated ``torch.jit.script``: 18 DeprecationWarnings
that are torch's business, not the user's; under ``-W error`` they cost the forward-mode
column. gradcheck silences exactly those, where it makes the dual number.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from gradcheck_cli.dtypes import DTYPES

REPO = Path(__file__).resolve().parent.parent
Invoke = Callable[..., Result]


# -- --dtype -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["float8", "int32", "half", "double", "f32", "float128", ""])
def test_an_unknown_dtype_lists_the_choices_plainly(gradcheck: Invoke, value: str) -> None:
    result = gradcheck("x**2", "--at", "x=1", "--dtype", value)
    assert result.exit_code == 2
    assert result.stdout == ""
    message = " ".join(result.stderr.split())  # as one line, whatever Click wraps
    assert f"Invalid value for '--dtype': {value!r} is not a dtype that gradcheck computes in; " \
           "choose float64, float32, float16 or bfloat16" in message
    assert "Value error" not in message and "is not one of" not in message
    assert "Traceback" not in result.stderr


def test_the_dtype_choices_come_from_the_dtype_list(gradcheck: Invoke) -> None:
    assert DTYPES == ("float64", "float32", "float16", "bfloat16")
    message = " ".join(gradcheck("x", "--at", "x=1", "--dtype", "float8").stderr.split())
    assert all(name in message for name in DTYPES)
    assert f"<{'|'.join(DTYPES)}>" in gradcheck("--help").stdout


@pytest.mark.parametrize("value", ["float32", "FLOAT32", "Float32", " float32 "])
def test_a_dtype_in_any_case_is_taken(gradcheck: Invoke, value: str) -> None:
    result = gradcheck("exp(x)", "--at", "x=1", "--dtype", value, "--format", "json")
    assert result.exit_code == 0, result.stderr
    (check,) = json.loads(result.stdout)["checks"]
    # float32 cannot hold e: autograd's value is the nearest float32, not float64's e.
    autograd = check["value"]["autograd"]
    assert autograd != math.e and abs(autograd - math.e) < 3e-7


#: (--dtype as typed, e**2 as the dtype holds it). e**2 = 7.38905609893...; in [4, 8)
#: float16's spacing is 2**-8 (10 fraction bits) and bfloat16's 2**-5 (7 bits):
#: 7.38905609893 * 2**8 = 1891.6 -> 1892, and * 2**5 = 236.45 -> 236.
HALF_E2 = [
    ("float16", 1892 / 2**8),   # 7.390625
    ("Float16", 1892 / 2**8),
    ("bfloat16", 236 / 2**5),   # 7.375
    ("BFLOAT16", 236 / 2**5),
]


@pytest.mark.parametrize(("value", "held_e"), HALF_E2)
def test_a_half_dtype_is_taken(gradcheck: Invoke, value: str, held_e: float) -> None:
    result = gradcheck("exp(x)", "--at", "x=2", "--dtype", value, "--format", "json")
    assert result.exit_code == 0, result.stderr
    (check,) = json.loads(result.stdout)["checks"]
    assert check["status"] == "pass"
    assert check["value"]["autograd"] == held_e
    assert check["derivatives"][0]["autograd"] == held_e


# -- no DeprecationWarning noise for library users -------------------------------------------

#: A user's script: warnings are errors, as under ``pytest -W error``; the forward-mode
#: column and the user's own warnings are reported back.
_USER_CODE = """
import json, warnings
from gradcheck_cli import check
from gradcheck_cli.check import load_evaluation

load_evaluation()  # SymPy's and torch's imports add filters of their own, once
before = list(warnings.filters)
results = [check("sin(x)*y", "x=1, y=2"), check("x**2", "x=3", dtype="float32")]
after = list(warnings.filters)
try:
    warnings.warn("the user's own", DeprecationWarning)
    own = "silenced"
except DeprecationWarning:
    own = "raised"
print(json.dumps({"forward": [d.forward_mode for r in results for d in r.derivatives],
                  "filters_kept": before == after, "own": own}))
"""


def _user_run(*flags: str) -> subprocess.CompletedProcess[str]:
    # A fresh interpreter: torch loads its decompositions once per process. PYTORCH_JIT
    # as a library user has it (the command line sets it to 0 for its own checks).
    env = {k: v for k, v in os.environ.items() if k not in ("PYTORCH_JIT", "PYTHONWARNINGS")}
    return subprocess.run([sys.executable, *flags, "-c", _USER_CODE], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=300, check=False)


def test_the_library_under_warnings_as_errors_still_has_forward_mode() -> None:
    done = _user_run("-W", "error::DeprecationWarning")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    # d/dx sin(x)*y = y*cos(x) = 2cos(1), d/dy = sin(1); d/dx x^2 = 2x = 6 (exact in float32).
    sin_x_y, sin_x_y_dy, square = report["forward"]
    assert sin_x_y == pytest.approx(2 * math.cos(1), rel=1e-15)
    assert sin_x_y_dy == pytest.approx(math.sin(1), rel=1e-15)
    assert square == 6.0
    assert report["filters_kept"] is True
    assert report["own"] == "raised"  # the user's own warnings are untouched


def test_the_library_prints_no_warning_at_all() -> None:
    done = _user_run("-W", "always")
    assert done.returncode == 0, done.stderr
    # The user's own warning is shown; nothing of torch's.
    assert done.stderr.count("Warning") == 1, done.stderr
    assert "DeprecationWarning: the user's own" in done.stderr
    assert json.loads(done.stdout)["own"] == "silenced"  # shown, not raised

"""gradcheck: is PyTorch autograd's derivative the exact one?

The public API. Importing it loads neither SymPy nor torch; a check loads them.

>>> from gradcheck_cli import check
>>> result = check("x**y", "x=3, y=4")
>>> [d.autograd for d in result.derivatives]
[108.0, 88.9875953821169]
"""

from .check import Request, check, check_points, prepare, run
from .compare import DEFAULT_ATOL, DEFAULT_RTOL, Tolerance
from .errors import InputError
from .results import CheckResult, Comparison, Derivative, Status, Summary

__all__ = [
    "DEFAULT_ATOL", "DEFAULT_RTOL", "CheckResult", "Comparison", "Derivative", "InputError",
    "Request", "Status", "Summary", "Tolerance", "check", "check_points", "prepare", "run",
]

__version__ = "0.1.0"

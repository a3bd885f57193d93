"""gradcheck: is PyTorch autograd's derivative the exact one?

The public API. Importing the package costs almost nothing (pytest imports its plugin at
every start-up of every project where it is installed): each name loads its module at
first use, and a check loads SymPy and torch.

>>> from gradcheck_cli import check
>>> result = check("x**y", "x=3, y=4")
>>> [d.autograd for d in result.derivatives]
[108.0, 88.9875953821169]
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .check import Request, check, check_points, prepare, run
    from .compare import DEFAULT_ATOL, DEFAULT_RTOL, Tolerance
    from .errors import InputError
    from .results import CheckResult, Comparison, Derivative, Status, Summary
    from .testing import GradcheckWarning, assert_gradients

__version__ = "0.1.0"

#: Each public name and the module that defines it.
_EXPORTS = {
    "Request": "check", "check_points": "check", "prepare": "check", "run": "check",
    "DEFAULT_ATOL": "compare", "DEFAULT_RTOL": "compare", "Tolerance": "compare",
    "InputError": "errors",
    "CheckResult": "results", "Comparison": "results", "Derivative": "results",
    "Status": "results", "Summary": "results",
    "GradcheckWarning": "testing", "assert_gradients": "testing",
}

__all__ = [
    "DEFAULT_ATOL", "DEFAULT_RTOL", "CheckResult", "Comparison", "Derivative", "GradcheckWarning",
    "InputError", "Request", "Status", "Summary", "Tolerance", "assert_gradients", "check",
    "check_points", "prepare", "run",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # looked up once
    return value


class _Package(types.ModuleType):
    """The package, whose ``check`` is always the function.

    The function lives in the submodule of the same name, and the import system binds a
    submodule to its package's attribute when it first loads it: loaded lazily (by the
    pytest plugin, say) before anyone asked for ``check``, the name would be the module.
    """

    @property
    def check(self) -> Any:
        from .check import check

        return check

    @check.setter
    def check(self, value: Any) -> None:
        pass  # the submodule being bound on its first import: the name stays the function


sys.modules[__name__].__class__ = _Package

"""``--impl``: the user's own torch code, found, resolved and matched to the spec's variables.

A TARGET is ``package.module:attr`` (imported with the current directory first on
``sys.path``, as ``python -m`` has it) or ``path/to/file.py:attr``; ``attr`` may be
dotted (``MySigmoid.apply``). The function is called with one tensor per variable of the
spec, matched to its parameters by name, or in the order ``--args x,y`` gives.

Resolving a target imports the user's code, by the user's explicit choice (as pytest
does); it happens only with ``--impl``, and never for a line of a check file. Light: this
module imports neither SymPy nor torch itself (the user's module may).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError
from .parse import NAME
from .results import Category

#: What ``impl=`` takes: a TARGET string, or the callable itself (library only).
ImplLike = str | Callable[..., Any]

#: The devices ``--device`` names: cpu, cuda, cuda:N, mps.
DEVICES = ("cpu", "cuda", "cuda:N", "mps")


@dataclass(frozen=True)
class Resolved:
    """A callable, and the variables it is called with, in positional order."""

    function: Callable[..., Any]
    #: The spec's variables in the order of the function's positional parameters.
    order: tuple[str, ...]
    #: How results name it: the TARGET, or the callable's qualified name.
    name: str


def describe(impl: ImplLike) -> str:
    """How results name an implementation: the TARGET as given, or the callable's
    ``module.qualname``."""
    if isinstance(impl, str):
        return impl.strip()
    module = getattr(impl, "__module__", None)
    qualname = getattr(impl, "__qualname__", None) or getattr(impl, "__name__", None) \
        or type(impl).__name__
    return f"{module}.{qualname}" if module else str(qualname)


def parse_args(args: str | Sequence[str] | None, variables: tuple[str, ...]
               ) -> tuple[str, ...] | None:
    """``--args x,y``: the spec's variables in the function's positional order."""
    if args is None:
        return None
    if isinstance(args, str):
        names = [name.strip() for name in args.split(",")]
    elif isinstance(args, Sequence) and all(isinstance(a, str) for a in args):
        names = [name.strip() for name in args]
    else:
        raise InputError(Category.BAD_OPTION, f"args must be text such as \"x,y\" or a list of "
                         f"names, not {type(args).__name__}")
    for index, name in enumerate(names):
        if not NAME.match(name):
            raise InputError(Category.BAD_OPTION, f"--args names {name!r}, which is not a variable "
                             "name (write --args x,y)")
        if name not in variables:
            known = ", ".join(variables) or "none"
            raise InputError(Category.BAD_OPTION, f"--args names {name}, which is not a variable of "
                             f"the expression (its variables: {known})")
        if name in names[:index]:
            raise InputError(Category.BAD_OPTION, f"--args names {name} twice")
    missing = [name for name in variables if name not in names]
    if missing:
        raise InputError(Category.BAD_OPTION, f"--args leaves out {', '.join(missing)}: name every "
                         f"variable of the expression once, in the function's order "
                         f"(e.g. --args {','.join(variables)})")
    return tuple(names)


def resolve(impl: ImplLike, variables: tuple[str, ...],
            args: str | Sequence[str] | None = None) -> Resolved:
    """The callable ``impl`` names, matched to ``variables``; :class:`InputError` (a usage
    error, one line) for a target that cannot be imported, has no such attribute, is not
    callable, or whose parameters do not match."""
    order = parse_args(args, variables)
    if isinstance(impl, str):
        function = load_target(impl)
    elif callable(impl):
        function = impl
    else:
        raise InputError(Category.BAD_OPTION, f"impl must be a TARGET such as \"mypkg.ops:swish\" "
                         f"or a callable, not {type(impl).__name__}")
    name = describe(impl)
    if order is None:
        order = match_parameters(function, variables, name)
    return Resolved(function, order, name)


def load_target(target: str) -> Callable[..., Any]:
    """Import ``module:attr`` or ``path/to/file.py:attr`` and return the attribute."""
    text = target.strip()
    module_part, colon, attr = text.rpartition(":")
    if not colon or not module_part or not attr:
        raise InputError(Category.BAD_OPTION, f"--impl {text!r} is not a TARGET: write "
                         "package.module:function or path/to/file.py:function")
    if not all(NAME.match(part) for part in attr.split(".")):
        raise InputError(Category.BAD_OPTION, f"--impl {text!r}: {attr!r} is not an attribute "
                         "name (a name, or dotted names such as MySigmoid.apply)")
    module = _import(module_part, text)
    found: Any = module
    walked = module_part
    for part in attr.split("."):
        if not hasattr(found, part):
            raise InputError(Category.BAD_OPTION, f"--impl {text}: {walked} has no attribute "
                             f"{part!r}")
        found = getattr(found, part)
        walked = f"{walked}:{part}" if walked == module_part else f"{walked}.{part}"
    if not callable(found):
        raise InputError(Category.BAD_OPTION, f"--impl {text}: {attr} is "
                         f"{type(found).__name__}, not a function or other callable")
    return found  # type: ignore[no-any-return]


def _import(module_part: str, target: str) -> Any:
    is_path = module_part.endswith(".py") or os.sep in module_part or "/" in module_part
    try:
        if is_path:
            return _import_file(Path(module_part), target)
        if not all(NAME.match(part) for part in module_part.split(".")):
            raise InputError(Category.BAD_OPTION, f"--impl {target}: {module_part!r} is neither a "
                             "module name (package.module) nor a path ending in .py")
        # As python -m has it: the current directory first.
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        return importlib.import_module(module_part)
    except InputError:
        raise
    except BaseException as error:  # the user's module may raise anything, SystemExit too
        if isinstance(error, KeyboardInterrupt):
            raise
        raise InputError(Category.BAD_OPTION, f"--impl {target}: cannot import {module_part}: "
                         f"{type(error).__name__}: {error}") from None


def _import_file(path: Path, target: str) -> Any:
    if not path.is_file():
        raise InputError(Category.BAD_OPTION, f"--impl {target}: no such file {str(path)!r}")
    resolved = path.resolve()
    # One module per file, under a name of its own: a second resolve (a worker's) reuses it.
    name = "gradcheck_impl_" + "".join(c if c.isalnum() else "_" for c in str(resolved))
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise InputError(Category.BAD_OPTION, f"--impl {target}: {path} cannot be imported as "
                         "Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # Its own imports of neighbours (from helpers import f) work as python file.py has them.
    parent = str(resolved.parent)
    if parent not in sys.path:
        sys.path.insert(0, parent)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _parameters(function: Callable[..., Any]) -> list[inspect.Parameter] | None:
    """The parameters a call fills, or ``None`` where they cannot be read.

    A ``torch.autograd.Function``'s ``apply`` takes ``*args``: its ``forward``'s
    parameters after ``ctx`` are the ones that count.
    """
    owner = getattr(function, "__self__", None)
    if getattr(function, "__name__", None) == "apply" and inspect.isclass(owner) \
            and hasattr(owner, "forward"):
        try:
            params = list(inspect.signature(owner.forward).parameters.values())
        except (TypeError, ValueError):
            return None
        if params and params[0].name == "ctx":
            params = params[1:]
        return params
    try:
        return list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return None


def match_parameters(function: Callable[..., Any], variables: tuple[str, ...], name: str
                     ) -> tuple[str, ...]:
    """The variables in the order of the function's positional parameters, matched by name.

    A function of ``*args`` alone (or one whose signature cannot be read) takes a spec of
    one variable; otherwise ``--args`` must say the order.
    """
    hint = f"give the order with --args {','.join(variables)}" if variables else ""
    params = _parameters(function)
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if params is None or (params and all(p.kind is inspect.Parameter.VAR_POSITIONAL
                                         for p in params)):
        if len(variables) <= 1:
            return variables
        raise InputError(Category.BAD_OPTION, f"--impl {name}: its parameters cannot be matched to "
                         f"{', '.join(variables)} by name: {hint}")
    required = [p for p in params if p.kind in positional and p.default is inspect.Parameter.empty]
    if len(variables) == 1 and len(required) == 1 and variables[0] not in \
            {p.name for p in params}:
        # One variable, one parameter to fill: torch.nn.functional.silu(input) for "x*sigmoid(x)".
        return variables
    order: list[str] = []
    for param in params:
        if param.kind not in positional:
            if param.kind is inspect.Parameter.VAR_POSITIONAL and len(order) < len(variables):
                raise InputError(Category.BAD_OPTION, f"--impl {name}: it takes *{param.name}, "
                                 f"which cannot be matched by name: {hint}")
            continue
        if param.name in variables:
            order.append(param.name)
        elif param.default is inspect.Parameter.empty:
            known = ", ".join(variables) or "none"
            raise InputError(Category.BAD_OPTION, f"--impl {name}: its parameter {param.name!r} "
                             f"matches no variable of the expression (its variables: {known}); "
                             f"rename it, or {hint}")
        else:
            break  # a parameter with a default, and none after it is filled
    missing = [v for v in variables if v not in order]
    if missing:
        raise InputError(Category.BAD_OPTION, f"--impl {name}: it has no parameter named "
                         f"{', '.join(missing)}; rename its parameters, or {hint}")
    return tuple(order)


def check_device(device: str) -> str:
    """``--device``: cpu, cuda, cuda:N or mps, usable by this torch; :class:`InputError`
    saying why not. Loads torch only for a device other than the CPU."""
    if not isinstance(device, str):
        raise InputError(Category.BAD_OPTION, f"device must be text such as \"cpu\" or \"cuda\", "
                         f"not {type(device).__name__}")
    text = device.strip().lower()
    if text == "cpu":
        return text
    kind, _, index = text.partition(":")
    if kind not in ("cuda", "mps") or (index and (kind != "cuda" or not index.isdigit())):
        raise InputError(Category.BAD_OPTION, f"--device {device!r} is not one gradcheck computes on; "
                         "choose cpu, cuda, cuda:N or mps")
    import torch  # only for a device other than the CPU, to ask torch

    if kind == "cuda":
        if not torch.cuda.is_available():
            built = torch.version.cuda is not None
            raise InputError(Category.BAD_OPTION, "--device cuda: CUDA is not available " + (
                "(this torch is built with CUDA, but finds no usable GPU)" if built
                else "in this torch build"))
        if index and int(index) >= torch.cuda.device_count():
            raise InputError(Category.BAD_OPTION, f"--device {text}: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s), numbered from 0")
    elif not torch.backends.mps.is_available():
        raise InputError(Category.BAD_OPTION, "--device mps: MPS is not available in this torch "
                         "build or on this machine")
    return text

"""A check's request: the expression, the points and the options, validated.

:func:`prepare` parses and validates everything a check needs into a :class:`Request`,
raising :class:`~gradcheck_cli.errors.InputError` on the first problem. This module is
light: it imports neither SymPy nor torch (nor numpy), so bad input is refused before
anything heavy loads, and the engine can import it without a cycle.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from .compare import Tolerance, default_tolerance
from .dtypes import DTYPES
from .errors import InputError
from .expectations import Expectation, ExpectLike, expectations
from .functions import CONSTANTS, FUNCTIONS
from .limits import MAX_DEPTH, MAX_EXPRESSION_LENGTH, MAX_ORDER, MAX_PARTIALS, MAX_TENSOR_ELEMENTS
from .parse import (
    NAME,
    Assignment,
    Call,
    Constant,
    Expression,
    Index,
    Node,
    Number,
    Variable,
    children,
    index_error,
    parse_expression,
    parse_point,
    parse_value,
)
from .results import Category, Value, nested

#: A point as the library takes it: ``"x=1,y=2"`` or ``{"x": 1, "y": "pi/4"}``; for an
#: expression of one variable also a bare number, ``3``.
PointLike = str | Mapping[str, Any] | float
#: The points of :func:`check_points`: a sequence of points, or one point.
PointsLike = Iterable[PointLike] | PointLike | None




@dataclass(frozen=True)
class Request:
    """A validated check, ready to run: nothing in it can be refused any more."""

    expression: Expression
    points: tuple[tuple[Assignment, ...], ...]
    wrt: tuple[str, ...]
    tolerance: Tolerance
    source: str | None = None
    order: int = 1
    dtype: str = "float64"
    #: For a tensor output: the vector of the vector-Jacobian product, ``"ones"`` for
    #: ``ones_like(output)``; ``None`` for the full Jacobian.
    vjp: Assignment | str | None = None
    #: ``--impl``: the user's function, as a TARGET string (picklable: a worker resolves
    #: it again) or, from the library, the callable itself; ``None``: the expression.
    impl: Any = None
    #: The spec's variables in the function's positional order (``--args``, or matched by
    #: parameter name when the request was prepared).
    impl_args: tuple[str, ...] | None = None
    #: Where torch computes: cpu, cuda, cuda:N or mps.
    device: str = "cpu"
    #: The user's own derivatives (``--expect``), at most one per partial.
    expect: tuple[Expectation, ...] = ()

    @property
    def has_tensors(self) -> bool:
        return self.vjp is not None or any(a.is_tensor for p in self.points for a in p)

    @property
    def partials(self) -> tuple[tuple[str, ...], ...]:
        """Every partial of the request's order, each multiset of variables once."""
        return tuple(itertools.combinations_with_replacement(self.wrt, self.order))



def prepare(expression: str, points: PointsLike, *,
            wrt: str | Sequence[str] | None = None, rtol: float | None = None,
            atol: float | None = None, order: int = 1, dtype: str = "float64",
            vjp: str | None = None, source: str | None = None, impl: Any = None,
            args: str | Sequence[str] | None = None, device: str = "cpu",
            expect: ExpectLike = None) -> Request:
    """Parse and validate everything; raise :class:`InputError` on the first problem.

    With ``impl`` (a TARGET or a callable) the user's code is imported and matched to the
    variables here, so that a target that cannot be used is refused before anything runs.
    """
    if not isinstance(expression, str):
        raise InputError(Category.BAD_OPTION, f"the expression must be text such as \"x**2\", not "
                         f"{type(expression).__name__} {expression!r:.60}")
    for name, option in (("vjp", vjp), ("source", source)):
        if option is not None and not isinstance(option, str):
            raise InputError(Category.BAD_OPTION, f"{name} must be text, not {type(option).__name__}")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise InputError(Category.BAD_OPTION, f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    if not isinstance(order, int) or not 1 <= order <= MAX_ORDER:
        raise InputError(Category.LIMIT, f"order must be a whole number from 1 to MAX_ORDER = "
                         f"{MAX_ORDER}, not {order!r}")
    defaults = default_tolerance(dtype)
    tolerance = _tolerance(defaults.rtol if rtol is None else rtol,
                           defaults.atol if atol is None else atol)
    parsed = parse_expression(expression)
    variables = parsed.variables
    assignments = _points(points, variables)
    if not assignments:
        assignments = ((),)
    for point in assignments:
        given = [a.name for a in point]
        for assignment in point:
            if assignment.name not in variables:
                known = ", ".join(variables) or "none"
                raise InputError(Category.UNKNOWN_VARIABLE, f"the point gives a value for "
                                 f"{assignment.name}, which is not in the expression "
                                 f"(its variables: {known})")
        missing = [name for name in variables if name not in given]
        if missing:
            example = ",".join(f"{name}=1" for name in variables)
            everywhere = {a.name for p in assignments for a in p}
            if len(assignments) > 1 and set(variables) <= everywhere:
                # --at x=1 --at y=2: two points of one variable each, not one of both.
                raise InputError(Category.MISSING_VALUE, f"no value for {', '.join(missing)} in "
                                 f"the point that gives {', '.join(given) or 'nothing'}: each --at "
                                 f"is a separate point, so give every variable in each, e.g. --at "
                                 f"{example}")
            raise InputError(Category.MISSING_VALUE, f"no value for {', '.join(missing)}: give every "
                             f"variable a value, e.g. --at {example}")
    vector: Assignment | str | None = None
    if vjp is not None:
        vector = "ones" if vjp.strip() == "ones" else parse_value("vjp", vjp)
    impl_args: tuple[str, ...] | None = None
    if impl is not None:
        from .impl import resolve  # imports the user's code: only with --impl
        impl_args = resolve(impl, variables, args).order
    elif args is not None:
        raise InputError(Category.BAD_OPTION, "--args gives the order of --impl's parameters; "
                         "it needs --impl")
    from .impl import check_device
    device = check_device(device)
    request = Request(parsed, assignments, _wrt(wrt, variables), tolerance, source, order, dtype,
                      vector, impl, impl_args, device)
    _check_shapes(request)
    _check_partials(request)
    if expect is not None:
        request = replace(request, expect=expectations(
            expect, variables=variables, wrt=request.wrt, order=order,
            has_tensors=request.has_tensors))
    return request


def _check_shapes(request: Request) -> None:
    """Refuse what the point's shapes already rule out: an index that does not fit, --vjp
    of a scalar output, --order above 1 of a tensor output (the engine refuses the rest,
    once it knows every shape)."""
    text, points = request.expression.text, request.points
    for number, point in enumerate(points, start=1):
        try:
            output = output_shape(request.expression.tree, {a.name: a.shape for a in point}, text)
            if request.vjp is not None and output == ():
                raise vjp_needs_tensor_output(text)
            if request.order > 1 and output:
                raise order_needs_scalar_output(text, request.order, output)
        except InputError as error:
            if len(points) == 1:
                raise
            raise InputError(error.category, f"point {number} of {len(points)}: {error.message}",
                             text=error.text, column=error.column) from None
    if request.vjp is not None and request.order > 1:
        raise InputError(Category.BAD_OPTION, f"--vjp does not combine with --order {request.order}: a "
                         "vector-Jacobian product is of first derivatives; for higher derivatives "
                         "check a scalar output (such as sum(v*out)) without --vjp")


def _check_partials(request: Request) -> None:
    """MAX_PARTIALS. At order 2 and above each element of a tensor is a variable: the
    Hessian of a vector of n elements has n(n+1)/2 distinct second partials."""
    if request.order > 1 and request.has_tensors:
        sizes = [{a.name: math.prod(a.shape) for a in point if a.name in request.wrt}
                 for point in request.points]
        largest = max(sizes, key=lambda s: sum(s.values()))
        elements = sum(largest.values())
        count = math.comb(elements + request.order - 1, request.order)
        if count > MAX_PARTIALS:
            each = ", ".join(f"{name}: {size}" for name, size in largest.items())
            raise InputError(Category.LIMIT, f"order {request.order} in {elements} elements ({each}) "
                             f"makes {count:,} partial derivatives; the limit is MAX_PARTIALS = "
                             f"{MAX_PARTIALS}: at order 2 and above each element of a tensor counts as "
                             "a variable (choose fewer with --wrt, or use smaller tensors)")
    elif len(request.partials) > MAX_PARTIALS:
        raise InputError(Category.LIMIT, f"order {request.order} in {len(request.wrt)} variables makes "
                         f"{len(request.partials)} partial derivatives; the limit is MAX_PARTIALS = "
                         f"{MAX_PARTIALS} (choose fewer with --wrt)")


def vjp_needs_tensor_output(text: str) -> InputError:
    """--vjp of an expression whose value is a scalar."""
    return InputError(Category.SHAPE_ERROR, f"--vjp needs a tensor output, and {text} is a scalar "
                      "here: leave --vjp out, and its gradient is checked (a scalar's out.backward() "
                      "needs no vector)")


def order_needs_scalar_output(text: str, order: int, shape: tuple[int, ...]) -> InputError:
    """--order above 1 of an expression whose value is a tensor."""
    return InputError(Category.SHAPE_ERROR, f"--order {order} checks the derivatives of a scalar "
                      f"output, and {text} has shape {shape} here: check a scalar made from it, such "
                      f"as sum({text}) or one element, ({text})[0]")


def output_shape(tree: Node, shapes: Mapping[str, tuple[int, ...]], text: str | None = None
                 ) -> tuple[int, ...] | None:
    """The shape of the expression's value, where the light core can tell it.

    ``None`` where only the engine can: the value of a whole-tensor function such as
    ``matmul`` or ``softmax`` of a tensor, or operands that do not broadcast (the engine
    says why). Every index whose operand's shape is known here is checked against it
    (:func:`~gradcheck_cli.parse.index_error`), with ``text`` for the caret.
    """
    def shape(node: Node) -> tuple[int, ...] | None:
        if isinstance(node, Number | Constant):
            return ()
        if isinstance(node, Variable):
            return shapes[node.name]
        inner = [shape(child) for child in children(node)]  # every index below is checked
        if isinstance(node, Index):
            if inner[0] is None:
                return None
            error = index_error(node, inner[0], text)
            if error is not None:
                raise error
            return inner[0][len(node.indices):]
        if isinstance(node, Call) and FUNCTIONS[node.function].kind != "elementwise":
            # Of scalars, a whole-tensor function gives a scalar (or torch refuses it).
            return () if all(s == () for s in inner) else None
        return _broadcast(inner)

    return shape(tree)


def _broadcast(shapes: list[tuple[int, ...] | None]) -> tuple[int, ...] | None:
    """The broadcast shape, as torch and NumPy make it; ``None`` if unknown or impossible."""
    if any(s is None for s in shapes):
        return None
    known = [s for s in shapes if s is not None]
    width = max((len(s) for s in known), default=0)
    result: list[int] = []
    for sizes in zip(*[(1,) * (width - len(s)) + s for s in known], strict=True):
        bigger = {n for n in sizes if n != 1}
        if len(bigger) > 1:
            return None
        result.append(bigger.pop() if bigger else 1)
    return tuple(result)


def _tolerance(rtol: float, atol: float) -> Tolerance:
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise InputError(Category.BAD_OPTION, f"{name} must be a finite number >= 0, not {value!r}")
    return Tolerance(rtol=float(rtol), atol=float(atol))


def _points(points: object, variables: tuple[str, ...]) -> tuple[tuple[Assignment, ...], ...]:
    """Every point, converted; an error in one of several non-text points says which."""
    if points is None:
        given: tuple[object, ...] = ()
    elif isinstance(points, str | Mapping) or not isinstance(points, Iterable):
        given = (points,)  # one point, given by itself
    else:
        try:
            given = tuple(points)
        except TypeError:  # a 0-d array is iterable in type only
            given = (points,)
    assignments = []
    for index, point in enumerate(given):
        try:
            assignments.append(_point(point, variables))
        except InputError as error:
            if len(given) == 1 or isinstance(point, str):
                raise
            raise InputError(error.category, f"point {index + 1} of {len(given)}: {error.message}",
                             text=error.text, column=error.column) from None
    return tuple(assignments)


def _point(point: object, variables: tuple[str, ...]) -> tuple[Assignment, ...]:
    if isinstance(point, str):
        return parse_point(point)
    if isinstance(point, Mapping):
        return _mapping_point(point)
    mapping = '{"x": 1, "y": 2}' if len(variables) != 1 else f'{{"{variables[0]}": 1}}'
    text = '"x=1,y=2"' if len(variables) != 1 else f'"{variables[0]}=1"'
    if point is None:
        raise InputError(Category.BAD_OPTION, f"None is not a point: give a mapping such as {mapping} "
                         f"or text such as {text}")
    if isinstance(point, list | tuple) or (
            _is_array(point) and getattr(point, "shape", ()) != ()):
        name = variables[0] if len(variables) == 1 else "x"
        raise InputError(Category.BAD_OPTION, f"{_kind(point)} is not a point: for a tensor value "
                         f'give a mapping such as {{"{name}": [1, 2]}}, and for several points '
                         "call check_points(expression, [point, ...])")
    if not _is_scalar(point):
        raise InputError(Category.BAD_OPTION, f"a point is a mapping such as {mapping} or text such as "
                         f"{text}, not {_kind(point)}")
    if len(variables) != 1:
        has = f"{len(variables)} ({', '.join(variables)})" if variables else "none"
        instead = (f": give a mapping such as {mapping} or text such as {text}" if variables
                   else ": give no point")
        raise InputError(Category.BAD_OPTION, f"a bare value ({point!r}) is a point only for an expression "
                         f"of exactly one variable, and this one has {has}{instead}")
    return (_assignment(variables[0], point),)


def _mapping_point(point: Mapping[Any, Any]) -> tuple[Assignment, ...]:
    # Each value is parsed by itself, so that no value can reach into another.
    assignments: list[Assignment] = []
    for key, value in point.items():
        if not isinstance(key, str):
            hint = f" (did you mean {str(key)!r}?)" if NAME.match(str(key)) else ""
            raise InputError(Category.BAD_OPTION, f"variable names are strings such as 'x'; the point has "
                             f"the key {key!r}, {_kind(key)}{hint}")
        name = key.strip()
        if not NAME.match(name) or name in CONSTANTS or name in FUNCTIONS:
            raise InputError(Category.PARSE_ERROR, f"{key!r} is not a variable name: a letter, then "
                             "letters, digits or _, and not a function or constant such as pi")
        if any(a.name == name for a in assignments):
            raise InputError(Category.REPEATED_VARIABLE, f"{name} is given twice in the point")
        assignments.append(_assignment(name, value))
    return tuple(assignments)


def _assignment(name: str, value: object) -> Assignment:
    text = value if isinstance(value, str) else _value_text(name, value)
    if not text.strip():
        raise InputError(Category.MISSING_VALUE, f"{name} has no value (give e.g. {{'{name}': 1}})")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise InputError(Category.LIMIT, f"the value of {name} is {len(text):,} characters long as text; "
                         f"the limit is MAX_EXPRESSION_LENGTH = {MAX_EXPRESSION_LENGTH:,}")
    # Parsed as the --at text name=value would be, so that columns point into it.
    return parse_value(name, text, offset=len(name) + 1, context=f"{name}={text}")


def _value_text(name: str, value: object) -> str:
    """A value given as a Python object, as the text ``parse_value`` reads.

    Lists, tuples and arrays become ``[...]``; text inside them is parenthesised so
    that it stays one element; numbers keep every digit.
    """
    leaves = 0

    def text(item: object, where: str, depth: int) -> str:
        nonlocal leaves
        if _is_array(item):
            size = math.prod(getattr(item, "shape", ()))
            if size > MAX_TENSOR_ELEMENTS:
                raise InputError(Category.LIMIT, f"{name} has {size} elements; the limit is "
                                 f"MAX_TENSOR_ELEMENTS = {MAX_TENSOR_ELEMENTS}")
            item = cast(Any, item).tolist()
        if isinstance(item, list | tuple):
            if depth >= MAX_DEPTH:
                raise InputError(Category.LIMIT, f"{name} nests lists more than MAX_DEPTH = {MAX_DEPTH} "
                                 "deep")
            return "[" + ", ".join(text(element, f"{where}[{index}]", depth + 1)
                                   for index, element in enumerate(item)) + "]"
        leaves += 1
        if leaves > MAX_TENSOR_ELEMENTS:
            raise InputError(Category.LIMIT, f"{name} has more than {MAX_TENSOR_ELEMENTS} elements; the "
                             f"limit is MAX_TENSOR_ELEMENTS = {MAX_TENSOR_ELEMENTS}")
        if isinstance(item, str):
            return f"({item})" if depth else item
        return _number_text(where, item)

    return text(value, name, 0)


def _number_text(name: str, value: object) -> str:
    if isinstance(value, bool):
        raise InputError(Category.BAD_OPTION, f"{name} = {value} is a bool, not a number: give 1 or 0 if "
                         "that is what you mean")
    if value is None:
        raise InputError(Category.MISSING_VALUE, f"{name} is None: give it a value")
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Rational):
        return f"({int(value.numerator)}/{int(value.denominator)})"
    if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
        raise InputError(Category.BAD_OPTION, f"{name} = {value!r} is a complex number; only real "
                         "numbers are allowed")
    if isinstance(value, numbers.Real) or hasattr(type(value), "__float__"):
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, ArithmeticError):
            raise InputError(Category.BAD_OPTION, f"{name} = {value!r} ({_kind(value)}) is not a real "
                             "number") from None
        if not math.isfinite(number):
            raise InputError(Category.NON_FINITE_POINT, f"{name} = {number} is not a finite number")
        return repr(number)
    raise InputError(Category.BAD_OPTION, f"{name} = {value!r} is {_kind(value)}, not a number: "
                     "give a number, a list of numbers, or text such as 'pi/4'")


def _kind(value: object) -> str:
    """The type of a value, for messages: ``an int``, ``a numpy.ndarray``, ``a sympy.Symbol``."""
    kind = type(value)
    package = kind.__module__.split(".")[0]
    name = kind.__qualname__ if package == "builtins" else f"{package}.{kind.__qualname__}"
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _is_array(value: object) -> bool:
    """A NumPy array or scalar, a torch tensor: anything with a tuple ``shape`` and ``tolist()``."""
    return (not isinstance(value, str | list | tuple)
            and isinstance(getattr(value, "shape", None), tuple)
            and callable(getattr(value, "tolist", None)))


def _is_scalar(value: object) -> bool:
    return (isinstance(value, numbers.Number) or _is_array(value)
            or (not isinstance(value, str | bytes | bytearray) and hasattr(type(value), "__float__")))


def _wrt(wrt: str | Sequence[str] | None, variables: tuple[str, ...]) -> tuple[str, ...]:
    if wrt is None:
        return variables
    if not isinstance(wrt, str) and not (isinstance(wrt, Sequence) and
                                         all(isinstance(n, str) for n in wrt)):
        raise InputError(Category.BAD_OPTION, f"wrt must be variable names, as text (\"x,y\") or a "
                         f"list of text ([\"x\", \"y\"]), not {wrt!r:.60}")
    names = [n.strip() for n in (wrt.split(",") if isinstance(wrt, str) else wrt)]
    chosen: list[str] = []
    for name in names:
        if name not in variables:
            known = ", ".join(variables) or "none"
            raise InputError(Category.UNKNOWN_VARIABLE, f"--wrt names {name or 'nothing'}, which is not "
                             f"a variable of the expression (its variables: {known})")
        if name in chosen:
            raise InputError(Category.REPEATED_VARIABLE, f"--wrt names {name} twice")
        chosen.append(name)
    return tuple(chosen)


def point_of(point: tuple[Assignment, ...]) -> tuple[tuple[str, Value], ...]:
    """A point as results show it: a float per scalar, nested tuples per tensor."""
    return tuple((a.name, nested(a.values, a.shape)) for a in point)

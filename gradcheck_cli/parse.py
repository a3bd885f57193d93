"""Text -> expression tree, through an allow-listed Python ``ast``.

User text is data: it is never handed to ``eval``, ``exec``, ``compile`` of code objects
or SymPy's string parser. ``ast.parse`` only builds a syntax tree; every node of it is
checked against an allow-list and turned into the small tree below, or refused with an
:class:`~gradcheck_cli.errors.InputError` that names the problem and its column.

The limits against expression bombs are checked here, before SymPy or torch ever sees
the tree. They are named constants, documented in the README.
"""

from __future__ import annotations

import ast
import difflib
import keyword
import math
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .errors import InputError
from .functions import CONSTANTS, FUNCTIONS
from .limits import (
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_EXPRESSION_LENGTH,
    MAX_LITERAL_LENGTH,
    MAX_NODES,
    MAX_TENSOR_ELEMENTS,
)
from .results import Category

#: What each binary operator of the language does. SymPy expressions, tensors and
#: floats all implement these Python operators, so both sides share this one table.
BINARY_OPERATORS = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "**": operator.pow,
}

#: Makes the InputError for a problem: (category, message, column=None).
Fail = Callable[..., InputError]

_DECIMAL_LITERAL = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IMPLICIT_PRODUCT = re.compile(
    r"(?<![\w.])((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([A-Za-z_(][\w]*)"
)
#: Names people write for the registry's functions: the hint names the registry's.
_ALIASES = {
    "ln": "log", "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2",
    "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh", "absolute": "abs",
    "fabs": "abs", "maximum": "max", "minimum": "min", "logistic": "sigmoid",
    "expit": "sigmoid", "square_root": "sqrt", "lngamma": "lgamma",
    "gammaln": "lgamma", "swish": "silu", "log_sigmoid": "logsigmoid", "logaddexp": "logsumexp",
    "logsoftmax": "log_softmax", "clip": "clamp", "power": "pow",
}
#: Two names or a name and a number side by side: ``sin x``, ``x y`` (a missing '(' or '*').
_JUXTAPOSED = re.compile(r"\b([A-Za-z_]\w*)\s+([A-Za-z_]\w*|\d+(?:\.\d*)?)\b")
#: In a value, the start of another ``name=`` after a blank: a missing comma.
_NEXT_ASSIGNMENT = re.compile(r"\s([A-Za-z]\w*)\s*=")
#: A variable name: a letter, then letters, digits or _.
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_UNICODE_HINTS = {
    "π": "pi", "×": "*", "·": "*", "−": "-", "÷": "/", "²": "**2", "³": "**3", "√": "sqrt(...)",
}


# -- the tree ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    """A numeric literal; ``text`` keeps it exact for the symbolic side."""

    value: int | float
    text: str
    column: int


@dataclass(frozen=True)
class Constant:
    """``pi`` or ``e``."""

    name: str
    column: int


@dataclass(frozen=True)
class Variable:
    """A variable, differentiated with respect to when asked."""

    name: str
    column: int


@dataclass(frozen=True)
class Unary:
    """``-a`` or ``+a``."""

    op: str
    operand: Node
    column: int


@dataclass(frozen=True)
class Binary:
    """``a + b``, ``a - b``, ``a * b``, ``a / b`` or ``a ** b``."""

    op: str
    left: Node
    right: Node
    column: int


@dataclass(frozen=True)
class Call:
    """A call of a registry function with exactly its arity."""

    function: str
    args: tuple[Node, ...]
    column: int


@dataclass(frozen=True)
class Index:
    """``a[i]`` or ``a[i, j]``: elements of a tensor, as torch indexes it.

    Indices are integer literals only, a negative one counting from the end (``x[-1]``
    is the last element). Fewer indices than dimensions pick a sub-tensor (``A[0]`` is
    a row). Whether they fit the tensor is checked against its shape: in the request
    where the point gives it, in the engine otherwise.
    """

    operand: Node
    indices: tuple[int, ...]
    #: Column of the ``[``.
    column: int
    #: Column of each index, for a caret under the one out of range.
    columns: tuple[int, ...]


Node = Number | Constant | Variable | Unary | Binary | Call | Index


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its text, its tree, and its variables in order of first use."""

    text: str
    tree: Node
    variables: tuple[str, ...]


def walk(node: Node) -> Iterator[Node]:
    """Every node of a tree, parents before children, left to right."""
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-trees of a node."""
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, Index):
        return (node.operand,)
    return ()


def is_constant(node: Node) -> bool:
    """True when no variable occurs in the tree."""
    return not any(isinstance(n, Variable) for n in walk(node))


def unparse(node: Node) -> str:
    """The tree back as text, fully parenthesised where it matters (for messages)."""
    if isinstance(node, Number):
        return node.text
    if isinstance(node, Constant | Variable):
        return node.name
    if isinstance(node, Unary):
        return f"{node.op}{_wrap(node.operand)}"
    if isinstance(node, Binary):
        return f"{_wrap(node.left)}{node.op}{_wrap(node.right)}"
    if isinstance(node, Index):
        return f"{_wrap(node.operand)}[{', '.join(map(str, node.indices))}]"
    return f"{node.function}({', '.join(unparse(a) for a in node.args)})"


def _wrap(node: Node) -> str:
    text = unparse(node)
    return f"({text})" if isinstance(node, Binary | Unary) else text


def index_error(node: Index, shape: tuple[int, ...], text: str | None = None) -> InputError | None:
    """Why ``node``'s indices do not fit an operand of ``shape`` (``None`` if they do).

    One rule for the request, which knows a variable's shape from the point, and for the
    engine, which knows every sub-expression's: a scalar has nothing to index, there are
    at most as many indices as dimensions, and each lies in ``-size .. size-1``.
    """
    what = unparse(node.operand)
    whole = unparse(node)
    if not shape:
        return InputError(Category.SHAPE_ERROR, f"'{whole}' at column {node.column}: {what} is a scalar "
                          "here, not a tensor, so it cannot be indexed", text=text, column=node.column)
    if len(node.indices) > len(shape):
        plural = "s" if len(shape) != 1 else ""
        return InputError(Category.SHAPE_ERROR, f"'{whole}' at column {node.column} gives "
                          f"{len(node.indices)} indices, but {what} has {len(shape)} dimension{plural} "
                          f"(shape {shape})", text=text, column=node.column)
    for dimension, (index, column) in enumerate(zip(node.indices, node.columns, strict=True)):
        size = shape[dimension]
        if not -size <= index < size:
            where = f"dimension {dimension} of {what}" if len(shape) > 1 else what
            return InputError(Category.SHAPE_ERROR, f"the index {index} at column {column} is out of "
                              f"range: {where} has size {size} (shape {shape}), so an index runs from "
                              f"0 to {size - 1}, or from -{size} to -1 counting from the end",
                              text=text, column=column)
    return None


# -- parsing ---------------------------------------------------------------------------


_BINARY_OPS: dict[type[ast.operator], str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
}
_UNARY_OPS: dict[type[ast.unaryop], str] = {ast.UAdd: "+", ast.USub: "-"}

# What a refused node is called in messages, with a hint where one helps.
_REFUSED: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access ('.')",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "generator expressions",
    ast.Compare: "comparisons",
    ast.BoolOp: "'and' / 'or'",
    ast.IfExp: "'if ... else'",
    ast.List: "lists",
    ast.Tuple: "tuples (a stray comma?)",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.JoinedStr: "strings",
    ast.NamedExpr: "assignment (':=')",
    ast.Starred: "'*' unpacking",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "slices",
}


def parse_expression(text: str) -> Expression:
    """Parse an expression that may use variables."""
    tree = _parse(text, allow_variables=True)
    variables = tuple(dict.fromkeys(n.name for n in walk(tree) if isinstance(n, Variable)))
    return Expression(text=text, tree=tree, variables=variables)


def parse_constant(text: str, *, offset: int = 0, context: str | None = None) -> Node:
    """Parse a constant expression such as ``pi/4`` or ``-1e-3`` (no variables).

    ``offset`` shifts reported columns, and ``context`` is the whole text they refer
    to, when ``text`` is a piece of a longer argument such as ``--at x=pi/4``.
    """
    return _parse(text, allow_variables=False, offset=offset, context=context)


def _parse(text: str, *, allow_variables: bool, offset: int = 0, context: str | None = None) -> Node:
    whole = text if context is None else context

    def fail(category: Category, message: str, column: int | None = None) -> InputError:
        return InputError(category, message, text=whole, column=column)

    # Leading blanks would be an "unexpected indent" to Python's parser.
    stripped = text.lstrip()
    offset += len(text) - len(stripped)
    text = stripped

    if len(text) > MAX_EXPRESSION_LENGTH:
        raise fail(Category.LIMIT, f"the expression is {len(text):,} characters long; the limit "
                   f"is MAX_EXPRESSION_LENGTH = {MAX_EXPRESSION_LENGTH:,}")
    if not text.strip():
        raise fail(Category.PARSE_ERROR, "the expression is empty")
    for index, char in enumerate(text):
        if char == "\x00" or (ord(char) < 32 and char != "\t") or ord(char) == 127:
            raise fail(Category.PARSE_ERROR, f"control character {char!r} at column "
                       f"{offset + index + 1}", offset + index + 1)
        if ord(char) > 127:
            hint = _UNICODE_HINTS.get(char)
            suffix = f"; write {hint} instead" if hint else "; only ASCII is accepted"
            raise fail(Category.PARSE_ERROR, f"non-ASCII character {char!r} at column "
                       f"{offset + index + 1}{suffix}", offset + index + 1)

    # '^' means power here, as in most maths; Python would read it as xor with the
    # wrong precedence, so it is rewritten before parsing, keeping a column map.
    source, column_of = _caret_to_power(text, offset)
    depth = _paren_depth(source)
    if depth > MAX_DEPTH:
        raise fail(Category.LIMIT, f"parentheses nest {depth} deep; the limit is MAX_DEPTH = {MAX_DEPTH}")
    try:
        module = ast.parse(source, mode="eval")
    except SyntaxError as error:
        raise _syntax_error(text, source, column_of, error, fail, offset) from None
    except (MemoryError, RecursionError):
        raise fail(Category.LIMIT, f"the expression nests too deeply; the limit is MAX_DEPTH = {MAX_DEPTH}"
                   ) from None
    _check_size(module.body, fail, column_of)
    converter = _Converter(source, column_of, allow_variables, fail)
    tree = converter.convert(module.body)
    _check_exponents(tree, fail)
    return tree


def _caret_to_power(text: str, offset: int) -> tuple[str, list[int]]:
    source: list[str] = []
    column_of: list[int] = []  # 0-based index in source -> 1-based column in the whole text
    for index, char in enumerate(text):
        replacement = "**" if char == "^" else char
        source.append(replacement)
        column_of.extend([offset + index + 1] * len(replacement))
    column_of.append(offset + len(text) + 1)
    return "".join(source), column_of


def _paren_depth(source: str) -> int:
    depth = deepest = 0
    for char in source:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def _syntax_error(text: str, source: str, column_of: list[int], error: SyntaxError,
                  fail: Fail, offset: int) -> InputError:
    implicit = _IMPLICIT_PRODUCT.search(text)
    if implicit and _DECIMAL_LITERAL.fullmatch(implicit.group(1)):
        number, name = implicit.group(1), implicit.group(2)
        column = offset + implicit.start() + 1
        return fail(Category.PARSE_ERROR, f"'{number}{name}' at column {column} is not an expression; "
                    f"did you mean {number}*{name}?", column)
    if "|" in text:
        return fail(Category.PARSE_ERROR, f"'|' at column {offset + text.index('|') + 1} is not "
                    "supported; an absolute value is written abs(...), so |x| is abs(x)",
                    offset + text.index("|") + 1)
    if text.count("(") != text.count(")"):
        return fail(Category.PARSE_ERROR, f"unbalanced parentheses: {text.count('(')} '(' and "
                    f"{text.count(')')} ')'", None)
    juxtaposed = _JUXTAPOSED.search(text)
    if juxtaposed and not any(keyword.iskeyword(w) for w in juxtaposed.groups()):
        first, second = juxtaposed.group(1), juxtaposed.group(2)
        column = offset + juxtaposed.start(2) + 1  # where the '(' or '*' is missing
        fix = f"{first}({second})" if first in FUNCTIONS else f"{first}*{second}"
        return fail(Category.PARSE_ERROR, f"'{juxtaposed.group(0)}' at column {column} is not an "
                    f"expression; did you mean {fix}?", column)
    position = error.offset or len(source) + 1
    column = column_of[min(max(position - 1, 0), len(column_of) - 1)]
    if position > len(source):
        return fail(Category.PARSE_ERROR, "the expression ends too early (a missing operand?)", column)
    return fail(Category.PARSE_ERROR,
                f"cannot parse the expression at column {column}: {error.msg}", column)


def _check_size(body: ast.AST, fail, column_of: list[int]) -> None:  # type: ignore[no-untyped-def]
    # Iterative, so that a deep tree cannot overflow the Python stack here.
    count = 0
    stack: list[tuple[ast.AST, int]] = [(body, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise fail(Category.LIMIT, f"the expression has more than MAX_NODES = {MAX_NODES:,} parts")
        if depth > MAX_DEPTH:
            column = _column(node, column_of)
            raise fail(Category.LIMIT, f"the expression nests deeper than MAX_DEPTH = {MAX_DEPTH} "
                       f"(at column {column})", column)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node)
                     if not isinstance(child, ast.expr_context | ast.operator | ast.unaryop))


def _column(node: ast.AST, column_of: list[int]) -> int:
    offset = getattr(node, "col_offset", 0)
    return column_of[min(offset, len(column_of) - 1)]


class _Converter:
    """Turns an allow-listed ``ast`` into the tree, refusing everything else."""

    def __init__(self, source: str, column_of: list[int], allow_variables: bool, fail: Fail) -> None:
        self.source = source
        self.column_of = column_of
        self.allow_variables = allow_variables
        self.fail = fail

    def convert(self, node: ast.AST) -> Node:
        column = _column(node, self.column_of)
        if isinstance(node, ast.Constant):
            return self._number(node, column)
        if isinstance(node, ast.Name):
            return self._name(node.id, column)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY_OPS:
            return Unary(_UNARY_OPS[type(node.op)], self.convert(node.operand), column)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY_OPS:
            return Binary(_BINARY_OPS[type(node.op)], self.convert(node.left),
                          self.convert(node.right), _column_of_operator(self, node))
        if isinstance(node, ast.Call):
            return self._call(node, column)
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            left, right = self._segment(node.left), self._segment(node.right)
            raise self.fail(Category.PARSE_ERROR, f"'@' at column {column} is not supported; a "
                            f"matrix product is written matmul({left}, {right})", column)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            raise self.fail(Category.PARSE_ERROR, f"'|' at column {column} is not supported; an "
                            "absolute value is written abs(...)", column)
        if isinstance(node, ast.BinOp | ast.UnaryOp):
            symbol = self._segment(node)
            raise self.fail(Category.PARSE_ERROR, f"operator in '{symbol}' at column {column} is not "
                            "supported; use + - * / ** (or ^ for power)", column)
        what = _REFUSED.get(type(node), f"'{type(node).__name__}' syntax")
        raise self.fail(Category.PARSE_ERROR, f"{what} not allowed at column {column}: only numbers, "
                        "variables, + - * / ** and supported functions are allowed", column)

    def _segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or type(node).__name__

    def _number(self, node: ast.Constant, column: int) -> Number:
        value = node.value
        literal = self._segment(node)
        if isinstance(value, bool) or not isinstance(value, int | float):
            kind = {str: "strings", bytes: "bytes", complex: "complex numbers"}.get(
                type(value), f"{type(value).__name__} literals")
            if isinstance(value, bool) or value is None or value is Ellipsis:
                kind = f"'{literal}'"
            raise self.fail(Category.PARSE_ERROR, f"{kind} not allowed at column {column}: only real "
                            "numbers are allowed", column)
        if len(literal) > MAX_LITERAL_LENGTH:
            raise self.fail(Category.LIMIT, f"the number at column {column} is {len(literal)} characters "
                            f"long; the limit is MAX_LITERAL_LENGTH = {MAX_LITERAL_LENGTH}", column)
        if not _DECIMAL_LITERAL.fullmatch(literal):
            raise self.fail(Category.PARSE_ERROR, f"'{literal}' at column {column}: write numbers in "
                            "plain decimal (1, 0.5, 1e-3)", column)
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(Category.LIMIT, f"the number {literal} at column {column} is too large for "
                            "float64 (largest about 1.8e308)", column)
        return Number(value, literal, column)

    def _name(self, name: str, column: int) -> Node:
        if name in CONSTANTS:
            return Constant(name, column)
        if name in FUNCTIONS:
            raise self.fail(Category.PARSE_ERROR, f"'{name}' at column {column} is a function; "
                            f"call it: {name}(...)", column)
        if not NAME.match(name):
            raise self.fail(Category.PARSE_ERROR, f"'{name}' at column {column} is not a valid variable "
                            "name (letters, digits and '_', starting with a letter)", column)
        if not self.allow_variables:
            raise self.fail(Category.UNKNOWN_VARIABLE, f"'{name}' at column {column}: a value must be a "
                            "constant (numbers, pi, e and functions of them)", column)
        return Variable(name, column)

    def _subscript(self, node: ast.Subscript) -> Index:
        """``x[0]``, ``A[1, 2]``, ``softmax(z)[-1]``: one integer literal per dimension."""
        operand = self.convert(node.value)
        # ast records where the operand starts, not the '[': found after the operand.
        start = node.value.end_col_offset or node.col_offset
        found = self.source.find("[", start)
        column = self.column_of[found if found >= 0 else node.col_offset]
        whole = self._segment(node)
        if is_constant(operand):
            raise self.fail(Category.PARSE_ERROR, f"'{whole}' at column {column}: {unparse(operand)} is "
                            "a number, not a tensor, so it cannot be indexed; only tensor variables "
                            "and expressions of them can", column)
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if not items:
            raise self.fail(Category.PARSE_ERROR, f"'{whole}' at column {column} has no index: give "
                            "one integer per dimension, such as x[0] or A[1, 2]", column)
        indices = tuple(self._index(item, whole) for item in items)
        return Index(operand, indices, column, tuple(_column(i, self.column_of) for i in items))

    def _index(self, item: ast.expr, whole: str) -> int:
        """One index: an integer literal, with an optional sign (negative from the end)."""
        column = _column(item, self.column_of)
        if isinstance(item, ast.Slice):
            raise self.fail(Category.PARSE_ERROR, f"slices are not allowed: '{whole}' at column {column}; "
                            "an index is one integer literal per dimension, such as x[0], x[-1] or "
                            "A[1, 2]", column)
        literal, sign = item, 1
        if isinstance(item, ast.UnaryOp) and isinstance(item.op, ast.USub | ast.UAdd):
            literal, sign = item.operand, -1 if isinstance(item.op, ast.USub) else 1
        digits = self._segment(literal)
        if isinstance(literal, ast.Constant) and type(literal.value) is int and digits.isdigit():
            if len(digits) > MAX_LITERAL_LENGTH:
                raise self.fail(Category.LIMIT, f"the index at column {column} is {len(digits)} digits "
                                f"long; the limit is MAX_LITERAL_LENGTH = {MAX_LITERAL_LENGTH}", column)
            return sign * literal.value
        raise self.fail(Category.PARSE_ERROR, f"the index '{self._segment(item)}' at column {column} is "
                        "not an integer literal: indices are whole numbers written out, such as x[0], "
                        "x[-1] or A[1, 2], not variables, expressions or slices", column)

    def _times(self, node: ast.Call) -> str:
        """The call's text with the missing '*' put in: ``2(x+1)`` -> ``2*(x+1)``."""
        whole = self._segment(node)
        # The '(' that opens the argument list: where '*' is missing.
        end = node.args[0].col_offset if node.args else node.end_col_offset or 0
        split = self.source.rfind("(", node.col_offset, end) - node.col_offset
        return f"{whole[:split]}*{whole[split:]}" if split > 0 else f"{self._segment(node.func)}*(...)"

    def _call(self, node: ast.Call, column: int) -> Call | Binary:
        func = node.func
        if not isinstance(func, ast.Name):
            callee = self._segment(func)
            if isinstance(func, ast.Constant | ast.BinOp | ast.UnaryOp | ast.Call | ast.Name
                          | ast.Subscript):
                raise self.fail(Category.PARSE_ERROR, f"'{self._segment(node)}' at column {column}: a "
                                f"value cannot be called; did you mean {self._times(node)}?",
                                column)
            bare = func.attr if isinstance(func, ast.Attribute) else None
            bare = _ALIASES.get(bare, bare) if bare is not None else None
            if bare in FUNCTIONS:
                # torch.sin(x), np.exp(x), math.log(x), F.relu(x): the bare function.
                raise self.fail(Category.PARSE_ERROR, f"'{callee}' at column {column}: write "
                                f"{bare}(...), the expression language's own name; gradcheck "
                                "computes it with torch and SymPy itself", column)
            raise self.fail(Category.PARSE_ERROR, f"only plain function names can be called; "
                            f"'{callee}' at column {column} is not one", column)
        name = func.id
        function = FUNCTIONS.get(name)
        if function is None:
            close = difflib.get_close_matches(name.lower(), FUNCTIONS, n=3, cutoff=0.6)
            if name in _ALIASES or name.lower() in _ALIASES:
                close = [_ALIASES.get(name, _ALIASES.get(name.lower(), name))]
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            if not close and len(node.args) == 1:
                # x(x+1): more often a missing '*' after a variable than a function.
                if name in CONSTANTS:
                    hint = f" (did you mean {self._times(node)}?)"
                elif self.allow_variables and NAME.match(name):
                    hint = f" (if {name} is a variable, did you mean {self._times(node)}?)"
            raise self.fail(Category.UNKNOWN_FUNCTION, f"unknown function '{name}' at column {column}"
                            f"{hint}; 'gradcheck --functions' lists the supported ones", column)
        if node.keywords:
            raise self.fail(Category.PARSE_ERROR, f"keyword arguments are not allowed in {name}(...) at "
                            f"column {column}", column)
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            raise self.fail(Category.PARSE_ERROR, f"'*' unpacking is not allowed in {name}(...) at "
                            f"column {column}", column)
        if len(node.args) not in function.arities:
            counts = " or ".join(map(str, function.arities))
            plural = "s" if function.arities != (1,) else ""
            raise self.fail(Category.PARSE_ERROR, f"{name}() takes {counts} argument{plural}, "
                            f"{len(node.args)} given at column {column}", column)
        args = tuple(self.convert(arg) for arg in node.args)
        if function.operator is not None:
            # pow(a, b) is a**b: the same node, so every rule for powers holds for it.
            left, right = args
            return Binary(function.operator, left, right, column)
        return Call(name, args, column)


def _column_of_operator(converter: _Converter, node: ast.BinOp) -> int:
    # Messages point at the operator itself, found after the left operand (past any
    # closing parentheses), which ast does not record.
    text = _BINARY_OPS[type(node.op)]
    start = node.left.end_col_offset or node.col_offset
    found = converter.source.find(text, start)
    return converter.column_of[found if found >= 0 else node.col_offset]


# -- constant folding, for the limits and for point values -----------------------------


def constant_value(node: Node) -> float:
    """The float value of a constant tree, ``nan`` where undefined, ``±inf`` on overflow.

    Uses the registry's ``math`` forms, so no SymPy or torch is imported.
    """
    if isinstance(node, Number):
        return float(node.value)
    if isinstance(node, Constant):
        return CONSTANTS[node.name]
    if isinstance(node, Variable | Index):
        # The parser refuses an index of a constant, so only a variable's tree has one.
        raise ValueError(f"{unparse(node)} in a constant")
    try:
        if isinstance(node, Unary):
            operand = constant_value(node.operand)
            return -operand if node.op == "-" else operand
        if isinstance(node, Binary):
            return _fold_binary(node.op, constant_value(node.left), constant_value(node.right))
        args = [constant_value(a) for a in node.args]
        if any(math.isnan(a) for a in args):
            return math.nan
        return float(FUNCTIONS[node.function].math(*args))
    except OverflowError:
        return math.inf
    except (ValueError, ZeroDivisionError):
        return math.nan


def _fold_binary(op: str, left: float, right: float) -> float:
    if op == "/" and right == 0:
        return math.nan if left == 0 or math.isnan(left) else math.copysign(math.inf, left)
    if op == "**":
        # math.pow on floats is cheap whatever the size (a huge integer power is
        # not); it raises on overflow or a complex result, handled by the caller.
        return math.pow(left, right)
    return float(BINARY_OPERATORS[op](left, right))


def _check_exponents(tree: Node, fail: Fail) -> None:
    # Walks every power, carrying the product of the constant exponents above it, so
    # that (x**64)**64 is refused as x**4096 would be.
    stack: list[tuple[Node, float]] = [(tree, 1.0)]
    while stack:
        node, scale = stack.pop()
        if isinstance(node, Binary) and node.op == "**" and is_constant(node.right):
            exponent = constant_value(node.right)
            if not math.isfinite(exponent):
                problem = "is not a number" if math.isnan(exponent) else "is too large"
                raise fail(Category.LIMIT, f"the exponent {unparse(node.right)} at column "
                           f"{node.column} {problem}; the limit is MAX_EXPONENT = {MAX_EXPONENT}",
                           node.column)
            scale *= max(1.0, abs(exponent))
            if scale > MAX_EXPONENT:
                raise fail(Category.LIMIT, f"the power at column {node.column} raises to "
                           f"{_magnitude(scale)} in effect (nested constant exponents multiply); "
                           f"the limit is MAX_EXPONENT = {MAX_EXPONENT}", node.column)
            stack.append((node.left, scale))
            stack.append((node.right, 1.0))
            continue
        stack.extend((child, scale) for child in children(node))


def _magnitude(value: float) -> str:
    return f"{value:,.0f}" if value < 1e15 else f"{value:.3g}"


# -- points ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """One ``name=value`` of a point.

    A scalar has shape ``()`` and one element; a tensor (``[1, 2]``, ``eye(3)``) has its
    elements in row-major order. Each element is a constant tree (exact, for SymPy)
    with its float64 value (for torch).
    """

    name: str
    elements: tuple[Node, ...]
    values: tuple[float, ...]
    column: int
    shape: tuple[int, ...] = ()

    @property
    def tree(self) -> Node:
        """The value's tree (scalars)."""
        return self.elements[0]

    @property
    def value(self) -> float:
        """The value as a float64 (scalars)."""
        return self.values[0]

    @property
    def is_tensor(self) -> bool:
        return self.shape != ()


#: Helpers that build tensor values: name -> (least, most) arguments.
TENSOR_HELPERS = {"ones": (1, 2), "zeros": (1, 2), "eye": (1, 1), "full": (2, 2),
                  "arange": (1, 2)}


def parse_point(text: str) -> tuple[Assignment, ...]:
    """Parse ``x=1, y=pi/4``: each value is a constant expression, parsed safely."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise InputError(Category.LIMIT, f"the point is {len(text):,} characters long; the limit is "
                         f"MAX_EXPRESSION_LENGTH = {MAX_EXPRESSION_LENGTH:,}", text=text)
    assignments: list[Assignment] = []
    seen: set[str] = set()
    pieces = list(_split_top_level(text))
    if len(pieces) > 1 and not pieces[-1][1].strip():
        pieces.pop()  # a trailing comma, x=1,y=2, as Python allows
    for start, piece in pieces:
        name_part, equals, value_part = piece.partition("=")
        name = name_part.strip()
        name_column = start + len(name_part) - len(name_part.lstrip()) + 1
        if not equals:
            raise InputError(Category.PARSE_ERROR, f"'{piece.strip()}' at column {name_column} is not "
                             "name=value (write the point as x=1,y=2)", text=text,
                             column=name_column)
        if not NAME.match(name) or name in CONSTANTS or name in FUNCTIONS:
            raise InputError(Category.PARSE_ERROR, f"'{name}' at column {name_column} is not a variable "
                             "name", text=text, column=name_column)
        if name in seen:
            raise InputError(Category.REPEATED_VARIABLE, f"{name} is given twice in the point '{text}'",
                             text=text, column=name_column)
        seen.add(name)
        value_offset = start + len(name_part) + 1
        if not value_part.strip():
            raise InputError(Category.MISSING_VALUE, f"{name} has no value (write {name}=1)", text=text,
                             column=value_offset)
        crowded = _NEXT_ASSIGNMENT.search(value_part)
        if crowded:
            # x=1 y=2: a second name=value inside the first value, without its comma.
            column = value_offset + crowded.start(1) + 1
            raise InputError(Category.PARSE_ERROR, f"the point '{text.strip()}' needs a comma "
                             f"before {crowded.group(1)}= at column {column}: separate the "
                             "variables with commas, e.g. x=1,y=2", text=text, column=column)
        assignments.append(parse_value(name, value_part, offset=value_offset, context=text,
                                       column=name_column))
    return tuple(assignments)


def parse_value(name: str, text: str, *, offset: int = 0, context: str | None = None,
                column: int = 1) -> Assignment:
    """One value: a constant expression, a nested list ``[[1, 2], [3, 4]]``, or a helper
    ``ones(n)``, ``zeros(n)``, ``eye(n)``, ``full(n, v)``, ``arange(a, b)``."""
    whole = text if context is None else context
    stripped = text.strip()
    lead = offset + len(text) - len(text.lstrip()) + 1
    head = stripped.split("(", 1)[0].strip()
    if stripped.startswith("["):
        shape, elements = _tensor_literal(stripped, lead - 1, whole)
    elif head in TENSOR_HELPERS and "(" in stripped:
        shape, elements = _tensor_helper(head, stripped, lead - 1, whole)
    else:
        shape, elements = (), (parse_constant(text, offset=offset, context=context),)
    size = math.prod(shape)
    if size > MAX_TENSOR_ELEMENTS:
        raise InputError(Category.LIMIT, f"{name} has {size} elements; the limit is "
                         f"MAX_TENSOR_ELEMENTS = {MAX_TENSOR_ELEMENTS}", text=whole, column=lead)
    values = tuple(constant_value(e) for e in elements)
    for index, value in enumerate(values):
        if not math.isfinite(value):
            where = f"element {index} of {name}" if shape else name
            raise InputError(Category.NON_FINITE_POINT, f"{where} = {unparse(elements[index])} is not a "
                             f"finite number (it evaluates to {value})", text=whole, column=lead)
    return Assignment(name, elements, values, column, shape)


def _tensor_literal(text: str, offset: int, whole: str) -> tuple[tuple[int, ...], tuple[Node, ...]]:
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise InputError(Category.PARSE_ERROR, f"'{text}' at column {offset + 1} is not a list of numbers "
                         "such as [1, 2] or [[1, 2], [3, 4]]", text=whole, column=offset + 1) from None

    def shape_of(node: ast.AST, depth: int) -> tuple[tuple[int, ...], list[ast.AST]]:
        if depth > 4:
            raise InputError(Category.LIMIT, "tensor values nest at most 4 deep", text=whole,
                             column=offset + 1)
        if not isinstance(node, ast.List):
            return (), [node]
        if not node.elts:
            raise InputError(Category.PARSE_ERROR, f"an empty list at column {offset + 1} has no value",
                             text=whole, column=offset + 1)
        parts = [shape_of(item, depth + 1) for item in node.elts]
        inner = {p[0] for p in parts}
        if len(inner) != 1:
            raise InputError(Category.PARSE_ERROR, f"the list at column {offset + node.col_offset + 1} "
                             "is ragged: every row needs the same length", text=whole,
                             column=offset + node.col_offset + 1)
        return (len(parts), *inner.pop()), [leaf for p in parts for leaf in p[1]]

    shape, leaves = shape_of(tree, 0)
    if len(leaves) > MAX_TENSOR_ELEMENTS:
        raise InputError(Category.LIMIT, f"the value has {len(leaves)} elements; the limit is "
                         f"MAX_TENSOR_ELEMENTS = {MAX_TENSOR_ELEMENTS}", text=whole,
                         column=offset + 1)
    elements = tuple(
        parse_constant(ast.get_source_segment(text, leaf) or "", context=whole,
                       offset=offset + getattr(leaf, "col_offset", 0))
        for leaf in leaves
    )
    return shape, elements


def _tensor_helper(name: str, text: str, offset: int, whole: str
                   ) -> tuple[tuple[int, ...], tuple[Node, ...]]:
    inner = text[text.index("(") + 1:]
    if not inner.endswith(")"):
        raise InputError(Category.PARSE_ERROR, f"{name}(...) at column {offset + 1} is not closed",
                         text=whole, column=offset + 1)
    pieces = _split_top_level(inner[:-1])
    least, most = TENSOR_HELPERS[name]
    if not least <= len(pieces) <= most:
        wanted = str(least) if least == most else f"{least} or {most}"
        raise InputError(Category.PARSE_ERROR, f"{name}() takes {wanted} arguments, {len(pieces)} given "
                         f"at column {offset + 1}", text=whole, column=offset + 1)
    args_offset = offset + text.index("(") + 1
    args = [parse_constant(piece, offset=args_offset + start, context=whole)
            for start, piece in pieces]
    values = [constant_value(arg) for arg in args]

    def size(value: float) -> int:
        if not (math.isfinite(value) and value == int(value) and value >= 1):
            raise InputError(Category.PARSE_ERROR, f"{name}(): a size must be a whole number, at least 1, "
                             f"not {value:g}", text=whole, column=offset + 1)
        if value > MAX_TENSOR_ELEMENTS:
            raise InputError(Category.LIMIT, f"{name}() would make {value:g} elements; the limit is "
                             f"MAX_TENSOR_ELEMENTS = {MAX_TENSOR_ELEMENTS}", text=whole,
                             column=offset + 1)
        return int(value)

    def number(value: float) -> Node:
        literal = repr(int(value)) if value == int(value) else repr(value)
        return Number(int(value) if value == int(value) else value, literal, offset + 1)

    if name in ("ones", "zeros"):
        shape = tuple(size(v) for v in values)
        fill = number(1.0 if name == "ones" else 0.0)
        return shape, (fill,) * math.prod(shape)
    if name == "eye":
        n = size(values[0])
        return (n, n), tuple(number(float(i == j)) for i in range(n) for j in range(n))
    if name == "full":
        return (size(values[0]),), (args[1],) * size(values[0])
    start, stop = (0.0, values[0]) if len(values) == 1 else (values[0], values[1])
    count = math.ceil(stop - start) if math.isfinite(stop - start) else 0
    size(float(count))
    return (count,), tuple(number(start + i) for i in range(count))


def _split_top_level(text: str) -> list[tuple[int, str]]:
    # Commas inside parentheses belong to calls such as atan2(1, 2).
    pieces: list[tuple[int, str]] = []
    depth = start = 0
    for index, char in enumerate(text):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            pieces.append((start, text[start:index]))
            start = index + 1
    pieces.append((start, text[start:]))
    if len(pieces) == 1 and not pieces[0][1].strip():
        raise InputError(Category.PARSE_ERROR, "the point is empty (write it as x=1,y=2)", text=text)
    return pieces

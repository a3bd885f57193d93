"""The expression language and its limits: what parses, into what, and what is refused where."""

from __future__ import annotations

import math

import pytest

from gradcheck_cli.errors import InputError
from gradcheck_cli.functions import FUNCTIONS
from gradcheck_cli.parse import (
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_EXPRESSION_LENGTH,
    MAX_LITERAL_LENGTH,
    MAX_NODES,
    Binary,
    Call,
    Constant,
    Number,
    Unary,
    Variable,
    constant_value,
    parse_constant,
    parse_expression,
    parse_point,
    unparse,
)


def refused(text: str) -> InputError:
    with pytest.raises(InputError) as caught:
        parse_expression(text)
    return caught.value


# -- accepted forms -----------------------------------------------------------------------

# (text, the tree written back with every operation parenthesised)
STRUCTURE = [
    ("x", "x"),
    ("x + 1", "x+1"),
    ("x^2+1", "(x**2)+1"),          # '^' is power, with power's precedence
    ("x**2+1", "(x**2)+1"),
    ("x^y^z", "x**(y**z)"),         # right-associative, as '**'
    ("x**y**z", "x**(y**z)"),
    ("2*x^3", "2*(x**3)"),
    ("-x**2", "-(x**2)"),           # unary minus binds looser than power
    ("-x^2", "-(x**2)"),
    ("(-x)**2", "(-x)**2"),
    ("+x", "+x"),
    ("--x", "-(-x)"),
    ("x - y - z", "(x-y)-z"),       # left-associative
    ("x / y * z", "(x/y)*z"),
    ("x + y * z", "x+(y*z)"),
    ("(x + y) * z", "(x+y)*z"),
    ("((x))", "x"),
    ("2*pi*e", "(2*pi)*e"),
    ("1e-3*x", "1e-3*x"),
    ("0.5*x", "0.5*x"),
    (".5*x", ".5*x"),
    ("1.*x", "1.*x"),
    ("2E3*x", "2E3*x"),
    ("sin(x) + cos(y)", "sin(x)+cos(y)"),
    ("atan2(y, x)", "atan2(y, x)"),
    ("max(x, min(y, 2))", "max(x, min(y, 2))"),
    ("exp(-x^2/2)", "exp((-(x**2))/2)"),
    ("\tx + 1", "x+1"),
    ("  x", "x"),
]


@pytest.mark.parametrize(("text", "expected"), STRUCTURE)
def test_accepted_structure(text: str, expected: str) -> None:
    assert unparse(parse_expression(text).tree) == expected


def test_caret_is_power_in_the_tree() -> None:
    tree = parse_expression("x^2+1").tree
    assert isinstance(tree, Binary) and tree.op == "+"
    assert isinstance(tree.left, Binary) and tree.left.op == "**"
    assert tree.left.left == Variable("x", 1)
    assert isinstance(tree.left.right, Number) and tree.left.right.value == 2
    assert isinstance(tree.right, Number) and tree.right.value == 1


def test_node_types() -> None:
    tree = parse_expression("-sin(x) * pi + 2.5").tree
    assert isinstance(tree, Binary) and tree.op == "+"
    product = tree.left
    assert isinstance(product, Binary) and product.op == "*"
    assert isinstance(product.left, Unary) and product.left.op == "-"
    assert isinstance(product.left.operand, Call) and product.left.operand.function == "sin"
    assert product.right == Constant("pi", 11)
    assert tree.right == Number(2.5, "2.5", 16)


# (text, variables in order of first appearance)
VARIABLES = [
    ("x", ("x",)),
    ("y*x + sin(z) + x", ("y", "x", "z")),
    ("b + a*b + c", ("b", "a", "c")),
    ("x1 + x_2 + X", ("x1", "x_2", "X")),
    ("pi*e + 2", ()),
    ("e*x", ("x",)),
    ("atan2(w, v)", ("w", "v")),
]


@pytest.mark.parametrize(("text", "expected"), VARIABLES)
def test_variables_in_order_of_first_use(text: str, expected: tuple[str, ...]) -> None:
    assert parse_expression(text).variables == expected


# (constant text, its value computed here with math)
CONSTANTS = [
    ("1", 1.0),
    ("2.5", 2.5),
    ("1e-3", 0.001),
    ("1E3", 1000.0),
    (".5", 0.5),
    ("7.", 7.0),
    ("pi", math.pi),
    ("e", math.e),
    ("-0.5", -0.5),
    ("+3", 3.0),
    ("--3", 3.0),
    ("2**10", 1024.0),
    ("2^10", 1024.0),
    ("2^3^2", 512.0),               # 2**(3**2), not (2**3)**2 = 64
    ("-2**2", -4.0),
    ("(-2)**2", 4.0),
    ("7/2", 3.5),
    ("1-2-3", -4.0),
    ("2*3+4", 10.0),
    ("2*(3+4)", 14.0),
    ("pi/4", math.pi / 4),
    ("atan2(1, 2)", math.atan2(1, 2)),
    ("sqrt(16)", 4.0),
    ("max(1, 2) - min(1, 2)", 1.0),
    ("log(e)", 1.0),
    ("1/0", math.inf),
    ("-1/0", -math.inf),
]


@pytest.mark.parametrize(("text", "expected"), CONSTANTS)
def test_constant_values(text: str, expected: float) -> None:
    assert constant_value(parse_constant(text)) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("text", ["0/0", "log(-1)", "sqrt(-1)", "asin(2)"])
def test_undefined_constants_fold_to_nan(text: str) -> None:
    assert math.isnan(constant_value(parse_constant(text)))


@pytest.mark.parametrize("name", sorted(n for n, f in FUNCTIONS.items() if f.operator is None))
def test_every_function_with_its_arity(name: str) -> None:
    for arity in FUNCTIONS[name].arities:
        names = ["x", "y", "z"][:arity]
        tree = parse_expression(f"{name}({', '.join(names)})").tree
        assert isinstance(tree, Call)
        assert tree.function == name
        assert [unparse(a) for a in tree.args] == names


def test_pow_is_the_power_operator() -> None:
    # One tree for pow(a, b) and a**b: every rule for powers (0**0, limits on
    # exponents, negative bases) holds for both.
    assert parse_expression("pow(x, y)").tree == Binary("**", Variable("x", 5), Variable("y", 8), 1)
    assert unparse(parse_expression("pow(x + 1, 2)").tree) == "(x+1)**2"
    assert refused("pow(pow(x, 64), 64)").category == "limit"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("delta", [-1, 1])
def test_every_function_refuses_another_arity(name: str, delta: int) -> None:
    arities = FUNCTIONS[name].arities
    count = (min(arities) if delta < 0 else max(arities)) + delta
    error = refused(f"{name}({', '.join(['x'] * count)})")
    assert error.category == "parse_error"
    counts = " or ".join(map(str, arities))
    assert f"{name}() takes {counts} argument" in error.message
    assert f"{count} given" in error.message
    assert error.column == 1


def test_a_function_of_one_or_two_arguments_says_so() -> None:
    error = refused("logsumexp(x, y, z)")
    assert error.message.startswith("logsumexp() takes 1 or 2 arguments, 3 given")


# -- refused forms ----------------------------------------------------------------------

# (text, category, 1-based column or None, a fragment the message must contain)
REFUSED = [
    ("x.__class__", "parse_error", 1, "attribute access"),
    ("1 + x.y", "parse_error", 5, "attribute access"),
    ("x[0:1]", "parse_error", 3, "slices are not allowed"),
    ("2 * x[i]", "parse_error", 7, "not an integer literal"),
    ("'a'", "parse_error", 1, "strings"),
    ("x + 'a'", "parse_error", 5, "strings"),
    ('f"{x}"', "parse_error", 1, "strings"),
    ("b'x'", "parse_error", 1, "bytes"),
    ("lambda: 1", "parse_error", 1, "lambda"),
    ("[c for c in ()]", "parse_error", 1, "comprehensions"),
    ("{c for c in ()}", "parse_error", 1, "comprehensions"),
    ("(c for c in ())", "parse_error", 1, "generator"),
    ("sin(x=1)", "parse_error", 1, "keyword arguments"),
    ("sin(**{})", "parse_error", 1, "keyword arguments"),
    ("sin(*x)", "parse_error", 1, "unpacking"),
    ("x < 1", "parse_error", 1, "comparisons"),
    ("x + (y == 1)", "parse_error", 6, "comparisons"),
    ("x and y", "parse_error", 1, "'and' / 'or'"),
    ("x or y", "parse_error", 1, "'and' / 'or'"),
    ("not x", "parse_error", 1, "not supported"),
    ("x if x else y", "parse_error", 1, "'if ... else'"),
    ("(x:=1)", "parse_error", 2, "assignment"),
    ("1j", "parse_error", 1, "complex"),
    ("x + 2j", "parse_error", 5, "complex"),
    ("True", "parse_error", 1, "'True'"),
    ("x + None", "parse_error", 5, "'None'"),
    ("...", "parse_error", 1, "'...'"),
    ("0x1F", "parse_error", 1, "plain decimal"),
    ("x*0x1F", "parse_error", 3, "plain decimal"),
    ("0b101", "parse_error", 1, "plain decimal"),
    ("1_000", "parse_error", 1, "plain decimal"),
    ("(1, 2)", "parse_error", 1, "tuples"),
    ("[x]", "parse_error", 1, "lists"),
    ("{1: 2}", "parse_error", 1, "dicts"),
    ("x // 2", "parse_error", 1, "use + - * / **"),
    ("x % 2", "parse_error", 1, "use + - * / **"),
    ("x @ y", "parse_error", 1, "a matrix product is written matmul(x, y)"),
    ("~x", "parse_error", 1, "use + - * / **"),
    ("x << 1", "parse_error", 1, "use + - * / **"),
    ("x | y", "parse_error", 1, "an absolute value is written abs(...)"),
    ("x & y", "parse_error", 1, "use + - * / **"),
    ("2x", "parse_error", 1, "did you mean 2*x?"),
    ("y + 2x", "parse_error", 5, "did you mean 2*x?"),
    ("1.5x", "parse_error", 1, "did you mean 1.5*x?"),
    ("3pi", "parse_error", 1, "did you mean 3*pi?"),
    ("2(x+1)", "parse_error", 1, "did you mean 2*(x+1)?"),
    ("(x+1)(x-1)", "parse_error", 1, "did you mean (x+1)*(x-1)?"),
    ("foo(x)", "unknown_function", 1, "unknown function 'foo'"),
    ("x(x+1)", "unknown_function", 1, "(if x is a variable, did you mean x*(x+1)?)"),
    ("y*x(x + 1)", "unknown_function", 3, "(if x is a variable, did you mean x*(x + 1)?)"),
    ("pi(x+1)", "unknown_function", 1, "(did you mean pi*(x+1)?)"),
    ("x + foo(x)", "unknown_function", 5, "unknown function 'foo'"),
    ("Sin(x)", "unknown_function", 1, "did you mean sin"),
    ("eval(x)", "unknown_function", 1, "unknown function 'eval'"),
    ("sin + 1", "parse_error", 1, "is a function; call it"),
    ("1 + exp", "parse_error", 5, "is a function; call it"),
    ("_x", "parse_error", 1, "not a valid variable name"),
    ("x + __y", "parse_error", 5, "not a valid variable name"),
    ("π*x", "parse_error", 1, "write pi instead"),
    ("2*π", "parse_error", 3, "write pi instead"),
    ("x²", "parse_error", 2, "write **2 instead"),
    ("x − 1", "parse_error", 3, "write - instead"),
    ("é", "parse_error", 1, "only ASCII"),
    ("x\x00", "parse_error", 2, "control character"),
    ("x\n+1", "parse_error", 2, "control character"),
    ("", "parse_error", None, "empty"),
    ("   ", "parse_error", None, "empty"),
    ("(x+1", "parse_error", None, "unbalanced parentheses"),
    ("x+1)", "parse_error", None, "unbalanced parentheses"),
    ("x+", "parse_error", 3, "ends too early"),
    ("x*", "parse_error", 3, "ends too early"),
    ("x y", "parse_error", 3, "did you mean x*y?"),
    ("x;y", "parse_error", 2, "cannot parse"),
    ("x:=1", "parse_error", 2, "cannot parse"),
    ("*x", "parse_error", 1, "cannot parse"),
]


@pytest.mark.parametrize(("text", "category", "column", "fragment"), REFUSED)
def test_refused(text: str, category: str, column: int | None, fragment: str) -> None:
    error = refused(text)
    assert error.category == category
    assert error.column == column
    assert fragment in error.message
    assert str(error) == error.message


def test_refused_error_keeps_the_text_the_column_refers_to() -> None:
    error = refused("y + 2x")
    assert error.text == "y + 2x"
    assert error.text[error.column - 1:].startswith("2x")


def test_leading_blanks_shift_the_column() -> None:
    # The caret must stay under the problem in the text as typed.
    assert refused("   2x").column == 4
    assert refused("  foo(x)").column == 3


def test_columns_count_caret_as_one_character() -> None:
    # '^' becomes '**' internally; columns still refer to the text as typed.
    assert refused("x^2 + foo(x)").column == 7
    assert refused("x^2^3 + y.z").column == 9


# -- limits ----------------------------------------------------------------------------


def limit(text: str, constant: str) -> InputError:
    error = refused(text)
    assert error.category == "limit", error.message
    assert constant in error.message
    return error


def balanced_sum(leaves: int) -> str:
    """x+x+...+x as a balanced tree: 2*leaves - 1 nodes, about log2(leaves) deep."""
    if leaves == 1:
        return "x"
    half = leaves // 2
    return f"({balanced_sum(half)}+{balanced_sum(leaves - half)})"


def test_limit_constants() -> None:
    # The documented values (README, Limits).
    assert (MAX_EXPRESSION_LENGTH, MAX_DEPTH, MAX_NODES, MAX_LITERAL_LENGTH, MAX_EXPONENT) == (
        4_000, 64, 1_000, 64, 1_024)


def test_expression_length_boundary() -> None:
    at_limit = "x" + " " * (MAX_EXPRESSION_LENGTH - 1)
    assert parse_expression(at_limit).variables == ("x",)
    limit(at_limit + " ", "MAX_EXPRESSION_LENGTH")


def test_huge_sum_is_refused_by_length() -> None:
    limit("+".join(["x"] * 100_000), "MAX_EXPRESSION_LENGTH")


def test_deep_unary_chain_is_refused() -> None:
    limit("-" * 5000 + "x", "MAX_EXPRESSION_LENGTH")
    limit("-" * (MAX_EXPRESSION_LENGTH - 1) + "x", "MAX_DEPTH")


def test_depth_boundary() -> None:
    # A chain of n unary minuses over x is n + 1 levels deep.
    assert unparse(parse_expression("-" * (MAX_DEPTH - 1) + "x").tree).count("-") == MAX_DEPTH - 1
    limit("-" * MAX_DEPTH + "x", "MAX_DEPTH")


def test_parenthesis_depth_boundary() -> None:
    ok = "(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH
    assert parse_expression(ok).tree == Variable("x", MAX_DEPTH + 1)
    limit("(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1), "MAX_DEPTH")


def test_300_nested_parentheses() -> None:
    limit("(" * 300 + "x" + ")" * 300, "MAX_DEPTH")


def test_node_count_boundary() -> None:
    tree = balanced_sum(MAX_NODES // 2)              # 999 nodes
    assert len(tree) < MAX_EXPRESSION_LENGTH
    parse_expression("-" + tree)                      # 1000 nodes
    limit("--" + tree, "MAX_NODES")                   # 1001 nodes


def test_literal_length_boundary() -> None:
    digits = "1" * MAX_LITERAL_LENGTH
    assert constant_value(parse_constant(digits)) == float(int(digits))
    decimal = "0." + "0" * (MAX_LITERAL_LENGTH - 3) + "5"
    assert len(decimal) == MAX_LITERAL_LENGTH
    assert constant_value(parse_constant(decimal)) == float(decimal)
    error = limit("x + " + "1" * (MAX_LITERAL_LENGTH + 1), "MAX_LITERAL_LENGTH")
    assert error.column == 5
    limit("0." + "0" * (MAX_LITERAL_LENGTH - 2) + "5", "MAX_LITERAL_LENGTH")


def test_5000_digit_integer() -> None:
    limit("9" * 5000 + "*x", "MAX_EXPRESSION_LENGTH")
    limit("9" * 3000 + "*x", "MAX_LITERAL_LENGTH")


@pytest.mark.parametrize("text", ["1e1000000", "x*1e309", "1.8e308"])
def test_literal_beyond_float64(text: str) -> None:
    error = refused(text)
    assert error.category == "limit"
    assert "float64" in error.message


def test_largest_float64_literal_is_accepted() -> None:
    assert constant_value(parse_constant("1.7e308")) == 1.7e308


@pytest.mark.parametrize("text", [
    f"x**{MAX_EXPONENT}",
    f"x**-{MAX_EXPONENT}",
    f"x^{MAX_EXPONENT}",
    "x**1000",
    "(x**32)**32",                  # 32 * 32 = 1024
    "((x**2)**2)**256",
    "2**x**3",                      # a variable exponent is not constant
    "x**y",
    "x**0.5",
    "2**1000*x",
])
def test_exponent_within_limit(text: str) -> None:
    parse_expression(text)


@pytest.mark.parametrize(("text", "column"), [
    (f"x**{MAX_EXPONENT + 1}", 2),
    (f"x**-{MAX_EXPONENT + 1}", 2),
    (f"x^{MAX_EXPONENT + 1}", 2),
    ("x**2000", 2),
    ("(x**32)**33", 3),             # 32 * 33 = 1056
    ("y + (x**2)**513", 7),
    ("x**y**2000", 5),
    ("9**9**9**9", 2),
    ("(((9**64)**64)**64)**64", 15),
    ("x**(10**400)", 2),
    ("x**(0/0)", 2),
])
def test_exponent_beyond_limit(text: str, column: int) -> None:
    assert limit(text, "MAX_EXPONENT").column == column


# -- points ----------------------------------------------------------------------------

# (point text, [(name, value computed here)])
POINTS = [
    ("x=1", [("x", 1.0)]),
    ("x=1,y=pi/4", [("x", 1.0), ("y", math.pi / 4)]),
    ("x=-0.5", [("x", -0.5)]),
    ("x=1e-3", [("x", 0.001)]),
    ("x=atan2(1,2)", [("x", math.atan2(1, 2))]),
    ("x=atan2(1, 2), y=max(3, 4)", [("x", math.atan2(1, 2)), ("y", 4.0)]),
    ("x = 2 , y = 3", [("x", 2.0), ("y", 3.0)]),
    ("x=2^3", [("x", 8.0)]),
    ("x=sqrt(2)", [("x", math.sqrt(2))]),
    ("x=e", [("x", math.e)]),
    ("x=-pi", [("x", -math.pi)]),
    ("x=+1", [("x", 1.0)]),
    ("x=(1+2)*3", [("x", 9.0)]),
    ("w=1,x=2", [("w", 1.0), ("x", 2.0)]),
    ("long_name2=5", [("long_name2", 5.0)]),
]


@pytest.mark.parametrize(("text", "expected"), POINTS)
def test_points(text: str, expected: list[tuple[str, float]]) -> None:
    point = parse_point(text)
    assert [a.name for a in point] == [name for name, _ in expected]
    for assignment, (_, value) in zip(point, expected, strict=True):
        assert isinstance(assignment.value, float)
        assert assignment.value == pytest.approx(value, rel=1e-15)


def test_point_columns() -> None:
    assert [a.column for a in parse_point("x=1,y=pi/4")] == [1, 5]
    assert [a.column for a in parse_point("x = 2 , y = 3")] == [1, 9]


# (point text, category, column, fragment of the message)
REFUSED_POINTS = [
    ("x=", "missing_value", 2, "x has no value"),
    ("x=1,y=", "missing_value", 6, "y has no value"),
    ("x=1,x=2", "repeated_variable", 5, "x is given twice"),
    ("x=1/0", "non_finite_point", 3, "not a finite number"),
    ("x=-1/0", "non_finite_point", 3, "not a finite number"),
    ("x=log(0)", "non_finite_point", 3, "not a finite number"),
    ("x=0/0", "non_finite_point", 3, "not a finite number"),
    ("x=sqrt(-1)", "non_finite_point", 3, "not a finite number"),
    ("x=exp(1000)", "non_finite_point", 3, "not a finite number"),
    ("y=1,x=1/0", "non_finite_point", 7, "not a finite number"),
    ("x=y", "unknown_variable", 3, "must be a constant"),
    ("x=1,y=2*z", "unknown_variable", 9, "must be a constant"),
    ("x=1e1000000", "limit", 3, "float64"),
    ("x=9**9**9**9", "limit", 4, "MAX_EXPONENT"),
    ("x=foo(1)", "unknown_function", 3, "unknown function 'foo'"),
    ("x=2y", "parse_error", 3, "did you mean 2*y?"),
    ("x", "parse_error", 1, "is not name=value"),
    ("", "parse_error", None, "empty"),
    ("pi=1", "parse_error", 1, "not a variable name"),
    ("sin=1", "parse_error", 1, "not a variable name"),
    ("1=2", "parse_error", 1, "not a variable name"),
    ("_x=1", "parse_error", 1, "not a variable name"),
    ("x=(1,2)", "parse_error", 3, "tuples"),
    ("x==1", "parse_error", 3, "cannot parse"),
    ("x=__import__('os')", "unknown_function", 3, "unknown function '__import__'"),
    ("x=" + "1" * (MAX_LITERAL_LENGTH + 1), "limit", 3, "MAX_LITERAL_LENGTH"),
    ("x=" + "1" * MAX_EXPRESSION_LENGTH, "limit", None, "MAX_EXPRESSION_LENGTH"),
]


@pytest.mark.parametrize(("text", "category", "column", "fragment"), REFUSED_POINTS)
def test_refused_points(text: str, category: str, column: int | None, fragment: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_point(text)
    assert caught.value.category == category
    assert caught.value.column == column
    assert fragment in caught.value.message
    assert caught.value.text == text


@pytest.mark.parametrize(("text", "column"), [
    ("x = 1/0", 5),
    ("x=  log(0)", 5),
    ("y=1, x = 1/0", 10),
])
def test_non_finite_point_column_is_under_the_value(text: str, column: int) -> None:
    # The caret goes under the value's first character, past any blanks.
    with pytest.raises(InputError) as caught:
        parse_point(text)
    assert caught.value.category == "non_finite_point"
    assert caught.value.column == column
    assert text[column - 1] not in " ="


@pytest.mark.parametrize("text", ["foo(x, y)", "x()", "__import__(x)", "Sin(x)"])
def test_a_missing_star_is_suggested_only_where_it_could_be_one(text: str) -> None:
    assert "is a variable" not in refused(text).message


def test_a_point_value_gets_no_variable_suggestion() -> None:
    with pytest.raises(InputError) as caught:
        parse_point("x=foo(1)")
    assert caught.value.category == "unknown_function"
    assert "variable" not in caught.value.message and "*" not in caught.value.message


# What people type, and the hint that names what the expression language writes instead.
HINTS = [
    ("ln(x)", "unknown_function", "did you mean log?"),
    ("arctan(x)", "unknown_function", "did you mean atan?"),
    ("torch.sin(x)", "parse_error", "write sin(...)"),
    ("np.exp(x)", "parse_error", "write exp(...)"),
    ("math.log(x)", "parse_error", "write log(...)"),
    ("torch.nn.functional.softplus(x)", "parse_error", "write softplus(...)"),
    ("|x|", "parse_error", "|x| is abs(x)"),
    ("sin x", "parse_error", "did you mean sin(x)?"),
    ("x y", "parse_error", "did you mean x*y?"),
    ("2 x", "parse_error", "cannot parse"),  # a number first: not a name pair
    ("x @ w", "parse_error", "matmul(x, w)"),
    ("import os", "parse_error", "cannot parse"),  # no hint built of keywords
]


@pytest.mark.parametrize(("text", "category", "fragment"), HINTS)
def test_hints_for_what_people_type(text: str, category: str, fragment: str) -> None:
    with pytest.raises(InputError) as raised:
        parse_expression(text)
    assert raised.value.category == category
    assert fragment in raised.value.message


def test_a_trailing_comma_ends_a_point_as_in_python() -> None:
    assert [(a.name, a.value) for a in parse_point("x=1,")] == [("x", 1.0)]
    with pytest.raises(InputError, match="is not name=value"):
        parse_point("x=1,,")

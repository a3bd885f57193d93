"""Rewrites of known numerically unstable patterns into stable, equal forms.

Each rule is one row of :data:`RULES`: patterns and a rewrite written in the expression
language itself, parsed once by :mod:`gradcheck_cli.parse`. In a pattern, a variable
(``u``, ``a``, ``b``) stands for any sub-expression; the same name twice
means the same sub-expression. Numbers and constants match themselves, operators and
calls match the same operator or function, and ``+`` and ``*`` match in either order
(``1+exp(u)`` also matches ``exp(x)+1``).

Every rewrite is the same function as its pattern wherever the pattern is defined (the
tests check each one against an independent mpmath evaluation), and stays finite where
the pattern overflows or loses every digit in float64. A suggestion is only a
suggestion: the sweep that calls :func:`suggest` checks the rewritten expression over
the same range and reports it with its own result.

Light core: only the parser's tree is used here, neither SymPy nor torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .parse import (
    Binary,
    Call,
    Constant,
    Index,
    Node,
    Number,
    Unary,
    Variable,
    is_constant,
    parse_expression,
    unparse,
)

#: Bindings of a pattern's variables to sub-expressions.
Bindings = dict[str, Node]
#: A side condition on the bindings: the rule applies only where it holds.
Guard = Callable[[Mapping[str, Node]], bool]

#: How many rewrites the combined suggestion applies at one node before it stops (no
#: rule's result matches another rule at its top, so this is only a safety net).
_MAX_REWRITES_PER_NODE = 8
#: The name of the suggestion that applies every rule at once.
COMBINED = "combined"


@dataclass(frozen=True)
class Suggestion:
    """A stable rewrite of a whole expression."""

    #: The rule's name, e.g. ``"softplus"`` (``"combined"`` for every rule at once).
    rule: str
    #: The whole expression rewritten, as text :func:`~gradcheck_cli.parse.parse_expression`
    #: accepts.
    expression: str
    #: One sentence: why the original fails and why the rewrite does not.
    reason: str


@dataclass(frozen=True)
class Rule:
    """One row of :data:`RULES`."""

    name: str
    #: The unstable forms, as text; the first that matches a node is rewritten.
    patterns: tuple[str, ...]
    #: The stable form of each pattern, as text, with the same variables.
    rewrites: tuple[str, ...]
    reason: str
    #: Where it must hold for the rule to apply (``None``: everywhere).
    guard: Guard | None = None
    #: More specific rules: where one of them matches a node, this one leaves it to it
    #: (``log(1+exp(u))`` is softplus, not merely log1p of exp).
    yields_to: tuple[str, ...] = ()
    _trees: tuple[tuple[Node, Node], ...] = field(default=(), init=False, compare=False,
                                                  repr=False)

    def __post_init__(self) -> None:
        if len(self.patterns) != len(self.rewrites):
            raise ValueError(f"rule {self.name}: one rewrite per pattern")
        pairs = [(parse_expression(p), parse_expression(r))
                 for p, r in zip(self.patterns, self.rewrites, strict=True)]
        for pattern, rewrite in pairs:
            if not set(rewrite.variables) <= set(pattern.variables):
                raise ValueError(f"rule {self.name}: {rewrite.text} uses a variable that "
                                 f"{pattern.text} does not bind")
        object.__setattr__(self, "_trees", tuple((p.tree, r.tree) for p, r in pairs))

    def apply(self, node: Node) -> Node | None:
        """The rewrite of ``node`` itself (not of its parts), or ``None`` if no pattern
        matches it there."""
        for pattern, rewrite in self._trees:
            bindings = _match(pattern, node, {})
            if bindings is not None and (self.guard is None or self.guard(bindings)):
                return _instantiate(rewrite, bindings)
        return None


def _varies(*names: str) -> Guard:
    """A guard: each named sub-expression contains a variable (``log(1+2)`` is a number,
    not an instability)."""
    return lambda bindings: all(not is_constant(bindings[name]) for name in names)


#: The rules, most specific first. Add a rule here, with a row in tests/test_rewrites.py
#: and in the "Rewrite rules" table of docs/reference.md.
RULES: tuple[Rule, ...] = (
    Rule("softplus", ("log(1+exp(u))",), ("softplus(u)",),
         "log(1+exp(u)) overflows to inf once exp(u) does (u > 709.78 in float64) and its "
         "gradient is then nan, while softplus(u) = u + log1p(exp(-u)) for large u never "
         "overflows."),
    Rule("logsigmoid", ("log(sigmoid(u))",), ("logsigmoid(u)",),
         "sigmoid(u) rounds to 0 for u below about -745 in float64, so log(sigmoid(u)) is -inf "
         "with a nan gradient, while logsigmoid(u) = -softplus(-u) is computed without forming "
         "sigmoid(u)."),
    Rule("log1m_sigmoid", ("log(1-sigmoid(u))",), ("-softplus(u)",),
         "1 - sigmoid(u) rounds to 0 for u above about 37 in float64 (losing digits well "
         "before), so its log is -inf with a nan gradient, while -softplus(u) is the same "
         "function and stays finite."),
    Rule("sigmoid", ("1/(1+exp(-u))", "1/(1+exp(u))", "exp(u)/(1+exp(u))"),
         ("sigmoid(u)", "sigmoid(-u)", "sigmoid(u)"),
         "the exp in the quotient overflows to inf in float64 once its argument exceeds 709.78, "
         "which turns the quotient or its gradient into nan (inf/inf), while sigmoid(u) never "
         "overflows."),
    Rule("softmax", ("exp(u)/sum(exp(u))",), ("exp(u - logsumexp(u))",),
         "exp(u) overflows to inf once an element of u exceeds 709.78, making inf/inf = nan, "
         "while exp(u - logsumexp(u)) (softmax(u) for a vector; logsumexp is shifted by the "
         "maximum) only takes exp of numbers <= 0."),
    Rule("logsumexp", ("log(exp(a)+exp(b))",), ("logsumexp(a, b)",),
         "exp(a) + exp(b) overflows to inf once a or b exceeds 709.78 in float64 and underflows "
         "to 0 when both are below -745, while logsumexp(a, b) (torch.logaddexp) shifts by the "
         "larger of the two."),
    Rule("sqrt1pm1", ("sqrt(1+u)-1",), ("u/(sqrt(1+u)+1)",),
         "sqrt(1+u) - 1 cancels catastrophically for small u (1+u rounds to 1 below 1.1e-16, "
         "so the value loses every digit), while u/(sqrt(1+u)+1) is the same function without "
         "the subtraction.", guard=_varies("u")),
    Rule("log1p", ("log(1+u)", "log(1-u)"), ("log1p(u)", "log1p(-u)"),
         "1 + u rounds to 1 for |u| below 1.1e-16 in float64, so log(1+u) loses every digit of "
         "u, while log1p(u) keeps them.", guard=_varies("u"),
         yields_to=("softplus", "log1m_sigmoid")),
    Rule("logcosh", ("log(cosh(u))",), ("u + softplus(-2*u) - log(2)",),
         "cosh(u) overflows to inf for |u| above 710.48 in float64, so log(cosh(u)) is inf and "
         "its gradient sinh/cosh is inf/inf = nan, while u + softplus(-2*u) - log(2) is the "
         "same function with no exp of a large number."),
    Rule("hypot", ("sqrt(a**2+b**2)", "sqrt(a*a+b*b)"), ("hypot(a, b)", "hypot(a, b)"),
         "a**2 overflows to inf above 1.3e154 and underflows to 0 below 1.5e-162 in float64, "
         "taking the value or the gradient with it, while hypot(a, b) scales before squaring."),
    Rule("tanh", ("(exp(u)-exp(-u))/(exp(u)+exp(-u))",), ("tanh(u)",),
         "exp(u) or exp(-u) overflows to inf for |u| above 709.78 in float64, giving inf/inf = "
         "nan, while tanh(u) never overflows."),
    Rule("sqrt_difference", ("sqrt(u+1)-sqrt(u)",), ("1/(sqrt(u+1)+sqrt(u))",),
         "sqrt(u+1) - sqrt(u) cancels catastrophically for large u (u+1 rounds to u above "
         "about 9e15 in float64, and the two derivatives agree to every digit long before), while "
         "1/(sqrt(u+1)+sqrt(u)) is the same function without the subtraction.",
         guard=_varies("u")),
    Rule("expm1", ("exp(u)-1",), ("expm1(u)",),
         "exp(u) - 1 cancels catastrophically for small u (exp(u) rounds to 1 for |u| below "
         "1.1e-16, so the value loses every digit), while expm1(u) keeps them.", guard=_varies("u")),
)

#: Rules by name.
RULES_BY_NAME: dict[str, Rule] = {rule.name: rule for rule in RULES}


def suggest(tree: Node) -> list[Suggestion]:
    """Rewrites of the known unstable patterns found anywhere in ``tree`` (a parsed
    expression, :mod:`gradcheck_cli.parse`), one per rule that matches (all its
    occurrences rewritten), in the order of :data:`RULES`.

    When a rule matches, a last suggestion named ``"combined"`` applies every rule at
    once, until none matches, if that differs from every single suggestion:
    ``log(1+exp(x)) + log(sigmoid(y))`` needs two rules, and ``log(1/(1+exp(-x)))`` one
    (sigmoid) and then another (logsigmoid) on its result.
    """
    suggestions: list[Suggestion] = []
    for rule in RULES:
        rewritten = _rewrite(tree, (rule,))
        if rewritten != tree:
            suggestions.append(Suggestion(rule.name, unparse(rewritten), rule.reason))
    if suggestions:
        combined = unparse(_rewrite(tree, RULES))
        if all(combined != s.expression for s in suggestions):
            suggestions.append(Suggestion(
                COMBINED, combined, "every rule applied together, each also to what the others "
                "made, so that no known unstable pattern is left in the expression."))
    return suggestions


# -- matching and rebuilding ------------------------------------------------------------------


def _rewrite(node: Node, rules: tuple[Rule, ...]) -> Node:
    """``node`` with its parts rewritten first, then itself, by the first rule that
    applies (again, while one does)."""
    node = _rebuild(node, tuple(_rewrite(child, rules) for child in _children(node)))
    for _ in range(_MAX_REWRITES_PER_NODE):
        for rule in rules:
            if any(RULES_BY_NAME[other].apply(node) is not None for other in rule.yields_to):
                continue
            replaced = rule.apply(node)
            if replaced is not None:
                node = replaced
                break
        else:
            break
    return node


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Unary | Index):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    return ()


def _rebuild(node: Node, parts: tuple[Node, ...]) -> Node:
    """``node`` with new children (the same node when they are the same)."""
    if parts == _children(node):
        return node
    if isinstance(node, Unary):
        return Unary(node.op, parts[0], node.column)
    if isinstance(node, Binary):
        return Binary(node.op, parts[0], parts[1], node.column)
    if isinstance(node, Call):
        return Call(node.function, parts, node.column)
    if isinstance(node, Index):
        return Index(parts[0], node.indices, node.column, node.columns)
    return node  # pragma: no cover - leaves have no children to change


def _match(pattern: Node, node: Node, bindings: Bindings) -> Bindings | None:
    """The bindings that make ``pattern`` equal ``node`` (extending ``bindings``), or
    ``None``."""
    if isinstance(pattern, Variable):
        bound = bindings.get(pattern.name)
        if bound is None:
            return {**bindings, pattern.name: node}
        return bindings if _same(bound, node) else None
    if isinstance(pattern, Number):
        return bindings if isinstance(node, Number) and node.value == pattern.value else None
    if isinstance(pattern, Constant):
        return bindings if isinstance(node, Constant) and node.name == pattern.name else None
    if isinstance(pattern, Unary):
        if isinstance(node, Unary) and node.op == pattern.op:
            return _match(pattern.operand, node.operand, bindings)
        return None
    if isinstance(pattern, Binary):
        if not (isinstance(node, Binary) and node.op == pattern.op):
            return None
        orders = [(node.left, node.right)]
        if pattern.op in ("+", "*"):
            orders.append((node.right, node.left))
        for left, right in orders:
            found = _match(pattern.left, left, bindings)
            if found is not None:
                found = _match(pattern.right, right, found)
            if found is not None:
                return found
        return None
    if isinstance(pattern, Call):
        if not (isinstance(node, Call) and node.function == pattern.function
                and len(node.args) == len(pattern.args)):
            return None
        current: Bindings | None = bindings
        for sub, arg in zip(pattern.args, node.args, strict=True):
            current = _match(sub, arg, current) if current is not None else None
        return current
    return None  # pragma: no cover - patterns have no Index


def _same(a: Node, b: Node) -> bool:
    """Structural equality, ignoring columns."""
    if type(a) is not type(b):
        return False
    if isinstance(a, Number):
        return a.value == b.value  # type: ignore[union-attr]
    if isinstance(a, Constant | Variable):
        return a.name == b.name  # type: ignore[union-attr]
    if isinstance(a, Unary | Binary) and a.op != b.op:  # type: ignore[union-attr]
        return False
    if isinstance(a, Call) and a.function != b.function:  # type: ignore[union-attr]
        return False
    if isinstance(a, Index) and a.indices != b.indices:  # type: ignore[union-attr]
        return False
    parts_a, parts_b = _children(a), _children(b)
    return len(parts_a) == len(parts_b) and all(map(_same, parts_a, parts_b))


def _instantiate(template: Node, bindings: Mapping[str, Node]) -> Node:
    """The rewrite's tree with its variables replaced by what they matched; its own
    nodes get column 0 (they are not in the user's text)."""
    if isinstance(template, Variable):
        return bindings[template.name]
    if isinstance(template, Number):
        return Number(template.value, template.text, 0)
    if isinstance(template, Constant):
        return Constant(template.name, 0)
    if isinstance(template, Unary):
        return Unary(template.op, _instantiate(template.operand, bindings), 0)
    if isinstance(template, Binary):
        return Binary(template.op, _instantiate(template.left, bindings),
                      _instantiate(template.right, bindings), 0)
    if isinstance(template, Call):
        return Call(template.function, tuple(_instantiate(a, bindings) for a in template.args), 0)
    raise TypeError(template)  # pragma: no cover - templates have no Index

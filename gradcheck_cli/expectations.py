"""``--expect``: the user's own derivative, parsed and checked against the request.

Light, like :mod:`gradcheck_cli.request` which calls it: the formulas go through the same
allow-listed parser as the expression, and nothing here imports SymPy or torch. The
comparison with the exact derivative is :mod:`gradcheck_cli.engine.expect`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import InputError
from .parse import NAME, Expression, Variable, parse_expression, walk
from .results import Category

#: The user's own derivative (``--expect``): one formula (one variable differentiated),
#: a mapping ``{"x": "2*x*y", "y": "x**2"}``, or texts ``"FORMULA"``/``"VAR=FORMULA"``.
ExpectLike = str | Mapping[str, str] | Sequence[str] | None


@dataclass(frozen=True)
class Expectation:
    """One ``--expect``: the user's formula for the partial derivative ``wrt``."""

    wrt: tuple[str, ...]
    formula: Expression


def expectations(expect: object, *, variables: tuple[str, ...], wrt: tuple[str, ...],
                 order: int, has_tensors: bool) -> tuple[Expectation, ...]:
    """The ``--expect`` formulas, parsed and checked; :class:`InputError` on the first problem.

    Each names the partial it is for (``VAR=FORMULA``: the ``order``-th derivative in VAR)
    or, where one variable is differentiated, is that variable's. A formula may use the
    expression's variables and constants only.
    """
    given = _items(expect)
    if not given:
        return ()
    if has_tensors:
        raise InputError(Category.BAD_OPTION, "--expect works with scalar variables only, and this "
                         "check has tensors: to compare a hand-derived formula, write the "
                         "expression in scalar variables")
    if len(wrt) > 1 and order > 1:
        raise InputError(Category.BAD_OPTION, f"--expect with --order {order} needs a single "
                         f"variable differentiated, and this check differentiates by "
                         f"{', '.join(wrt)}: choose one with --wrt")
    found: list[Expectation] = []
    for name, text, offset, whole in given:
        if name is None:
            if not wrt:
                raise InputError(Category.BAD_OPTION, f"--expect {text}: the expression has no "
                                 "variable to differentiate")
            if len(wrt) != 1:
                example = f"{wrt[0]}={text.strip()}"
                raise InputError(Category.BAD_OPTION, f"--expect {text}: this check differentiates "
                                 f"by several variables ({', '.join(wrt)}), so say which "
                                 f"derivative it is, as --expect VAR=FORMULA (e.g. --expect {example})")
            name = wrt[0]
        elif name not in wrt:
            why = f"is not differentiated here (--wrt {','.join(wrt)})" if name in variables else \
                f"is not a variable of the expression (its variables: {', '.join(variables) or 'none'})"
            raise InputError(Category.UNKNOWN_VARIABLE, f"--expect {whole}: {name} {why}",
                             text=whole, column=1)
        if any(e.wrt[0] == name for e in found):
            raise InputError(Category.REPEATED_VARIABLE, f"--expect gives the derivative in {name} "
                             "twice")
        found.append(Expectation((name,) * order, _formula(text, offset, whole, variables)))
    return tuple(found)


def _items(expect: object) -> list[tuple[str | None, str, int, str]]:
    """(variable or None, formula, its offset in the whole text, the whole text), each."""
    if isinstance(expect, str):
        texts: list[object] = [expect]
    elif isinstance(expect, Mapping):
        items: list[tuple[str | None, str, int, str]] = []
        for key, formula in expect.items():
            if not isinstance(key, str) or not isinstance(formula, str):
                raise InputError(Category.BAD_OPTION, "expect maps variable names to formulas, both "
                                 f"text ({{\"x\": \"2*x\"}}), not {key!r:.30}: {formula!r:.30}")
            items.append((key.strip(), formula, 0, formula))
        return items
    elif isinstance(expect, Sequence):
        texts = list(expect)
    else:
        raise InputError(Category.BAD_OPTION, "expect is a formula (\"3*x**2\"), a mapping "
                         "({\"x\": \"2*x*y\"}) or a list of \"VAR=FORMULA\", not "
                         f"{type(expect).__name__}")
    parsed: list[tuple[str | None, str, int, str]] = []
    for text in texts:
        if not isinstance(text, str):
            raise InputError(Category.BAD_OPTION, "an expected derivative is text such as "
                             f"\"3*x**2\", not {type(text).__name__}")
        head, equals, rest = text.partition("=")
        if equals and NAME.match(head.strip()) and not rest.startswith("="):
            parsed.append((head.strip(), rest, len(head) + 1, text))
        else:
            parsed.append((None, text, 0, text))
    return parsed


def _formula(text: str, offset: int, whole: str, variables: tuple[str, ...]) -> Expression:
    """A formula parsed by the expression parser; its columns count in ``whole``."""
    try:
        formula = parse_expression(text)
    except InputError as error:
        column = None if error.column is None else error.column + offset
        raise InputError(error.category, f"--expect {whole}: {_shift(error.message, offset)}",
                         text=whole, column=column) from None
    for node in walk(formula.tree):
        if isinstance(node, Variable) and node.name not in variables:
            column = node.column + offset
            raise InputError(Category.UNKNOWN_VARIABLE, f"--expect {whole}: '{node.name}' at column "
                             f"{column} is not a variable of the expression (its variables: "
                             f"{', '.join(variables) or 'none'})", text=whole, column=column)
    return formula


def _shift(message: str, offset: int) -> str:
    """A parser message with its ``column N`` counted in the whole ``VAR=FORMULA`` text."""
    if not offset:
        return message
    return re.sub(r"column (\d+)", lambda m: f"column {int(m.group(1)) + offset}", message)

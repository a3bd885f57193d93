"""The benchmark's tools: the distinct-line generator, the result comparison and the
SymPy floor's choice of partials.

No torch here, and SymPy only in the floor's test: the generator's lines are held to parse
and validate with the light core (``batch.parse_line``, what ``gradcheck --file`` does
first), and the comparison is run on hand-made records.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

from gradcheck_cli.batch import parse_line
from gradcheck_cli.functions import FUNCTIONS
from gradcheck_cli.parse import Call, parse_expression, walk
from gradcheck_cli.request import Request

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


distinct = _load("distinct_lines")
compare_results = _load("compare_results")


@pytest.fixture(scope="module")
def thousand() -> list[str]:
    lines: list[str] = distinct.generate(1000, 1)
    return lines


def test_the_same_seed_gives_the_same_lines() -> None:
    assert distinct.generate(300, 7) == distinct.generate(300, 7)
    assert distinct.generate(300, 7) != distinct.generate(300, 8)


def test_a_longer_file_begins_with_the_shorter_one() -> None:
    # bench/out's 200-line file is the head of the 1,000-line one.
    assert distinct.generate(1000, 3)[:200] == distinct.generate(200, 3)


def test_every_registry_function_appears_in_1000_lines(thousand: list[str]) -> None:
    called: set[str] = set()
    for line in thousand:
        expression = line.split("@", 1)[0]
        called |= {n.function for n in walk(parse_expression(expression).tree) if isinstance(n, Call)}
        # pow(a, b) is parsed as the operator a**b: its name is only in the text.
        called |= {name for name, f in FUNCTIONS.items() if f.operator and f"{name}(" in expression}
    assert set(FUNCTIONS) - called == set()


def test_every_line_parses_and_validates(thousand: list[str]) -> None:
    refused = []
    for number, line in enumerate(thousand, 1):
        item = parse_line(line.encode(), f"distinct:{number}")
        if not isinstance(item, Request):
            refused.append((line, item))
    assert refused == []


def test_one_to_four_variables_each_given_once(thousand: list[str]) -> None:
    for line in thousand:
        expression = line.split(" @ ")[0]
        item = parse_line(line.encode(), "distinct")
        assert isinstance(item, Request)
        variables = parse_expression(expression).variables
        assert 1 <= len(variables) <= 4, line
        assert sorted(a.name for a in item.points[0]) == sorted(variables), line


def test_no_two_lines_share_a_structure(thousand: list[str]) -> None:
    assert len({distinct.structure(line) for line in thousand}) == len(thousand)


@pytest.mark.parametrize(("a", "b", "same"), [
    ("sin(2*x) @ x=1", "sin(3.5*y) @ y=2", True),
    ("x*y + x @ x=1, y=2", "a*b + a @ a=1, b=2", True),
    ("x*y + x @ x=1, y=2", "x*y + y @ x=1, y=2", False),
    ("(4/8)*exp(x) @ x=1", "(1/3)*exp(z) @ z=1e-08", True),
    ("sin(x) @ x=1", "cos(x) @ x=1", False),
    ("x**2 @ x=1", "x**2.5 @ x=1", True),
])
def test_structure_ignores_constants_and_names_only(a: str, b: str, same: bool) -> None:
    assert (distinct.structure(a) == distinct.structure(b)) is same


def test_points_include_extremes_and_tensors(thousand: list[str]) -> None:
    points = " ".join(line.split(" @ ")[1] for line in thousand)
    assert "1e-08" in points and "100000000.0" in points
    # The reductions take turns at the root like every function, each on a tensor.
    reductions = sum(f.kind == "reduction" for f in FUNCTIONS.values())
    tensor_lines = sum("[" in line.split(" @ ")[1] for line in thousand)
    assert tensor_lines >= reductions * (len(thousand) // len(FUNCTIONS))


def _record(line: int, **fields: object) -> dict[str, object]:
    derivative = {"wrt": ["x"], "formula": "2*x", "symbolic": 2.0, "autograd": 2.0,
                  "status": "pass", "category": "ok", "message": None,
                  "finite_difference": 2.0000000001, "forward_mode": 2.0}
    derivative.update(fields)
    return {"expression": "x**2", "point": {"x": 1.0}, "source": f"/some/where.txt:{line}",
            "status": "pass", "category": "ok", "message": None,
            "value": {"symbolic": 1.0, "autograd": 1.0}, "derivatives": [derivative]}


def _compared(before: list[dict[str, object]], after: list[dict[str, object]]
              ) -> tuple[int, int, int]:
    hard, soft, limited, _ = compare_results.compare(before, after)
    return len(hard), len(soft), len(limited)


@pytest.mark.parametrize(("change", "expected"), [
    ({}, (0, 0, 0)),
    ({"finite_difference": 2.0000000002}, (0, 1, 0)),
    ({"forward_mode": 2.0000000000000004}, (0, 1, 0)),
    ({"symbolic": 2.0000000000000004}, (1, 0, 0)),
    ({"autograd": -0.0}, (1, 0, 0)),  # 2.0 -> -0.0
    ({"formula": "2*x + 0"}, (1, 0, 0)),
    ({"category": "mismatch", "status": "fail"}, (2, 0, 0)),
    ({"message": "a note"}, (1, 0, 0)),
    ({"shape": [2]}, (1, 0, 0)),  # a field only one side has
])
def test_comparison_sorts_differences(change: dict[str, object], expected: tuple[int, int, int]) -> None:
    assert _compared([_record(1)], [_record(1, **change)]) == expected


def test_comparison_is_exact_on_zero_signs_and_nan() -> None:
    assert compare_results.diff(0.0, -0.0) != []
    assert compare_results.diff(math.nan, math.nan) == []
    assert compare_results.diff("nan", "nan") == []
    assert compare_results.diff(1, 1.0) != []  # an int became a float


def test_comparison_matches_checks_by_line_wherever_the_file_was() -> None:
    before = [_record(1), _record(2, symbolic=3.0)]
    after = [{**_record(2, symbolic=3.0), "source": "/elsewhere/f.txt:2"},
             {**_record(1), "source": "/elsewhere/f.txt:1"}]
    assert _compared(before, after) == (0, 0, 0)
    assert _compared(before, after[:1]) == (1, 0, 0)  # line 1 is missing


def test_a_timeout_on_either_side_is_listed_not_compared() -> None:
    stopped = {**_record(1), "status": "error", "category": "timeout", "derivatives": []}
    assert _compared([stopped], [_record(1)]) == (0, 0, 1)


def test_lighter_files_have_ordinary_points_and_still_parse() -> None:
    lines = distinct.generate(200, 4, max_depth=1, extreme_share=0.0)
    for line in lines:
        item = parse_line(line.encode(), "light")
        assert isinstance(item, Request), line
        assert all(abs(v) <= 3 for a in item.points[0] for v in a.values), line


# -- bench_sympy_floor.py: what it differentiates, and how it summarises ---------------------

floor = _load("bench_sympy_floor")


@pytest.mark.parametrize(("line", "pairs", "symbols"), [
    ("sin(x)*y @ x=1, y=2", 2, {"x", "y"}),
    # A scalar of tensors: one output, one partial per element of each variable.
    ("sum(v*w) + x @ v=[1, 2], w=[3, 4], x=1", 5, {"v[0]", "v[1]", "w[0]", "w[1]", "x"}),
    # A tensor output: every output element along every element (the Jacobian).
    ("v*x @ v=[1, 2], x=3", 6, {"v[0]", "v[1]", "x"}),
])
def test_the_floor_differentiates_what_a_check_does(line: str, pairs: int, symbols: set[str]) -> None:
    request = parse_line(line.encode(), "floor")
    assert isinstance(request, Request)
    _, partials = floor._partials(request)  # imports SymPy (only this test)
    assert len(partials) == pairs
    assert {str(symbol) for _, symbol in partials} == symbols


def test_the_floor_leaves_out_the_slowest_percent() -> None:
    spent = [0.001] * 99 + [1.0]
    trimmed, every = floor.summary(spent)
    assert trimmed == pytest.approx(1.0)  # ms: the 1 s line is the slowest 1%
    assert every == pytest.approx((99 * 0.001 + 1.0) / 100 * 1000)

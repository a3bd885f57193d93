"""Check-file lines with no repeated expression structure, over the whole registry.

``bench_batch.py``'s templates repeat twenty shapes, which SymPy's caches reward. Here
every line is a random expression tree (depth 1 to 4) with random coefficients, one to
four variables and its own point, and the functions of the registry
(:data:`gradcheck_cli.functions.FUNCTIONS`) take turns at the root, so that each appears
about equally often in a long file, the reductions included (on a small tensor variable).

Domains hold by construction, not by evaluating: the argument of ``log``, ``sqrt``,
``lgamma``, ``xlogy``'s ``y`` and a real power's base is positive (``exp(u)``,
``1.5 + u**2``, ``cosh(u)``, ...), of ``asin``, ``acos`` and ``atanh`` inside (-1, 1)
(``0.7*tanh(u)``, ...), of ``acosh`` above 1, a divisor positive. Points are mostly
ordinary (|v| <= 3) and sometimes extreme (1e-8, 1e8, 0, +-30, ...), where an
exponential may overflow or a value round to a domain's edge: such lines give a
warning or an error, as they would for a user. ``tan``, ``csc`` and the others with
poles are left to chance.

    python bench/distinct_lines.py --lines 1000 --seed 1 -o FILE

or, imported, ``generate(lines, seed)``. The same seed gives the same lines (Python's
``random.Random``; nothing else is random).
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections.abc import Callable
from pathlib import Path

# Run as a script from anywhere: the package of this tree, unless one is importable
# already (last on the path, so that a PYTHONPATH chosen to measure another tree wins).
sys.path.append(str(Path(__file__).resolve().parent.parent))

from gradcheck_cli.functions import FUNCTIONS  # the registry is light: no SymPy, no torch

SCALAR_NAMES = ("x", "y", "z", "w", "t", "s", "p", "q", "a", "b")
TENSOR_NAMES = ("v", "u", "h")
#: Extreme values a variable sometimes takes (the rest are ordinary, |v| <= 3).
EXTREMES = (1e-8, -1e-8, 1e8, -1e8, 0.0, 30.0, -30.0, 1e-300, 700.0, 0.001, -0.001, 12.5)
EXTREME_SHARE = 0.12

Gen = Callable[[int], str]


class _Line:
    """The state of one line being built: its random source and its variables."""

    def __init__(self, rng: random.Random, tensor: str | None,
                 extreme_share: float = EXTREME_SHARE) -> None:
        self.rng = rng
        self.extreme_share = extreme_share
        # One to four variables in all, the tensor counting as one.
        count = rng.randint(1, 4) - (1 if tensor else 0)
        self.scalars = rng.sample(SCALAR_NAMES, count)
        self.tensor = tensor
        self.used: set[str] = set()

    # -- leaves and constants -----------------------------------------------------------

    def coef(self, low: float = 0.1, high: float = 4.0) -> str:
        """A positive coefficient: an integer, a decimal, or a fraction."""
        kind = self.rng.random()
        if kind < 0.3:
            return str(self.rng.randint(2, 9))
        if kind < 0.85:
            return repr(round(self.rng.uniform(low, high), self.rng.choice((1, 2, 3))))
        return f"({self.rng.randint(1, 9)}/{self.rng.randint(2, 11)})"

    def unit_coef(self) -> str:
        """A coefficient in (0, 1): keeps c*tanh(u) away from the edge of (-1, 1)."""
        return repr(round(self.rng.uniform(0.1, 0.95), 2))

    def variable(self, allow_tensor: bool) -> str:
        names = list(self.scalars) + ([self.tensor] if self.tensor and allow_tensor else [])
        # Prefer a variable not used yet, so that every one of the line's appears.
        unused = [n for n in names if n not in self.used]
        name = self.rng.choice(unused or names)
        self.used.add(name)
        return name

    def leaf(self, allow_tensor: bool) -> str:
        name = self.variable(allow_tensor)
        shape = self.rng.random()
        if shape < 0.4:
            return name
        if shape < 0.7:
            return f"{self.coef()}*{name}"
        sign = self.rng.choice("+-")
        return f"({name} {sign} {self.coef()})"

    # -- sub-expressions by domain --------------------------------------------------------

    def any(self, depth: int, allow_tensor: bool = False) -> str:
        """Any real sub-expression, of depth at most ``depth``."""
        if depth <= 0 or self.rng.random() < 0.2:
            return self.leaf(allow_tensor)
        if self.rng.random() < 0.35:
            return self.operator(depth, allow_tensor)
        name = self.rng.choice([n for n, f in FUNCTIONS.items() if f.kind == "elementwise"])
        return self.call(name, depth, allow_tensor)

    def positive(self, depth: int, allow_tensor: bool = False) -> str:
        """A sub-expression positive by construction."""
        u = self.any(depth - 1, allow_tensor)
        forms = (f"exp({u})", f"({self.coef(0.5, 3)} + ({u})**2)", f"cosh({u})",
                 f"hypot({u}, {self.coef(0.5, 3)})", f"(1 + sigmoid({u}))",
                 f"({self.coef(0.2, 3)} + abs({u}))", f"(2 + sin({u}))", f"(1 + softplus({u}))")
        return self.rng.choice(forms)

    def unit(self, depth: int, allow_tensor: bool = False) -> str:
        """A sub-expression inside (-1, 1) by construction."""
        u = self.any(depth - 1, allow_tensor)
        c = self.unit_coef()
        forms = (f"{c}*tanh({u})", f"{c}*sin({u})", f"{c}*erf({u})", f"{c}*cos({u})",
                 f"({c}*sigmoid({u}) - 0.4)", f"{c}*({u})/(1 + abs({u}))")
        return self.rng.choice(forms)

    def above_one(self, depth: int, allow_tensor: bool = False) -> str:
        """A sub-expression greater than 1 by construction."""
        u = self.any(depth - 1, allow_tensor)
        c = self.coef(0.2, 2)
        return self.rng.choice((f"(1 + {c} + ({u})**2)", f"(cosh({u}) + {c})",
                                f"(1 + {c} + exp({u}))"))

    def operator(self, depth: int, allow_tensor: bool) -> str:
        left = self.any(depth - 1, allow_tensor)
        op = self.rng.choice("+-*/^")
        if op == "/":
            return f"{left}/{self.positive(depth - 1, allow_tensor)}"
        if op == "^":
            if self.rng.random() < 0.5:
                return f"({left})**{self.rng.randint(2, 4)}"
            return f"{self.positive(depth - 1, allow_tensor)}**({self.any(depth - 1, allow_tensor)})"
        right = self.any(depth - 1, allow_tensor)
        if op == "*":
            return f"({left})*({right})"
        return f"({left} {op} {right})"

    def call(self, name: str, depth: int, allow_tensor: bool = False) -> str:
        """A call of the elementwise function ``name`` on arguments in its domain."""
        d, t = depth - 1, allow_tensor
        if name in ("log", "log2", "log10", "sqrt", "lgamma"):
            return f"{name}({self.positive(d, t)})"
        if name == "log1p":
            return f"log1p({self.rng.choice((self.positive, self.unit))(d, t)})"
        if name in ("asin", "acos", "atanh"):
            return f"{name}({self.unit(d, t)})"
        if name == "acosh":
            return f"acosh({self.above_one(d, t)})"
        if name == "xlogy":
            return f"xlogy({self.any(d, t)}, {self.positive(d, t)})"
        if name == "pow":
            if self.rng.random() < 0.5:
                return f"pow({self.any(d, t)}, {self.rng.randint(2, 3)})"
            return f"pow({self.positive(d, t)}, {self.any(d, t)})"
        if name == "clamp":
            low = round(self.rng.uniform(-3, 0.5), 2)
            high = round(low + self.rng.uniform(0.5, 4), 2)
            return f"clamp({self.any(d, t)}, {low!r}, {high!r})"
        if name == "logsumexp":  # its elementwise form, logsumexp(a, b)
            return f"logsumexp({self.any(d, t)}, {self.any(d, t)})"
        arity = FUNCTIONS[name].arity
        return f"{name}({', '.join(self.any(d, t) for _ in range(arity))})"

    def reduction(self, name: str, depth: int) -> str:
        """A call of the reduction ``name`` on the line's tensor variable (scalar result)."""
        tensor = self.tensor
        assert tensor is not None

        def tensor_expression(body: str | None = None) -> str:
            # An elementwise expression in the tensor (and perhaps scalars): a tensor.
            body = self.any(depth - 1, allow_tensor=True) if body is None else body
            if tensor in _names(body):
                return body
            return f"{tensor}*({body})" if self.rng.random() < 0.5 else tensor

        if name == "dot" or name == "matmul":
            return f"{name}({tensor_expression()}, {tensor_expression()})"
        if name in ("softmax", "log_softmax"):
            return f"{name}({tensor_expression()})[{self.rng.randint(0, 1)}]"
        if name == "prod":
            # Factors in (0, 2): the product neither overflows nor hides a zero factor.
            return f"prod({tensor_expression(self.unit(depth - 1, allow_tensor=True))} + 1)"
        return f"{name}({tensor_expression()})"

    # -- the point --------------------------------------------------------------------------

    def value(self) -> str:
        if self.rng.random() < self.extreme_share:
            return repr(self.rng.choice(EXTREMES))
        return repr(round(self.rng.uniform(-3, 3), self.rng.choice((1, 2, 3, 4))))

    def point(self, expression: str) -> str:
        present = _names(expression)
        parts = [f"{n}={self.value()}" for n in self.scalars if n in present]
        if self.tensor and self.tensor in present:
            size = self.rng.choice((2, 3))
            parts.append(f"{self.tensor}=[{', '.join(self.value() for _ in range(size))}]")
        return ", ".join(parts)


def _names(expression: str) -> set[str]:
    """The identifiers of an expression (variables and function names alike)."""
    word = []
    names = set()
    for char in expression + " ":
        if char.isalnum() or char == "_":
            word.append(char)
        elif word:
            if not word[0].isdigit():
                names.add("".join(word))
            word = []
    return names


def generate(lines: int, seed: int, *, max_depth: int = 4,
             extreme_share: float = EXTREME_SHARE) -> list[str]:
    """``lines`` check-file lines ``EXPR @ x=..., y=...``, the same for the same seed.

    The root of line i is a call of the registry's function number i (in turn), or of
    an operator combining it with a second random sub-expression. ``max_depth`` (1 to 4)
    and ``extreme_share`` (the chance that a value is extreme) make lighter files; the
    defaults are the benchmark's.
    """
    rng = random.Random(seed)
    names = list(FUNCTIONS)
    out: list[str] = []
    seen: set[str] = set()
    index = retries = 0
    while len(out) < lines:
        name = names[index % len(names)]
        line_text = _one_line(rng, name, max_depth, extreme_share)
        key = structure(line_text)
        if key in seen:  # the same tree up to constants and names: draw again
            retries += 1
            if retries > 10_000:
                raise RuntimeError(f"no new structure for {name} after 10,000 draws")
            continue
        seen.add(key)
        out.append(line_text)
        index += 1
    return out


def structure(line: str) -> str:
    """A line's expression with every number written ``#`` and its variables renamed in
    order of appearance: two lines with the same structure differ only in constants."""
    expression = line.split("@", 1)[0]
    renamed: dict[str, str] = {}

    def name(match: re.Match[str]) -> str:
        word = match.group(0)
        if word in FUNCTIONS:
            return word
        return renamed.setdefault(word, f"_{len(renamed)}")

    expression = re.sub(r"(?<![\w.])\d+\.?\d*(e[-+]?\d+)?", "#", expression)
    return re.sub(r"[A-Za-z_]\w*", name, expression).replace(" ", "")


def _one_line(rng: random.Random, name: str, max_depth: int, extreme_share: float) -> str:
    """One line whose root is a call of ``name`` (perhaps combined with another term)."""
    function = FUNCTIONS[name]
    tensor = rng.choice(TENSOR_NAMES) if function.kind == "reduction" else None
    line = _Line(rng, tensor, extreme_share)
    depth = rng.randint(1, max_depth)
    root = line.reduction(name, depth) if function.kind == "reduction" else line.call(name, depth)
    if line.scalars and rng.random() < 0.5:  # (a tensor-valued term would not do)
        other = line.any(rng.randint(0, 2))
        root = rng.choice((f"{root} + {other}", f"{root} - {other}",
                           f"({root})*({other})", f"{line.coef()}*{root}"))
    return f"{root} @ {line.point(root)}"


#: Lines the in-process benchmarks (bench_stages.py, bench_sympy_floor.py) run before they
#: measure, so that imports and first calls are left out: of a seed no benchmark file uses.
WARM_UP, WARM_UP_SEED = 50, 9_999


def benchmark_files(scratch: Path, file: Path | None, lines: int, seed: int,
                    max_depth: int = 4) -> tuple[Path, Path, str]:
    """The lines to measure and the warm-up lines, as files (``file`` itself, or ``lines``
    generated lines of ``seed`` written into ``scratch``), and what the lines are."""
    warm_up_file = scratch / "warm-up.txt"
    warm_up_file.write_text("".join(t + "\n" for t in generate(WARM_UP, WARM_UP_SEED)))
    if file:
        return file.resolve(), warm_up_file, str(file)
    lines_file = scratch / "lines.txt"
    lines_file.write_text("".join(t + "\n" for t in generate(lines, seed, max_depth=max_depth)))
    source = f"distinct_lines.py --lines {lines} --seed {seed}"
    return lines_file, warm_up_file, source + (f" --max-depth {max_depth}" if max_depth != 4 else "")


def main() -> None:
    """Write the lines to ``-o FILE`` (or standard output)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-depth", type=int, default=4, choices=range(1, 5))
    parser.add_argument("--extreme-share", type=float, default=EXTREME_SHARE,
                        help=f"chance that a value is extreme (default {EXTREME_SHARE})")
    parser.add_argument("-o", "--output", metavar="FILE", help="where to write (default: stdout)")
    args = parser.parse_args()
    lines = generate(args.lines, args.seed, max_depth=args.max_depth,
                     extreme_share=args.extreme_share)
    text = "".join(line + "\n" for line in lines)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()

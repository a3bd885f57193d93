"""Every limit on what a check accepts, in one place.

Each is refused with category ``limit`` (exit code 2 on the command line) and listed in
docs/reference.md. Light: the parser, the request and the batch reader import it
without loading anything heavy.
"""

from __future__ import annotations

# -- an expression ---------------------------------------------------------------------

#: Longest expression accepted, in characters.
MAX_EXPRESSION_LENGTH = 4_000
#: Deepest nesting of the expression tree (parentheses, calls, operators).
MAX_DEPTH = 64
#: Most nodes (numbers, names, operators, calls) in one expression.
MAX_NODES = 1_000
#: Longest numeric literal, in characters.
MAX_LITERAL_LENGTH = 64
#: Largest product of constant exponents along any chain of nested powers:
#: ``x**2000``, ``(x**64)**64`` and ``9**9**9`` are refused, ``x**1000`` is not.
MAX_EXPONENT = 1_024

# -- a point ---------------------------------------------------------------------------

#: Most elements in one tensor value: the symbolic side works element by element.
MAX_TENSOR_ELEMENTS = 64

# -- a check ---------------------------------------------------------------------------

#: Highest derivative order accepted by ``--order``.
MAX_ORDER = 4
#: Most partial derivatives in one check (all N-th partials of the chosen variables).
MAX_PARTIALS = 64

# -- a check file ----------------------------------------------------------------------

#: Longest line read, in bytes; a longer one is an error row (category ``limit``),
#: skipped without ever being held in memory whole.
MAX_LINE_BYTES = 65_536
#: Most points (``@ ...`` parts) on one line.
MAX_POINTS_PER_LINE = 256

# -- a sweep (--sweep) -------------------------------------------------------------------

#: Most samples of one sweep (``--samples``).
MAX_SAMPLES = 10_000_000
#: Most swept variables (``--sweep``, repeated).
MAX_SWEEP_VARIABLES = 3
#: Most exact single-point checks one sweep runs (unsettled samples, bisection steps the
#: vectorised reference cannot settle, and the worst point of each region).
MAX_EXACT_POINTS = 200

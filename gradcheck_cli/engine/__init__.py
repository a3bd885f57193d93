"""The evaluation engine: the only package that imports SymPy, mpmath and torch.

Everything outside it (the parser, the registry, requests, results, rendering, the CLI,
the batch supervisor) must start without them: ``gradcheck --help`` and a refused
expression answer in a fraction of a second. ``check.run`` is the one door in: it loads
this package on the first check. A ruff rule (TID253) and ``tests/test_layers.py`` keep
it that way.

- :mod:`.symbolic`: tree -> SymPy, exact derivatives, limits, the as-written walk;
- :mod:`.certify`: certified exact values (mpmath at doubling precision);
- :mod:`.differentiate`: SymPy's differentiation rules, applied directly;
- :mod:`.autograd`: tree -> torch, reverse and forward mode, finite differences;
- :mod:`.judge`: the verdict on every number, scalar or tensor element;
- :mod:`.evaluate`, :mod:`.tensors`: a scalar check and a tensor check, end to end.
"""

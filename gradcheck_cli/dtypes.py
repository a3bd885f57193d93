"""The float types autograd can compute in: the one list, and what each can hold.

Light (no torch): the CLI's ``--dtype`` choices, the request's validation, the judge's
overflow and underflow rules and the engine's torch dtypes are all read from here.
"""

from __future__ import annotations

from enum import Enum


class DType(str, Enum):
    """A float type, by its torch name."""

    FLOAT64 = "float64"
    FLOAT32 = "float32"

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @property
    def largest(self) -> float:
        """The largest finite value."""
        return _RANGES[self][0]

    @property
    def tiny(self) -> float:
        """Half the smallest subnormal: a nonzero value below it rounds to 0."""
        return _RANGES[self][1]

    @property
    def epsilon(self) -> float:
        """Machine epsilon: the gap between 1 and the next float."""
        return _RANGES[self][2]


_RANGES = {
    DType.FLOAT64: (1.7976931348623157e308, 2.0**-1075, 2.0**-52),
    DType.FLOAT32: (3.4028234663852886e38, 2.0**-150, 2.0**-23),
}

#: The names, in the order ``--dtype`` lists them.
DTYPES = tuple(d.value for d in DType)

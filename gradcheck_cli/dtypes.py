"""The float types autograd can compute in: the one list, and what each can hold.

Light (no torch): the CLI's ``--dtype`` choices, the request's validation, the judge's
overflow and underflow rules and the engine's torch dtypes are all read from here.
"""

from __future__ import annotations

import re
from enum import Enum


class DType(str, Enum):
    """A float type, by its torch name."""

    FLOAT64 = "float64"
    FLOAT32 = "float32"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"

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
    def smallest_normal(self) -> float:
        """The smallest positive normal value (below it, down to ``2 * tiny``, subnormals)."""
        return _RANGES[self][3]

    @property
    def epsilon(self) -> float:
        """Machine epsilon: the gap between 1 and the next float."""
        return _RANGES[self][2]


#: largest, tiny (half the smallest subnormal), epsilon, smallest normal: exact IEEE 754
#: binary64/32/16 values, and bfloat16's (float32's exponent range with 8 significant bits).
#: torch on CPU keeps subnormals in all four (``torch.set_flush_denormal`` is off).
_RANGES = {
    DType.FLOAT64: (1.7976931348623157e308, 2.0**-1075, 2.0**-52, 2.0**-1022),
    DType.FLOAT32: (3.4028234663852886e38, 2.0**-150, 2.0**-23, 2.0**-126),
    DType.FLOAT16: (65504.0, 2.0**-25, 2.0**-10, 2.0**-14),
    DType.BFLOAT16: (3.3895313892515355e38, 2.0**-134, 2.0**-7, 2.0**-126),
}

#: The names, in the order ``--dtype`` lists them.
DTYPES = tuple(d.value for d in DType)


#: torch's names for the half types in its error messages.
_TORCH_NAMES = {"Half": "float16", "BFloat16": "bfloat16"}
#: ``"exp_vml_cpu" not implemented for 'Half'`` and ``linalg.inv: Low precision dtypes not
#: supported. Got Half``: the two ways torch says an op has no kernel for a dtype.
_NO_KERNEL = re.compile(r"\"(?P<op>\w+)\" not implemented for '(?P<dtype>Half|BFloat16)'"
                        r"|(?P<op2>[\w.]+): Low precision dtypes not supported\. Got "
                        r"(?P<dtype2>Half|BFloat16)")


def unsupported(error: BaseException) -> str | None:
    """Where ``error`` is torch saying an op has no kernel for a half type, that in words
    ("float16 is not supported by torch for exp_vml_cpu"); otherwise ``None``.

    Which ops have half kernels depends on the torch build and the device (CPU kernels
    lag behind CUDA's): a check that meets one is told so, not shown an internal error.
    """
    found = _NO_KERNEL.search(str(error))
    if found is None:
        return None
    op = found.group("op") or found.group("op2")
    dtype = _TORCH_NAMES[found.group("dtype") or found.group("dtype2")]
    return (f"{dtype} is not supported by torch for {op} (torch: {error}); compute in float32 "
            "or float64, or on a device that has a kernel for it")

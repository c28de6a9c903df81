"""Array types and the read-only arrays that frozen parameter objects hold."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def readonly(array: npt.ArrayLike) -> FloatArray:
    """Return a float64 copy of ``array`` that cannot be written (frozen objects stay frozen)."""
    out = np.array(array, dtype=np.float64)
    out.flags.writeable = False
    return out

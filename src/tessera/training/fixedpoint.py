"""Fixed-point arithmetic for bit-reproducible training: Q16 values in int64, exact integer accumulation.

Why this format (see docs/training.md): an integer sum does not depend on the order it is taken in, so a
matrix product is the same on every machine, thread count and BLAS (numpy's integer matmul does not use
BLAS at all). Rounding happens only at defined points, each with one rule: a right shift that rounds half
up. A contract can redo any of these operations exactly. No float is used anywhere on this path; floats
appear only where data enters (`to_fixed`, before the dataset is committed) and where results are shown.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import numpy.typing as npt

from ..errors import TrainingError

FRAC_BITS = 16
ONE = 1 << FRAC_BITS
# products are Q32; their sums must stay inside int64 with a margin: |sum| < 2**62
_LIMIT = 1 << 62

Fixed = npt.NDArray[np.int64]

# 2**r for r in [0, 1): Taylor series in ln 2 to the 6th power, coefficients in Q16 (error below 2e-5)
_EXP2_COEFFS = (ONE, 45426, 15743, 3638, 630, 87, 10)
LOG2_E = 94548  # log2(e) in Q16


def to_fixed(x: npt.ArrayLike) -> Fixed:
    """Floats to Q16 (round half to even, numpy's rule): only where data enters, before it is committed."""
    arr = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise TrainingError("the data holds NaN or infinite values: clean or drop those samples first")
    scaled = np.rint(arr * ONE)
    if np.any(np.abs(scaled) >= 2**47):
        raise TrainingError("a value is too large for Q16 fixed point (|x| must be below 2**31): rescale the data")
    return scaled.astype(np.int64)


def from_decimal(d: Decimal) -> int:
    """An exact decimal (a hyperparameter as written) to Q16, rounded half to even."""
    return int((d * ONE).to_integral_value())


def to_float(x: Fixed) -> npt.NDArray[np.float64]:
    """For display and comparisons only."""
    return np.asarray(x, dtype=np.float64) / ONE


def shift_round(x: Fixed, bits: int = FRAC_BITS) -> Fixed:
    """x / 2**bits rounded half up (an arithmetic shift floors; adding half first rounds)."""
    return np.right_shift(x + np.int64(1 << (bits - 1)), bits)


def div_round(a: Fixed, b: Fixed | int) -> Fixed:
    """a / b rounded half up, for b > 0: floor((2a + b) / 2b), exact for int64 inputs in range."""
    b64 = np.asarray(b, dtype=np.int64)
    return np.floor_divide(2 * a + b64, 2 * b64)


def _guard(max_a: int, max_b: int, terms: int, what: str) -> None:
    if max_a * max_b * max(terms, 1) >= _LIMIT:
        raise TrainingError(
            f"fixed-point overflow risk in {what} (|a| {max_a / ONE:.3g}, |b| {max_b / ONE:.3g}, {terms} terms): "
            "lower the learning rate or standardize the features")


def mul(a: Fixed, b: Fixed | int) -> Fixed:
    """Elementwise Q16 product."""
    b64 = np.asarray(b, dtype=np.int64)
    _guard(int(np.abs(a).max(initial=0)), int(np.abs(b64).max(initial=0)), 1, "a product")
    return shift_round(a * b64)


def matmul(a: Fixed, b: Fixed, what: str = "a matrix product") -> Fixed:
    """Q16 matrix product: the Q32 sums are exact integers, then rounded once."""
    _guard(int(np.abs(a).max(initial=0)), int(np.abs(b).max(initial=0)), a.shape[-1], what)
    return shift_round(np.matmul(a, b))


def exp_nonpositive(x: Fixed) -> Fixed:
    """e**x for x <= 0, in Q16: 2**(x log2 e) split into an integer shift and a polynomial in [0, 1)."""
    if np.any(x > 0):
        raise TrainingError("exp_nonpositive takes x <= 0 (subtract the row maximum first)")
    y = shift_round(x * LOG2_E)  # log2 units, Q16, <= 0
    n = np.right_shift(y, FRAC_BITS)  # floor(y): <= 0
    r = y - np.left_shift(n, FRAC_BITS)  # in [0, ONE)
    p = np.full_like(r, _EXP2_COEFFS[-1])
    for c in reversed(_EXP2_COEFFS[:-1]):
        p = shift_round(p * r) + c
    return np.right_shift(p, np.minimum(-n, 62))


def softmax(z: Fixed) -> Fixed:
    """Row-wise softmax in Q16: exact shifts by the row maximum, then one rounded division per element."""
    e = exp_nonpositive(z - z.max(axis=1, keepdims=True))
    total = e.sum(axis=1, keepdims=True)  # >= ONE: the maximum's term is exactly ONE
    return div_round(np.left_shift(e, FRAC_BITS), total)


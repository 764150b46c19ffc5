"""I32F32 fixed-point arithmetic on numpy arrays, rounding exactly as Bittensor's chain does.

The chain computes Yuma in ``substrate_fixed`` types. A value is stored as its raw bits, an
integer ``bits = value * 2**32`` held here in ``int64``. The chain's rounding rules are:

* ``a * b``  = ``(a_bits * b_bits) >> 32`` (arithmetic shift, so the floor, also for negatives);
* ``a / b``  = ``(a_bits << 32) / b_bits`` truncated toward zero; ``safe_div`` gives 0 for ``b = 0``;
* ``u16`` proportions are ``x / 65535`` and are stored back as ``floor(x * 65535)``.

Products of two values near 1.0 need 64 bits before the shift, past what ``int64`` holds, so
:func:`mul` splits operands into 32-bit halves and does the low product in ``uint64``.
:func:`div` takes a float64 estimate and corrects it with the exact remainder computed in wrapping
``uint64`` arithmetic; the estimate is within one unit whenever the quotient is below 2**52, which
every division in the epoch satisfies (quotients are fractions of at most a few thousand).
Everything here is checked bit for bit against Python integers in the tests.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Bits = NDArray[np.int64]

FRAC = 32
ONE = 1 << FRAC
HALF = 1 << (FRAC - 1)
MASK32 = ONE - 1
U16_MAX = 65535
_TWO32 = float(ONE)

# substrate_fixed's E constant: the fixed crate's U2F126 `e` (2 integer bits) shifted down to I9F23,
# then widened to I32F32: 2.71828174..., not e rounded to 32 bits.
_E_U2F126 = 0xADF85458A2BB4A9AAFDC5620273D3CF1
E_BITS = (_E_U2F126 >> 103) << 9


def as_bits(values: object) -> Bits:
    return np.asarray(values, dtype=np.int64)


def mul(a: Bits, b: Bits | int) -> Bits:
    """``floor(a * b / 2**32)`` for ``a >= 0`` and ``0 <= b <= 2**32`` (b a fraction in [0, 1])."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    # (a mod 2**32) * b < 2**64: exact in uint64; int64 multiplication wraps to the same bits.
    low = ((a & MASK32) * b).view(np.uint64) >> np.uint64(FRAC)
    return (a >> FRAC) * b + low.view(np.int64)


def mul_ceil(a: Bits, b: Bits | int) -> Bits:
    """``ceil(a * b / 2**32)`` under the same bounds as :func:`mul`."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    low = (((a & MASK32) * b).view(np.uint64) + np.uint64(MASK32)) >> np.uint64(FRAC)
    return (a >> FRAC) * b + low.view(np.int64)


def mul_signed(a: Bits, b: Bits | int) -> Bits:
    """Floor product for any-signed ``a`` and ``0 <= b <= 2**32`` (arithmetic shift semantics)."""
    a = np.asarray(a, dtype=np.int64)
    return np.where(a >= 0, mul(np.maximum(a, 0), b), -mul_ceil(np.maximum(-a, 0), b))


def mul_wide(a: Bits, b: Bits) -> Bits:
    """Floor product for non-negative operands of any size whose product fits I32F32."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ah, al = a >> FRAC, a & MASK32
    bh, bl = b >> FRAC, b & MASK32
    low = (al * bl).view(np.uint64) >> np.uint64(FRAC)
    return ((ah * bh) << FRAC) + ah * bl + al * bh + low.view(np.int64)


def div(a: Bits | int, b: Bits | int) -> Bits:
    """``floor(a * 2**32 / b)`` for ``a >= 0``; 0 where ``b == 0`` (the chain's ``safe_div``)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    zero = b == 0
    if zero.any():  # 0 / 1 stands in for x / 0, whose result is replaced by 0 below
        safe_b = np.where(zero, 1, b)
        a = np.where(zero, 0, a)
    else:
        safe_b = b
    # a * 2**32 and b are exact in float64 and the division is correctly rounded, so the floor
    # is exact or one too high (when rounding lands on the next integer).
    q = np.floor(a * _TWO32 / safe_b).astype(np.int64)
    # The true remainder is within one divisor of zero, so int64 wrap-around gives it exactly.
    q -= ((a << FRAC) - q * safe_b) < 0
    return np.where(zero, 0, q) if zero.any() else q


def to_u16(x: Bits) -> NDArray[np.int64]:
    """``fixed_proportion_to_u16``: ``floor(x * 65535)`` saturated to ``[0, 65535]``."""
    x = np.asarray(x, dtype=np.int64)
    return np.clip((x * U16_MAX) >> FRAC, 0, U16_MAX)


def u16_ratio(value: int) -> int:
    """A u16 hyperparameter as a fraction: ``I32F32(value) / I32F32(65535)``."""
    return (value << FRAC) // U16_MAX


def exp(x: Bits) -> Bits:
    """``substrate_fixed::transcendental::exp`` for I32F32, element-wise, for ``|x| <= 20``.

    The chain evaluates the Taylor series with 30 terms, flooring each product and truncating each
    division, and takes the reciprocal for negative inputs; the shortcuts for exactly 0 and exactly
    1 are kept, including that ``exp(-1)`` goes through the series rather than ``1/E``.
    """
    x = np.asarray(x, dtype=np.int64)
    op = np.abs(x)
    op_high, op_low = op >> FRAC, op & MASK32
    result = op + ONE
    term = op.copy()
    for i in range(2, FRAC):  # the chain loops `for i in 2..frac_nbits`
        # term * op, floored, with the operand's halves hoisted out of the loop (see mul_wide)
        t_high, t_low = term >> FRAC, term & MASK32
        low = (t_low * op_low).view(np.uint64) >> np.uint64(FRAC)
        term = ((t_high * op_high) << FRAC) + t_high * op_low + t_low * op_high + low.view(np.int64)
        term //= i
        result += term
        if not term.any():
            break
    negative = x < 0
    if negative.any():
        result = np.where(negative, div(ONE, np.where(negative, result, ONE)), result)
    result = np.where(x == 0, ONE, result)
    return np.where(x == ONE, E_BITS, result)


def exp_safe(x: Bits) -> Bits:
    """The chain's ``exp_safe``: the input clamped to ``[-20, 20]`` before :func:`exp`."""
    return exp(np.clip(np.asarray(x, dtype=np.int64), -20 * ONE, 20 * ONE))

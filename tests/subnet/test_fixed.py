"""The numpy I32F32 kernels agree bit for bit with the chain's rules written in Python ints."""

from __future__ import annotations

import chain_reference as ref
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tessera.subnet import fixed

fraction = st.integers(0, fixed.ONE)
values = st.lists(st.integers(0, 40 * fixed.ONE), min_size=1, max_size=50)


@given(st.lists(st.tuples(st.integers(0, 8 * fixed.ONE), fraction), min_size=1, max_size=50))
def test_mul_floors_like_the_chain(pairs: list[tuple[int, int]]) -> None:
    a, b = (np.array(column, dtype=np.int64) for column in zip(*pairs))
    assert fixed.mul(a, b).tolist() == [ref.fmul(x, y) for x, y in pairs]


@given(st.lists(st.tuples(st.integers(-fixed.ONE, fixed.ONE), fraction), min_size=1, max_size=50))
def test_signed_mul_floors_toward_minus_infinity(pairs: list[tuple[int, int]]) -> None:
    a, b = (np.array(column, dtype=np.int64) for column in zip(*pairs))
    assert fixed.mul_signed(a, b).tolist() == [ref.fmul(x, y) for x, y in pairs]


@given(st.lists(st.tuples(st.integers(0, 4 * fixed.ONE), st.integers(0, 4096 * fixed.ONE)), min_size=1, max_size=50))
def test_div_truncates_and_is_zero_for_zero_divisor(pairs: list[tuple[int, int]]) -> None:
    pairs = [(a, b) for a, b in pairs if b == 0 or a * fixed.ONE // b < 2**40]
    if not pairs:
        return
    a, b = (np.array(column, dtype=np.int64) for column in zip(*pairs))
    assert fixed.div(a, b).tolist() == [ref.fdiv(x, y) for x, y in pairs]


@given(st.lists(st.integers(-25 * fixed.ONE, 25 * fixed.ONE), min_size=1, max_size=30))
def test_exp_safe_matches_substrate_fixed(xs: list[int]) -> None:
    xs += [0, fixed.ONE, -fixed.ONE, 20 * fixed.ONE, -20 * fixed.ONE]
    assert fixed.exp_safe(np.array(xs, dtype=np.int64)).tolist() == [ref.exp_safe(x) for x in xs]


def test_known_constants() -> None:
    assert fixed.E_BITS == 11674931200  # e in I9F23 (22802600 << 9): 2.71828174...
    assert fixed.u16_ratio(32767) == 2147450879  # the default kappa, just under 0.5

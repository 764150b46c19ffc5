"""Yuma consensus, bit-exact with Bittensor's chain (``epoch_mechanism``), vectorized with numpy.

``run_epoch(state) -> dict`` takes and returns the JSON shapes of ``tessera subnet epoch``.
The algorithm and its constants are described step by step in ``docs/subnet.md``; the comments
here mark where the chain's own quirks are reproduced on purpose.

Matrices are held dense but only over the *rows that can be non-zero*: validators with a previous
permit that submitted weights, and any UID holding bonds. A miner-only row is empty in every
matrix of the chain's sparse epoch, so dropping it changes nothing and keeps a 256 x 4096 epoch at
256 rows instead of 4352. Values are I32F32 bits in ``int64`` (see :mod:`tessera.subnet.fixed`);
where the chain needs 128-bit I64F64 or I96F32 (stake, emission), vectors of Python ints are used.
Sparse presence matters in one place (liquid alpha emits only entries present in ``W_b``), so a
presence mask travels with the weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import fixed
from .epoch_state import EpochState, parse_state
from .fixed import FRAC, ONE, Bits, div, mul, to_u16, u16_ratio

Mask = NDArray[np.bool_]
_EXP_CHUNK = 16384


def run_epoch(state: dict[str, Any]) -> dict[str, Any]:
    """Run one epoch on a JSON-shaped state and return the JSON-shaped result."""
    return compute_epoch(parse_state(state)).to_json()


@dataclass
class EpochResult:
    """One epoch's outputs as arrays (I32F32 bits, u16 and rao) plus the sparse bond rows to store."""

    version: str
    rows: NDArray[np.int64]
    new_validator_permits: Mask
    old_validator_permits: Mask
    active: Mask
    stake: Bits
    active_stake: Bits
    consensus: Bits
    validator_trust: Bits
    incentive: Bits
    dividends: Bits
    ema_bonds: Bits
    bonds_u16: Bits
    bonds_present: Mask
    bonds_order: NDArray[np.int64] | None
    server_emission: list[int]
    validator_emission: list[int]
    combined_emission: list[int]

    @property
    def n(self) -> int:
        return len(self.stake)

    def bonds_stored(self) -> list[list[list[int]] | None]:
        """Rows written to bond storage: None = not written, [] = cleared (permit lost)."""
        return _bond_rows(self.new_validator_permits, self.old_validator_permits, self.rows, self.bonds_u16,
                          self.bonds_present, self.bonds_order, self.n)

    def to_json(self) -> dict[str, Any]:
        return {
            "yuma_version": self.version,
            "new_validator_permits": self.new_validator_permits.tolist(),
            "active": self.active.tolist(),
            "stake_bits": self.stake.tolist(),
            "active_stake_bits": self.active_stake.tolist(),
            "consensus_bits": self.consensus.tolist(),
            "validator_trust_bits": self.validator_trust.tolist(),
            "incentive_bits": self.incentive.tolist(),
            "dividends_bits": self.dividends.tolist(),
            "bonds_stored": self.bonds_stored(),
            "ema_bonds_bits": _sparse_rows(self.rows, self.ema_bonds, self.bonds_present, self.bonds_order, self.n),
            "server_emission": self.server_emission,
            "validator_emission": self.validator_emission,
            "combined_emission": self.combined_emission,
            "consensus_u16": to_u16(self.consensus).tolist(),
            "incentive_u16": to_u16(self.incentive).tolist(),
            "dividends_u16": to_u16(self.dividends).tolist(),
            "validator_trust_u16": to_u16(self.validator_trust).tolist(),
            "stake_weight_u16": to_u16(self.stake).tolist(),
        }


def compute_epoch(st: EpochState) -> EpochResult:
    h = st.hyper
    n = st.n
    owner = h.owner_uid if 0 <= h.owner_uid < n else None
    active = ~(st.last_update + np.int64(min(h.activity_cutoff, 2**62)) < st.current_block)

    stake = _stake(st, owner)
    permits_new = _topk_nonzero(stake, h.max_allowed_validators)
    forbids = ~st.validator_permit
    if owner is not None:
        forbids[owner] = False  # the owner's UID always holds a permit
    active_stake = _normalize(np.where(active & ~forbids, stake, 0))

    rows = _rows(st, forbids)
    weights, present, order = _weights(st, rows, forbids, owner)
    consensus = _consensus(weights, active_stake, rows, u16_ratio(h.kappa))

    # Clip at consensus; the sparse chain code drops an entry whose consensus is 0.
    clipped = np.minimum(weights, consensus[None, :])
    clipped_present = present & ~((consensus[None, :] < weights) & (consensus[None, :] <= 0))
    validator_trust = np.zeros(n, dtype=np.int64)
    validator_trust[rows] = clipped.sum(axis=1)
    ranks = mul(clipped, active_stake[rows][:, None]).sum(axis=0)
    incentive = _normalize(ranks)

    beta = u16_ratio(h.bonds_penalty)
    w_order: NDArray[np.int64] | None = order  # W_b keeps the stored row order unless interpolated
    if beta == 0:
        w_bonds, bonds_present = weights, present
    elif beta == ONE:
        w_bonds, bonds_present = clipped, clipped_present
    else:
        w_bonds = weights + fixed.mul_signed(clipped - weights, beta)
        bonds_present = w_bonds > 0
        w_bonds = np.where(bonds_present, w_bonds, 0)
        w_order = None

    last_tempo = st.current_block - h.tempo if st.last_mechanism_step_block == 0 else st.last_mechanism_step_block + 1
    recent = max(last_tempo, 0) <= st.block_at_registration  # miners registered since the last epoch
    bond_u16, bond_present = _bonds(st, rows, recent)
    alpha = ONE - (h.bonds_moving_average << FRAC) // 1_000_000

    if st.yuma3:
        liquid = st.liquid_alpha and bool(consensus.any())
        ema, ema_present, dividends = _yuma3_bonds(
            st, liquid, w_bonds, bonds_present, w_order, bond_u16, bond_present, consensus, alpha, incentive,
            active_stake, rows)
        stored = np.where(ema_present, to_u16(ema), 0)
        # mat_ema_alpha_sparse emits entries in W_b's row order; mat_ema_sparse in UID order.
        stored_order = w_order if liquid else None
    else:
        ema, ema_present, dividends = _yuma2_bonds(
            w_bonds, bond_u16, bond_present, alpha, incentive, active_stake, rows)
        col_max = ema.max(axis=0, initial=0)
        ema = np.where(ema_present, div(ema, col_max), 0)  # column max-upscaled for storage
        stored = to_u16(ema)
        stored_order = None

    server, validator, combined = _emission(incentive, dividends, active_stake, stake, h.rao_emission)
    return EpochResult(
        version=st.version, rows=rows, new_validator_permits=permits_new,
        old_validator_permits=st.validator_permit, active=active, stake=stake, active_stake=active_stake,
        consensus=consensus, validator_trust=validator_trust, incentive=incentive, dividends=dividends,
        ema_bonds=ema, bonds_u16=stored, bonds_present=ema_present, bonds_order=stored_order,
        server_emission=server, validator_emission=validator, combined_emission=combined,
    )


def _stake(st: EpochState, owner: int | None) -> Bits:
    """Total stake ``alpha + tao * tao_weight`` in I64F64, thresholded, normalized, to I32F32."""
    h = st.hyper
    # get_tao_weight: I96F32(TaoWeight) / I96F32(u64::MAX), truncated to 32 fractional bits.
    tao_weight = (h.tao_weight << FRAC) // ((1 << 64) - 1)
    cap = (1 << 95) - 1  # I64F64's maximum, in units of 2**-32 (saturating_from_num / add)
    totals = [min((a << FRAC) + t * tao_weight, cap) for a, t in zip(st.alpha_stake, st.tao_stake)]
    totals = [
        0 if (total >> FRAC) < h.stake_threshold and uid != owner else total
        for uid, total in enumerate(totals)
    ]
    denominator = sum(totals)
    if denominator == 0:
        return np.zeros(st.n, dtype=np.int64)
    # I64F64 x / sum keeps 64 fractional bits; the I32F32 conversion then floors to 32.
    return np.array([(total << FRAC) // denominator for total in totals], dtype=np.int64)


def _topk_nonzero(stake: Bits, k: int) -> Mask:
    result = stake != 0
    n = len(stake)
    if n < k:
        return result
    order = np.argsort(stake, kind="stable")  # ascending, ties by UID, as the chain's sort_by_key
    result[order[: n - k]] = False
    return result


def _normalize(x: Bits) -> Bits:
    total = int(x.sum())
    if total == 0:
        return x.astype(np.int64, copy=True)
    return div(x, total)


def _rows(st: EpochState, forbids: Mask) -> NDArray[np.int64]:
    """UIDs whose rows can be non-zero: permitted validators with weights, or any bond holder."""
    has_weights = np.array([len(u) > 0 for u, _ in st.weights], dtype=bool) & ~forbids
    has_bonds = np.array([len(u) > 0 for u, _ in st.bonds], dtype=bool)
    return np.flatnonzero(has_weights | has_bonds).astype(np.int64)


def _weights(st: EpochState, rows: NDArray[np.int64], forbids: Mask, owner: int | None
             ) -> tuple[Bits, Mask, NDArray[np.int64]]:
    """Stored weights (max-upscaled), masked and row-normalized, and each entry's stored position."""
    h = st.hyper
    n = st.n
    raw = np.zeros((len(rows), n), dtype=np.int64)
    present = np.zeros((len(rows), n), dtype=bool)
    # Stored positions matter only to liquid alpha's sorted walk; skip the matrix otherwise.
    order = np.zeros((len(rows), n) if st.liquid_alpha else (0, 0), dtype=np.int64)
    for k, uid in enumerate(rows):
        if forbids[uid]:
            continue
        uids, values = st.weights[uid]
        if len(uids) == 0:
            continue
        keep = uids < n  # the chain drops entries naming UIDs past the subnet's size
        raw[k, uids[keep]] = _max_upscale(values)[keep]
        present[k, uids[keep]] = True
        if st.liquid_alpha:
            order[k, uids[keep]] = np.flatnonzero(keep)
    if len(rows):
        diagonal = rows != (owner if owner is not None else -1)
        raw[np.flatnonzero(diagonal), rows[diagonal]] = 0
        present[np.flatnonzero(diagonal), rows[diagonal]] = False
        outdated = st.last_update[rows][:, None] <= st.block_at_registration[None, :]
        if h.commit_reveal_enabled and st.commit_block is not None:
            outdated |= st.commit_block[rows][:, None] < st.block_at_registration[None, :]
        present &= ~outdated
        raw *= present
    return div(raw, raw.sum(axis=1, keepdims=True)), present, order


def _max_upscale(values: NDArray[np.int64]) -> NDArray[np.int64]:
    """``vec_u16_max_upscale_to_u16`` as set_weights applies it before storing a row."""
    top = int(values.max())
    if top == 0:
        return np.zeros_like(values)
    if top > 32768:
        scale = (fixed.U16_MAX << FRAC) // top
        bits = values * scale
    else:
        numerator = values * fixed.U16_MAX
        quotient, remainder = np.divmod(numerator, top)
        bits = (quotient << FRAC) + (remainder << FRAC) // top
    return np.minimum((bits + fixed.HALF) >> FRAC, fixed.U16_MAX)  # round half away from zero


def _consensus(weights: Bits, active_stake: Bits, rows: NDArray[np.int64], kappa: int) -> Bits:
    """Stake-weighted median per column, exactly what the chain's mid-pivot search returns.

    The search returns the smallest column value ``v`` whose cumulative stake (values <= v) exceeds
    ``minority = stake_sum - kappa``, or the largest value when none does. Rows with positive stake
    but no weights count as zeros.
    """
    n = weights.shape[1]
    positive = active_stake > 0
    if not positive.any():
        return np.zeros(n, dtype=np.int64)
    use_stake = np.zeros_like(active_stake)
    use_stake[positive] = _normalize(active_stake[positive])
    minority = int(use_stake.sum()) - kappa
    in_rows = np.zeros(len(active_stake), dtype=bool)
    in_rows[rows] = True
    zero_mass = int(use_stake[positive & ~in_rows].sum())
    voting = np.flatnonzero(positive[rows])
    if zero_mass > 0 and zero_mass > minority:
        return np.zeros(n, dtype=np.int64)
    if len(voting) == 0:
        return np.zeros(n, dtype=np.int64)
    shift = max(1, int(len(voting) - 1).bit_length())
    # One sort of (value, row) keys per column; then accumulate down the sorted rows, which numpy
    # vectorizes across columns when the accumulated axis is the outer one.
    keys = (weights[voting].T << shift) | np.arange(len(voting), dtype=np.int64)[None, :]
    keys.sort(axis=1)
    keys = np.ascontiguousarray(keys.T)
    cumulative = np.cumsum(use_stake[rows[voting]][keys & ((1 << shift) - 1)], axis=0)
    above = cumulative > (minority - zero_mass)
    first = np.where(above[-1], above.argmax(axis=0), len(voting) - 1)
    return keys[first, np.arange(n)] >> shift


def _bonds(st: EpochState, rows: NDArray[np.int64], recent: Mask) -> tuple[Bits, Mask]:
    raw = np.zeros((len(rows), st.n), dtype=np.int64)
    present = np.zeros((len(rows), st.n), dtype=bool)
    for k, uid in enumerate(rows):
        uids, values = st.bonds[uid]
        raw[k, uids] = values
        present[k, uids] = True
    present &= ~recent[None, :]
    raw *= present
    return raw, present


def _col_normalize(x: Bits) -> Bits:
    return div(x, x.sum(axis=0, keepdims=True)) if x.size else x


def _yuma2_bonds(w_bonds: Bits, bond_u16: Bits, bond_present: Mask, alpha: int, incentive: Bits,
                 active_stake: Bits, rows: NDArray[np.int64]) -> tuple[Bits, Mask, Bits]:
    bonds = _col_normalize(bond_u16)  # integer-valued u16 bonds, normalized per miner
    delta = _col_normalize(mul(w_bonds, active_stake[rows][:, None]))
    ema = mul(delta, alpha) + mul(bonds, ONE - alpha)
    present = ema > 0
    ema = _col_normalize(ema)
    dividends = np.zeros(len(active_stake), dtype=np.int64)
    dividends[rows] = mul(ema, incentive[None, :]).sum(axis=1)
    return ema, present, _normalize(dividends)


def _yuma3_bonds(st: EpochState, liquid: bool, w_bonds: Bits, w_present: Mask, w_order: NDArray[np.int64] | None,
                 bond_u16: Bits, bond_present: Mask, consensus: Bits, alpha: int, incentive: Bits,
                 active_stake: Bits, rows: NDArray[np.int64]) -> tuple[Bits, Mask, Bits]:
    bonds = div(bond_u16, fixed.U16_MAX)  # stored u16 read back as a proportion
    if liquid:
        # The chain looks each (i, j) up by walking the sparse rows as if sorted by UID; an entry
        # that follows a larger UID in its row is not found and reads as 0.
        w_seen = _sorted_walk_visible(w_present, w_order)
        b_seen = _sorted_walk_visible(bond_present, _bond_order(st, rows))
        alphas = _liquid_alphas(st, np.where(w_seen, w_bonds, 0), w_present, np.where(b_seen, bonds, 0), consensus)
        decayed = mul(bonds, ONE - alphas)
        ema = np.minimum(decayed + np.maximum(mul(w_bonds, alphas), 0), ONE)
        # mat_ema_alpha_sparse emits only entries present in W_b: an absent weight resets its bond.
        present = w_present & (ema > 0)
        ema = np.where(present, ema, 0)
    else:
        ema = mul(w_bonds, alpha) + mul(bonds, ONE - alpha)
        present = ema > 0
    normalized = _col_normalize(ema)
    per_validator = np.zeros(len(active_stake), dtype=np.int64)
    per_validator[rows] = mul(normalized, incentive[None, :]).sum(axis=1)
    return ema, present, _normalize(mul(per_validator, active_stake))


def _liquid_alphas(st: EpochState, w_bonds: Bits, w_present: Mask, bonds: Bits, consensus: Bits) -> Bits:
    """``alpha_sigmoid`` per (validator, miner), evaluated only where W_b has an entry."""
    h = st.hyper
    low, high = u16_ratio(h.alpha_low), u16_ratio(h.alpha_high)
    # I32F32(steepness) / I32F32(-100): truncation toward zero.
    steep = -((abs(h.alpha_sigmoid_steepness) << FRAC) // 100) * (1 if h.alpha_sigmoid_steepness >= 0 else -1)
    idx = np.nonzero(w_present)
    w = w_bonds[idx]
    b = bonds[idx]
    c = consensus[idx[1]]
    diff = np.where(w >= b, np.clip(w - c, 0, ONE), np.clip(b - w, 0, ONE))
    arg = _mul_by_scalar(diff - fixed.HALF, steep)
    exps = np.empty_like(arg)
    # The 30-term series is ~300 array passes: run it in cache-sized chunks.
    for start in range(0, len(arg), _EXP_CHUNK):
        exps[start:start + _EXP_CHUNK] = fixed.exp_safe(arg[start:start + _EXP_CHUNK])
    sigmoid = div(ONE, ONE + exps)
    # clamp_value is max(min(x, high), low): with low > high it yields low, unlike np.clip.
    alpha = np.maximum(np.minimum(low + fixed.mul_signed(np.full_like(sigmoid, high - low), sigmoid), high), low)
    alphas = np.zeros_like(w_bonds)
    alphas[idx] = alpha
    return alphas


def _bond_order(st: EpochState, rows: NDArray[np.int64]) -> NDArray[np.int64]:
    order = np.zeros((len(rows), st.n), dtype=np.int64)
    for k, uid in enumerate(rows.tolist()):
        uids = st.bonds[uid][0]
        order[k, uids] = np.arange(len(uids))
    return order


def _sorted_walk_visible(present: Mask, order: NDArray[np.int64] | None) -> Mask:
    """Entries a peekable walk in UID order finds: those larger than every UID stored before them."""
    if order is None:
        return present
    visible = present.copy()
    for k in range(present.shape[0]):
        cols = np.flatnonzero(present[k])
        if len(cols) < 2:
            continue
        in_stored_order = cols[np.argsort(order[k, cols], kind="stable")]
        before = np.maximum.accumulate(np.concatenate(([-1], in_stored_order[:-1])))
        visible[k, in_stored_order[in_stored_order <= before]] = False
    return visible


def _mul_by_scalar(y: Bits, s: int) -> Bits:
    """Floor ``y * s`` for a signed I32F32 scalar ``s`` and ``|y| <= 2**31``."""
    s_high, s_low = s >> FRAC, s & fixed.MASK32
    return y * s_high + ((y * s_low) >> FRAC)


def _emission(incentive: Bits, dividends: Bits, active_stake: Bits, stake: Bits, rao: int
              ) -> tuple[list[int], list[int], list[int]]:
    combined = incentive + dividends
    total = int(combined.sum())
    server_share = div(incentive, total) if total else incentive
    validator_share = div(dividends, total) if total else dividends
    combined_share = div(combined, total) if total else combined
    if total == 0:
        # No weights, only outdated ones or only self-weights: validators get stake instead.
        fallback = stake if int(active_stake.sum()) == 0 else active_stake
        validator_share = combined_share = fallback
    cap = (1 << 64) - 1
    return tuple(  # type: ignore[return-value]
        [min((int(x) * rao) >> FRAC, cap) for x in share]
        for share in (server_share, validator_share, combined_share)
    )


def _sparse_rows(rows: NDArray[np.int64], values: Bits, present: Mask, order: NDArray[np.int64] | None,
                 n: int) -> list[list[list[int]]]:
    out: list[list[list[int]]] = [[] for _ in range(n)]
    for k, uid in enumerate(rows.tolist()):
        cols = np.flatnonzero(present[k])
        if order is not None:
            cols = cols[np.argsort(order[k, cols], kind="stable")]
        out[uid] = np.stack([cols, values[k, cols]], axis=1).tolist()
    return out


def _bond_rows(permits_new: Mask, permits_old: Mask, rows: NDArray[np.int64], stored: Bits,
               present: Mask, order: NDArray[np.int64] | None, n: int) -> list[list[list[int]] | None]:
    sparse = _sparse_rows(rows, stored, present, order, n)
    return [
        sparse[uid] if permits_new[uid] else ([] if permits_old[uid] else None)
        for uid in range(n)
    ]

"""The root network: how TSR emission is split among subnets (Bittensor's pre-2025 root consensus).

The root validators (the top stakers of subnet 0, at most 64) weigh subnets. With their stake S
normalized and each weight row normalized::

    rank_k      = sum_i S_i * W_ik
    trust_k     = sum_i S_i * [W_ik > 0]
    consensus_k = 1 / (1 + exp(-rho * (trust_k - kappa)))      rho = 10, kappa = 0.5
    share_k     = normalize(consensus_k * rank_k)

in the same I32F32 fixed point as the subnet epoch, so every root validator computes identical
leaves. A subnet only a small minority of stake votes for gets a sigmoid-suppressed share, which is
what stops one large staker from steering emission to its own subnet.
"""

from __future__ import annotations

import numpy as np

from .fixed import FRAC, ONE, div, exp_safe, mul

RHO = 10
KAPPA = ONE // 2


def root_shares(stakes: list[int], weights: list[dict[int, int]], subnets: int) -> list[int]:
    """I32F32 share of each subnet (index = netuid; the root itself, netuid 0, gets 0)."""
    total = sum(stakes)
    if total == 0 or subnets <= 1:
        return [0] * subnets
    s = np.array([(x << FRAC) // total for x in stakes], dtype=np.int64)
    rank = np.zeros(subnets, dtype=np.int64)
    trust = np.zeros(subnets, dtype=np.int64)
    for stake, row in zip(s, weights):
        row = {k: v for k, v in row.items() if 0 < k < subnets}
        row_sum = sum(row.values())
        if stake == 0 or row_sum == 0:
            continue
        uids = np.array(sorted(row), dtype=np.int64)
        w = div(np.array([row[k] for k in sorted(row)], dtype=np.int64), row_sum)
        rank[uids] += mul(w, int(stake))
        trust[uids] += np.where(w > 0, stake, 0)
    consensus = div(ONE, ONE + exp_safe(-RHO * (trust - KAPPA)))
    weighted = mul(consensus, rank)
    weighted[0] = 0
    s_total = int(weighted.sum())
    return [0] * subnets if s_total == 0 else div(weighted, s_total).tolist()


def allocate(amount: int, shares: list[int]) -> list[int]:
    """Split ``amount`` (wei) by I32F32 shares, flooring; the remainder stays in the root pool."""
    return [(amount * share) >> FRAC for share in shares]

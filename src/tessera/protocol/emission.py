"""Reference model of the TSR emission schedule (what EmissionSchedule.sol must match).

emission(issuance) = base / 2^floor(log2(1 / (1 - issuance/cap))), computed here with exact
integers: floor(log2(cap/remaining)) == bit_length(cap // remaining) - 1 for cap >= remaining.
"""

from __future__ import annotations

TSR = 10**18
CAP = 21_000_000 * TSR


def halvings_at(issuance: int, cap: int = CAP) -> int | None:
    """Number of halvings at this issuance; None once the cap is reached (no emission)."""
    if issuance >= cap:
        return None
    return (cap // (cap - issuance)).bit_length() - 1


def emission_at(issuance: int, base: int, cap: int = CAP) -> int:
    k = halvings_at(issuance, cap)
    return 0 if k is None else base >> k


def halving_threshold(k: int, cap: int = CAP) -> int:
    """Issuance at which the k-th halving takes effect: cap * (1 - 1/2^k), rounded up."""
    return cap - (cap >> k)


def emission_for(issuance: int, periods: int, base: int, cap: int = CAP) -> int:
    """Total minted by `periods` consecutive periods, one period at a time (slow, obviously right)."""
    total = 0
    for _ in range(periods):
        amount = min(emission_at(issuance, base, cap), cap - issuance)
        if amount == 0:
            break
        issuance += amount
        total += amount
    return total

"""A literal, scalar transliteration of Bittensor's sparse ``epoch_mechanism`` in Python ints.

It exists only to cross-check the vectorized implementation on random states: every function
mirrors the chain's ``math.rs`` routine of the same name, entry by entry, with sparse rows as
lists of ``(uid, bits)`` in stored order. It is slow on purpose and shares no code with
``tessera.subnet.yuma`` beyond nothing at all (not even the fixed-point helpers).
"""

from __future__ import annotations

from typing import Any

F = 32
ONE = 1 << F
I32_MAX = (1 << 63) - 1
E_BITS = (0xADF85458A2BB4A9AAFDC5620273D3CF1 >> 103) << 9


def fmul(a: int, b: int) -> int:
    return (a * b) >> F  # arithmetic shift: floor, also for negatives


def fdiv(a: int, b: int) -> int:
    if b == 0:
        return 0
    q = abs(a << F) // abs(b)
    return q if (a >= 0) == (b > 0) else -q  # truncation toward zero


def u16_prop(x: int) -> int:
    return fdiv(x << F, 65535 << F)


def to_u16(x: int) -> int:
    return max(0, min(65535, (x * 65535) >> F))


def exp(x: int) -> int:
    if x == 0:
        return ONE
    if x == ONE:
        return E_BITS
    neg = x < 0
    op = -x if neg else x
    result = op + ONE
    term = op
    for i in range(2, 32):
        term = fmul(term, op)
        if term > I32_MAX:
            raise OverflowError
        term = fdiv(term, i << F)
        result += term
    if neg:
        result = fdiv(ONE, result)
    return result


def exp_safe(x: int) -> int:
    return exp(max(-20 * ONE, min(20 * ONE, x)))


def normalize(x: list[int]) -> list[int]:
    s = sum(x)
    return list(x) if s == 0 else [fdiv(v, s) for v in x]


def weighted_median(stake: list[int], score: list[int], minority: int, lo: int, hi: int) -> int:
    part = list(range(len(stake)))
    while True:
        if not part:
            return 0
        if len(part) == 1:
            return score[part[0]]
        pivot = score[part[len(part) // 2]]
        lo_stake = hi_stake = 0
        lower: list[int] = []
        upper: list[int] = []
        for idx in part:
            if score[idx] == pivot:
                continue
            if score[idx] < pivot:
                lo_stake += stake[idx]
                lower.append(idx)
            else:
                hi_stake += stake[idx]
                upper.append(idx)
        if minority < lo + lo_stake and lower:
            part, hi = lower, lo + lo_stake
        elif hi - hi_stake <= minority and upper:
            part, lo = upper, hi - hi_stake
        else:
            return pivot


def max_upscale(values: list[int]) -> list[int]:
    bits = [v << F for v in values]
    top = max(bits)
    if top == 0:
        return [fmul(b, 65535 << F) >> F for b in bits]
    def rnd(x: int) -> int:
        return ((x + (ONE >> 1)) >> F) << F
    if top > (32768 << F):
        q = fdiv(65535 << F, top)
        return [min(65535, rnd(fmul(b, q)) >> F) for b in bits]
    return [min(65535, rnd(fdiv(fmul(b, 65535 << F), top)) >> F) for b in bits]


def epoch(state: dict[str, Any]) -> dict[str, Any]:
    version = state["yuma_version"]
    h = state["hyperparameters"]
    x = state["inputs"]
    n = len(x["last_update"])
    yuma3, liquid_on = version != "yuma2", version == "yuma3_liquid"
    owner = h.get("owner_uid", -1)
    owner = owner if 0 <= owner < n else None
    cb = x["current_block"]
    inactive = [lu + h["activity_cutoff"] < cb for lu in x["last_update"]]
    reg = x["block_at_registration"]

    tw = (h["tao_weight"] << F) // ((1 << 64) - 1)
    total = [(a << 64) + ((t << 64) * (tw << 32) >> 64) for a, t in zip(x["alpha_stake"], x["tao_stake"])]
    total = [0 if (s >> 64) < h["stake_threshold"] and uid != owner else s for uid, s in enumerate(total)]
    ssum = sum(total)
    stake = [((s << 64) // ssum) >> 32 if ssum else s >> 32 for s in total]

    permits = list(x["validator_permit"])
    forbids = [not p for p in permits]
    if owner is not None:
        forbids[owner] = False
    new_permits = [s != 0 for s in stake]
    k = h["max_allowed_validators"]
    if n >= k:
        for idx in sorted(range(n), key=lambda i: stake[i])[: n - k]:
            new_permits[idx] = False
    active_stake = normalize([0 if inactive[i] or forbids[i] else stake[i] for i in range(n)])

    weights: list[list[tuple[int, int]]] = []
    for row in x["weights_submitted"]:
        ups = max_upscale([v for _, v in row]) if row else []
        weights.append([(j, w << F) for (j, _), w in zip(row, ups) if j < n])
    weights = [[] if forbids[i] else r for i, r in enumerate(weights)]
    weights = [[(j, v) for j, v in r if i != j or (owner is not None and i == owner)] for i, r in enumerate(weights)]
    weights = [[(j, v) for j, v in r if not x["last_update"][i] <= reg[j]] for i, r in enumerate(weights)]
    if h.get("commit_reveal_enabled") and x.get("commit_block") is not None:
        cbs = [(1 << 64) - 1 if c is None else c for c in x["commit_block"]]
        weights = [[(j, v) for j, v in r if not cbs[i] < reg[j]] for i, r in enumerate(weights)]
    for i, r in enumerate(weights):
        s = sum(v for _, v in r)
        if s > 0:
            weights[i] = [(j, fdiv(v, s)) for j, v in r]

    use_stake = normalize([s for s in active_stake if s > 0])
    stake_sum = sum(use_stake)
    minority = stake_sum - u16_prop(h["kappa"])
    use_score = [[0] * len(use_stake) for _ in range(n)]
    kk = 0
    for i in range(n):
        if active_stake[i] <= 0:
            continue
        for j, v in weights[i]:
            use_score[j][kk] = v
        kk += 1
    consensus = [weighted_median(use_stake, use_score[j], minority, 0, stake_sum) for j in range(n)]

    clipped = []
    for r in weights:
        out = []
        for j, v in r:
            if consensus[j] < v:
                if consensus[j] > 0:
                    out.append((j, consensus[j]))
            else:
                out.append((j, v))
        clipped.append(out)
    vtrust = [sum(v for _, v in r) for r in clipped]
    ranks = [0] * n
    for i, r in enumerate(clipped):
        for j, v in r:
            ranks[j] += fmul(active_stake[i], v)
    incentive = normalize(ranks)

    beta = u16_prop(h["bonds_penalty"])
    if beta == 0:
        wb = weights
    elif beta == ONE:
        wb = clipped
    else:
        wb = []
        for i in range(n):
            r1, r2 = [0] * n, [0] * n
            for j, v in weights[i]:
                r1[j] = v
            for j, v in clipped[i]:
                r2[j] = v
            row = []
            for j in range(n):
                val = r1[j] + fmul(beta, r2[j] - r1[j])
                if val > 0:
                    row.append((j, val))
            wb.append(row)

    lms = x.get("last_mechanism_step_block", 0)
    last_tempo = max(cb - h["tempo"], 0) if lms == 0 else lms + 1
    bonds = [[(j, b << F) for j, b in r] for r in x["bonds"]]
    alpha = ONE - (((h["bonds_moving_average"] << 64) // 1_000_000) >> 32)

    def col_normalize(m: list[list[tuple[int, int]]]) -> list[list[tuple[int, int]]]:
        cs = [0] * n
        for r in m:
            for j, v in r:
                cs[j] += v
        return [[(j, fdiv(v, cs[j]) if cs[j] else v) for j, v in r] for r in m]

    def ema_sparse(new: list[list[tuple[int, int]]], old: list[list[tuple[int, int]]]) -> list[list[tuple[int, int]]]:
        out = []
        for i in range(n):
            row = [0] * n
            for j, v in new[i]:
                row[j] += fmul(alpha, v)
            for j, v in old[i]:
                row[j] += fmul(ONE - alpha, v)
            out.append([(j, v) for j, v in enumerate(row) if v > 0])
        return out

    if yuma3:
        bonds = [[(j, fdiv(v, 65535 << F)) for j, v in r] for r in bonds]
        bonds = [[(j, v) for j, v in r if not last_tempo <= reg[j]] for r in bonds]
        if liquid_on and any(c != 0 for c in consensus):
            low, high = u16_prop(h["alpha_low"]), u16_prop(h["alpha_high"])
            steep = fdiv(h["alpha_sigmoid_steepness"] << F, -100 << F)
            ema = []
            for i in range(n):
                alphas = []
                wi, bi = 0, 0
                for j in range(n):
                    w = b = 0
                    while wi < len(wb[i]):
                        if wb[i][wi][0] < j:
                            wi += 1
                        else:
                            if wb[i][wi][0] == j:
                                w = wb[i][wi][1]
                            break
                    while bi < len(bonds[i]):
                        if bonds[i][bi][0] < j:
                            bi += 1
                        else:
                            if bonds[i][bi][0] == j:
                                b = bonds[i][bi][1]
                            break
                    buy = max(0, min(ONE, w - consensus[j]))
                    sell = max(0, min(ONE, b - w))
                    d = buy if w >= b else sell
                    sig = fdiv(ONE, ONE + exp_safe(fmul(steep, d - (ONE >> 1))))
                    a = low + fmul(sig, high - low)
                    alphas.append(max(min(a, high), low))
                decayed = [0] * n
                for j, v in bonds[i]:
                    decayed[j] = fmul(ONE - alphas[j], v)
                row = []
                for j, v in wb[i]:
                    val = min(decayed[j] + max(fmul(alphas[j], v), 0), ONE)
                    if val > 0:
                        row.append((j, val))
                ema.append(row)
        else:
            ema = ema_sparse(wb, bonds)
        norm = col_normalize(ema)
        tbv = [sum(fmul(v, incentive[j]) for j, v in r) for r in norm]
        dividends = normalize([fmul(t, s) for t, s in zip(tbv, active_stake)])
        stored_rows = [[(j, to_u16(v)) for j, v in r] for r in ema]
    else:
        bonds = [[(j, v) for j, v in r if not last_tempo <= reg[j]] for r in bonds]
        bonds = col_normalize(bonds)
        delta = col_normalize([[(j, fmul(v, active_stake[i])) for j, v in r] for i, r in enumerate(wb)])
        ema = col_normalize(ema_sparse(delta, bonds))
        dividends = normalize([sum(fmul(incentive[j], v) for j, v in r) for r in ema])
        cm = [0] * n
        for r in ema:
            for j, v in r:
                cm[j] = max(cm[j], v)
        stored_rows = [[(j, to_u16(fdiv(v, cm[j]) if cm[j] else v)) for j, v in r] for r in ema]

    combined = [a + b for a, b in zip(incentive, dividends)]
    esum = sum(combined)
    se = [fdiv(v, esum) if esum else v for v in incentive]
    ve = [fdiv(v, esum) if esum else v for v in dividends]
    ce = normalize(combined)
    if esum == 0:
        ve = ce = list(stake if sum(active_stake) == 0 else active_stake)
    rao = h["rao_emission"]
    bonds_stored = [
        [list(e) for e in stored_rows[i]] if new_permits[i] else ([] if permits[i] else None) for i in range(n)
    ]
    return {
        "new_validator_permits": new_permits,
        "active": [not a for a in inactive],
        "stake_bits": stake,
        "active_stake_bits": active_stake,
        "consensus_bits": consensus,
        "validator_trust_bits": vtrust,
        "incentive_bits": incentive,
        "dividends_bits": dividends,
        "bonds_stored": bonds_stored,
        "server_emission": [(v * rao) >> F for v in se],
        "validator_emission": [(v * rao) >> F for v in ve],
        "combined_emission": [(v * rao) >> F for v in ce],
        "consensus_u16": [to_u16(v) for v in consensus],
        "incentive_u16": [to_u16(v) for v in incentive],
        "dividends_u16": [to_u16(v) for v in dividends],
        "validator_trust_u16": [to_u16(v) for v in vtrust],
        "stake_weight_u16": [to_u16(v) for v in stake],
    }

"""Why an order has no bids, from the providers' declared attributes, free capacity and asks."""

from __future__ import annotations

from dataclasses import dataclass

from ..units import units_text

from .types import Order, ProviderInfo


def money(units: int, decimals: int) -> str:
    return units_text(units, decimals)


@dataclass(frozen=True)
class Explanation:
    matching: int  # providers that could serve it at a price within the max
    lines: list[str]


def explain_no_bids(order: Order, providers: list[ProviderInfo], decimals: int, min_bond: int) -> Explanation:
    spec, req = order.spec, order.spec.requirements
    want = [f"region={req.region}" if req.region else "", f"gpu={req.gpu_model}" if req.gpu_model else ""]
    live = [p for p in providers if p.registered and p.unbond_at == 0 and p.bond >= min_bond]
    if not live:
        return Explanation(0, ["no bonded provider is registered on this market"])
    attr = [p for p in live if (not req.region or p.region == req.region.lower())
            and (not req.gpu_model or p.gpu_model == req.gpu_model.lower())]
    if not attr:
        wanted = " ".join(w for w in want if w)
        regions = sorted({p.region or "-" for p in live})
        gpus = sorted({p.gpu_model or "-" for p in live})
        return Explanation(0, [f"no provider has {wanted}: providers offer regions {', '.join(regions)} "
                               f"and gpus {', '.join(gpus)}"])
    if req.auditor:
        attr = [p for p in attr if req.auditor in p.certified_by]
        if not attr:
            return Explanation(0, [f"no matching provider is certified by auditor {req.auditor}"])
    room = [p for p in attr if spec.resources.fits_in(p.capacity)]
    if not room:
        biggest = max(attr, key=lambda p: p.capacity.as_abi())
        return Explanation(0, [f"no matching provider is large enough for {spec.resources.describe()}; "
                               f"the largest offers {biggest.capacity.describe()}"])
    free = [p for p in room if spec.resources.fits_in(p.free)]
    if not free:
        return Explanation(0, [f"{len(room)} matching provider(s) are large enough but busy: "
                               "their capacity is reserved by other bids and leases; try again later"])
    asks = sorted((p.prices.price_for(spec.resources), p.address) for p in free)
    cheapest, who = asks[0]
    within = [a for a in asks if a[0] <= spec.max_price_per_hour]
    if not within:
        return Explanation(0, [f"cheapest matching ask is {money(cheapest, decimals)}/h ({who}) above your max "
                               f"{money(spec.max_price_per_hour, decimals)}/h: raise max_price_per_hour"])
    return Explanation(len(within), [
        f"{len(within)} provider(s) match and ask at most your max (cheapest {money(cheapest, decimals)}/h); "
        "they may be offline or have not bid yet"])

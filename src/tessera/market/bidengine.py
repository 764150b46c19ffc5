"""Decide whether and at what price a provider bids on an order. Pure: no chain access."""

from __future__ import annotations

from dataclasses import dataclass, field

from .pricing import PricingStrategy
from .types import Order, OrderState, Resources


@dataclass(frozen=True)
class Decision:
    bid: bool
    price: int | None
    reason: str


@dataclass
class BidEngine:
    region: str
    gpu_model: str
    pricing: PricingStrategy
    certified_by: frozenset[str] = field(default_factory=frozenset)
    margin_seconds: int = 2  # don't bid into a window that closes before the bid can land

    def evaluate(self, order: Order, free: Resources, now: int) -> Decision:
        spec, req = order.spec, order.spec.requirements
        if order.state != OrderState.OPEN:
            return Decision(False, None, f"order is {order.state.name.lower()}")
        if now + self.margin_seconds >= order.closes_at:
            return Decision(False, None, "bid window closed")
        if req.region and req.region.lower() != self.region.lower():
            return Decision(False, None, f"region {req.region} required, we are in {self.region or 'none'}")
        if req.gpu_model and req.gpu_model.lower() != self.gpu_model.lower():
            return Decision(False, None, f"gpu {req.gpu_model} required, we have {self.gpu_model or 'none'}")
        if req.auditor and req.auditor not in self.certified_by:
            return Decision(False, None, f"not certified by auditor {req.auditor}")
        if not spec.resources.fits_in(free):
            return Decision(False, None, f"needs {spec.resources.describe()}, free {free.describe()}")
        price = self.pricing.price(order)
        if price is None:
            return Decision(False, None, "pricing strategy declined")
        if price > spec.max_price_per_hour:
            return Decision(False, price, f"our ask {price} is above the max {spec.max_price_per_hour}")
        return Decision(True, price, "bid")

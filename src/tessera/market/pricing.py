"""How a provider prices an order: a linear price list by default, an external script as escape hatch."""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass
from typing import Protocol, Sequence

from ..errors import PricingError
from .types import Order, Prices


class PricingStrategy(Protocol):
    def price(self, order: Order) -> int | None:
        """Price per hour in stablecoin base units, or None to decline."""


@dataclass(frozen=True)
class LinearPricing:
    """Sum of per-resource prices; the same list the provider publishes on-chain as its asks."""

    prices: Prices

    def price(self, order: Order) -> int | None:
        return max(self.prices.price_for(order.spec.resources), 1)


def order_json(order: Order) -> dict[str, object]:
    spec = order.spec
    return {
        "order_id": order.order_id, "tenant": order.tenant, "closes_at": order.closes_at,
        "resources": asdict(spec.resources), "requirements": asdict(spec.requirements),
        "max_price_per_hour": spec.max_price_per_hour, "deposit": spec.deposit,
        "manifest_hash": "0x" + spec.manifest_hash.hex(),
    }


@dataclass(frozen=True)
class ScriptPricing:
    """Runs `command` with the order as JSON on stdin. The script prints `{"price_per_hour": N}` to bid
    or `{"price_per_hour": null}` to decline."""

    command: Sequence[str]
    timeout: float = 5.0

    def price(self, order: Order) -> int | None:
        try:
            proc = subprocess.run(list(self.command), input=json.dumps(order_json(order)), capture_output=True,
                                  text=True, timeout=self.timeout, check=False)
        except FileNotFoundError:
            raise PricingError(f"pricing script {self.command[0]!r} not found: fix `pricing.script`") from None
        except subprocess.TimeoutExpired:
            raise PricingError(f"pricing script {' '.join(self.command)} took over {self.timeout} s: "
                               "make it faster or raise `pricing.timeout`") from None
        if proc.returncode != 0:
            raise PricingError(f"pricing script exited with {proc.returncode}: {proc.stderr.strip()[:300]}")
        try:
            out = json.loads(proc.stdout)
            value = out["price_per_hour"]
        except (ValueError, KeyError, TypeError):
            raise PricingError('pricing script must print {"price_per_hour": N} (or null to decline), '
                               f"got {proc.stdout.strip()[:200]!r}") from None
        if value is None:
            return None
        if not isinstance(value, int) or value <= 0:
            raise PricingError(f"pricing script returned {value!r}: price_per_hour must be a positive integer "
                               "in stablecoin base units")
        return value

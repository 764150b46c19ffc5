"""The compute marketplace: orders, a reverse auction, leases with streaming escrow."""

from .client import MarketClient, MarketParams
from .spec import DeploymentSpec, Manifest, load_spec, parse_spec
from .types import (Bid, CloseReason, Lease, LeaseState, LeaseStatus, Order, OrderSpec, OrderState, Prices,
                    ProviderInfo, Requirements, Resources)

__all__ = [
    "Bid", "CloseReason", "DeploymentSpec", "Lease", "LeaseState", "LeaseStatus", "Manifest", "MarketClient",
    "MarketParams", "Order", "OrderSpec", "OrderState", "Prices", "ProviderInfo", "Requirements", "Resources",
    "load_spec", "parse_spec",
]

"""The provider node: bids on orders, runs won workloads in a sandbox, heartbeats and withdraws."""

from .node import ProviderConfig, ProviderNode, StepReport

__all__ = ["ProviderConfig", "ProviderNode", "StepReport"]

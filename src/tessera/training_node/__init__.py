"""The training nodes (docs/training.md, "nodes"): a solver that claims, trains, commits, serves its states and
defends them, and a verifier that audits, signs off or challenges, and plays the dispute game. Both are asyncio
services with SQLite state that follow TrainingMarket events reorg-safely and survive kill -9."""

from .base import NodeReport, NodeSettings, TrainingNode
from .solver import SolverNode, SolverSettings
from .source import SolverSource
from .verifier import VerifierNode, VerifierSettings

__all__ = ["NodeReport", "NodeSettings", "SolverNode", "SolverSettings", "SolverSource", "TrainingNode",
           "VerifierNode", "VerifierSettings"]

"""The agent runtime (`tessera agent run`): an asyncio service with SQLite state that publishes its card,
serves its paid skills through the payments middleware, and spends through its owner's policy wallet."""

from .api import create_app
from .config import AgentConfig, load_agent_config
from .node import AgentNode, PaymentRecord

__all__ = ["AgentConfig", "AgentNode", "PaymentRecord", "create_app", "load_agent_config"]

"""Open the chain that the settings name: an rpc URL, else the embedded chain."""

from __future__ import annotations

from ..config import Settings
from .base import Chain
from .embedded import EmbeddedChain
from .rpc import RpcChain


def connect(settings: Settings) -> Chain:
    if settings.rpc_url:
        chain = RpcChain(settings.rpc_url)
        chain.chain_id  # fail now, with a clear message, if the node is unreachable
        return chain
    if settings.ephemeral:
        return EmbeddedChain()
    return EmbeddedChain(settings.embedded_chain_path)

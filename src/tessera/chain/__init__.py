"""`tessera.chain`: one Chain interface, an embedded py-evm backend and a JSON-RPC backend."""

from .base import Block, CallRequest, Chain, Log, Receipt
from .connect import connect
from .contract import Contract, Signer, send_transaction
from .embedded import EmbeddedChain
from .events import EventFollower, FollowerStatus
from .rpc import RpcChain

__all__ = [
    "Block",
    "CallRequest",
    "Chain",
    "Contract",
    "EmbeddedChain",
    "EventFollower",
    "FollowerStatus",
    "Log",
    "Receipt",
    "RpcChain",
    "Signer",
    "connect",
    "send_transaction",
]

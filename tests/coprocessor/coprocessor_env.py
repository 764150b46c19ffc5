"""Coprocessor test helpers: constants, the test environment, time travel. (Not named conftest, so that
test modules can import it without colliding with other packages' conftest modules.)"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.chain import Chain, Contract
from tessera.coprocessor import (
    CoordinatorClient,
    CoprocessorConfig,
    CoprocessorNode,
    ProofMode,
    RequestParams,
    encode_json_input,
    hash_instances,
)
from tessera.protocol.deploy import Deployment
from tessera.zkml import CompiledModel, input_commitment

USD = 10**6
TSR = 10**18
GWEI = 10**9
FEE = USD // 100  # 0.01 per node per interval
MIN_BOND = 10 * TSR
SLASH = 4 * TSR
WINDOW = 600
SAMPLE = {"input_data": [[0.5, -0.25, 0.75, 0.1]]}
OTHER = {"input_data": [[-0.4, 0.9, 0.05, -0.7]]}


@dataclass
class CoprocessorEnv:
    chain: Chain
    deployment: Deployment
    client: CoordinatorClient
    model: CompiledModel
    owner: Any
    consumer: Any
    nodes: list[Any]
    referee: Any
    store: Contract
    tmp: Path

    @property
    def model_id(self) -> bytes:
        return bytes.fromhex(self.model.model_id[2:])

    def input_hash(self, data: dict[str, Any]) -> bytes:
        return hash_instances(input_commitment(self.model, data))

    def params(self, data: dict[str, Any] | None = SAMPLE, **overrides: Any) -> RequestParams:
        base: dict[str, Any] = dict(model_id=self.model_id,
                                    input_hash=self.input_hash(data) if data is not None else bytes(32),
                                    fee=FEE, max_gas_price=10 * GWEI, callback_gas_limit=200_000, ttl=300,
                                    redundancy=1, mode=ProofMode.NONE, count=1, period=0)
        base.update(overrides)
        return RequestParams(**base)

    def request(self, data: dict[str, Any] = SAMPLE, **overrides: Any) -> int:
        request_id, _ = self.client.request(self.consumer, self.params(data, **overrides), encode_json_input(data))
        return request_id

    def request_via_store(self, data: dict[str, Any] | None = SAMPLE, **overrides: Any) -> int:
        """A request made by the ResultStore contract (so the result arrives in its callback)."""
        params = self.params(data, **overrides)
        coin = self.deployment.stablecoin
        coin.transact(self.consumer, "approve", self.store.address, self.client.escrow(params))
        receipt = self.store.transact(self.consumer, "requestInference", params.as_tuple(),
                                      encode_json_input(data) if data is not None else b"",
                                      value=self.client.gas_deposit(params))
        return self.client.request_id(receipt)

    def node(self, i: int, name: str | None = None, **config: Any) -> CoprocessorNode:
        cfg = CoprocessorConfig([self.model], **config)
        return CoprocessorNode(self.chain, self.deployment, self.nodes[i], cfg, self.tmp / (name or f"node{i}"))

    def coin(self, who: Any) -> int:
        return int(self.deployment.stablecoin.call("balanceOf", who if isinstance(who, str) else who.address))

    def bond(self, who: Any) -> int:
        return self.client.node_bond(who.address)[0]


def advance(chain: Chain, seconds: int) -> None:
    chain.increase_time(seconds)
    chain.mine(1)

"""Coprocessor fixtures: a deployed protocol, a registered model with public input and output, three bonded
nodes, a funded consumer account and a ResultStore consumer contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from coprocessor_env import MIN_BOND, SAMPLE, SLASH, USD, WINDOW, CoprocessorEnv

from tessera.accounts.dev import dev_account
from tessera.chain import Chain, Contract
from tessera.coprocessor import CoordinatorClient
from tessera.protocol.deploy import Deployment
from tessera.protocol.faucet import fund_stablecoin, fund_tsr
from tessera.zkml import CompiledModel, InferenceClient, ZkOptions, compile_model


@pytest.fixture(scope="session")
def public_model(mlp_path: Path, zk_cache: Path) -> CompiledModel:
    """The test MLP with public input and output: contracts can read its outputs and name its inputs."""
    model, _ = compile_model(mlp_path, ZkOptions(input_visibility="public", output_visibility="public"),
                             cache_dir=zk_cache)
    return model


@pytest.fixture
def cp_env(chain: Chain, deployment: Deployment, public_model: CompiledModel, tmp_path: Path) -> CoprocessorEnv:
    owner, consumer, referee = dev_account(0), dev_account(5), dev_account(9)
    nodes = [dev_account(i) for i in (1, 2, 3)]
    client = CoordinatorClient.of(chain, deployment)
    deployment.coordinator.transact(owner, "setParams", MIN_BOND, SLASH, WINDOW, 3 * 86400, referee.address,
                                    owner.address)
    InferenceClient.of(chain, deployment).register(owner, public_model)
    fund_stablecoin(chain, deployment, owner, consumer.address, 100 * USD)
    for node in nodes:
        fund_tsr(chain, deployment, owner, node.address, MIN_BOND)
        client.bond(node, MIN_BOND)
    store, _ = Contract.deploy(chain, consumer, "ResultStore", deployment.coordinator.address, consumer.address)
    return CoprocessorEnv(chain, deployment, client, public_model, owner, consumer, nodes, referee, store, tmp_path)


@pytest.fixture(scope="session")
def public_proof(public_model: CompiledModel) -> Any:
    """A proof of SAMPLE (one per worker: a few seconds)."""
    from tessera.zkml import prove

    return prove(public_model, SAMPLE)

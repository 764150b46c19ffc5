"""Shared fixtures. `chain` runs a test on the embedded chain and (marked `anvil`) on anvil."""

from __future__ import annotations

from typing import Iterator

import pytest

from tessera.accounts.dev import dev_account
from tessera.chain import Chain, EmbeddedChain
from tessera.chain.devnet import Devnet, start_anvil
from tessera.protocol.deploy import Deployment, deploy_protocol

pytest_plugins = ["zk_fixtures"]  # compiled models and proofs, shared by the zkml and market tests


@pytest.fixture(scope="session")
def anvil() -> Iterator[Devnet]:
    devnet = start_anvil()
    yield devnet
    devnet.stop()


@pytest.fixture(params=["embedded", pytest.param("anvil", marks=pytest.mark.anvil)])
def chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    if request.param == "embedded":
        with EmbeddedChain() as c:
            yield c
        return
    from tessera.chain import RpcChain

    devnet = request.getfixturevalue("anvil")
    c = RpcChain(devnet.url)
    snap = c.snapshot()
    try:
        yield c
    finally:
        c.revert(snap)
        c.close()


@pytest.fixture
def deployment(chain: Chain) -> Deployment:
    manifest, _ = deploy_protocol(chain, dev_account(0), path=None)
    return Deployment.from_manifest(chain, manifest)

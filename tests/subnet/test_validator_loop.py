"""The validator loop drives a whole epoch by itself, and a restart resumes from SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np
from eth_account import Account

from tessera.accounts.dev import dev_account
from tessera.chain import EmbeddedChain
from tessera.demo.models import reference_probabilities, write_classifier
from tessera.protocol.deploy import Deployment, deploy_protocol
from tessera.protocol.faucet import fund_tsr
from tessera.subnet.client import SubnetClient, SubnetHyper
from tessera.subnet.miner import create_miner_app, onnx_predictor
from tessera.subnet.validator import Dataset, SubnetValidator, ValidatorLoop, ValidatorStore

TSR = 10**18


def test_loop_commits_reveals_signs_finalizes_and_claims(tmp_path: Path) -> None:
    with EmbeddedChain() as chain:
        owner = dev_account(0)
        manifest, _ = deploy_protocol(chain, owner, path=None)
        d = Deployment.from_manifest(chain, manifest)
        validator, miner = dev_account(1), dev_account(2)
        for who in (validator, miner, owner):
            fund_tsr(chain, d, owner, who.address, 150 * TSR)
        client = SubnetClient(chain, d)
        netuid = client.create_subnet(owner, SubnetHyper(max_uids=4, max_validators=2, tempo=10,
                                                         immunity_period=100, reveal_window=10))
        miner_uid = client.register(miner, netuid)
        client.register(validator, netuid)
        client.stake(validator, netuid, validator.address, 10 * TSR)
        app = create_miner_app(Account.from_key(miner.key), onnx_predictor(write_classifier(tmp_path / "m.onnx")))
        rows = np.random.default_rng(0).normal(size=(8, 4)) + [5.8, 3.0, 3.8, 1.2]
        dataset = Dataset(rows, reference_probabilities(rows).argmax(axis=1))

        def make_loop() -> ValidatorLoop:
            node = SubnetValidator(client, validator, netuid, ValidatorStore(tmp_path / "v.sqlite"), dataset)
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://miner")
            return ValidatorLoop(node, {miner_uid: (miner.address, http)}, tmp_path / "sigs")

        loop = make_loop()
        assert "committed" in asyncio.run(loop.step())
        chain.mine(1)
        loop = make_loop()  # restart: the salt is in SQLite, so the reveal still happens
        messages = []
        for _ in range(40):
            messages.append(asyncio.run(loop.step()))
            if messages[-1].startswith("finalized"):
                break
            chain.mine(1)
        # weights committed in one epoch are revealed only after its boundary (nobody can copy them into it)
        revealed = next(i for i, m in enumerate(messages) if m.startswith("revealed"))
        assert any(m.startswith("waiting") for m in messages[:revealed]), messages
        assert messages[-1].startswith("finalized epoch 1"), messages
        loop = make_loop()  # restart again: finishing the epoch needs nothing held in memory
        assert "carried bonds" in asyncio.run(loop.step())
        assert loop.status()["permits"] >= 1
        assert client.subnet(netuid)["lastEpoch"] == 1
        # after its reveal, the loop committed the next period's weights before signing
        assert any(m.startswith("committed weights") for m in messages[revealed:]), messages

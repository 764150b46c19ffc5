"""Commit-reveal against weight copying, measured on the bit-exact epoch.

Miners' quality shifts every epoch. Honest validators weigh the current quality. A weight copier
sets no weights of its own: without commit-reveal it copies the honest validators' current weights
as soon as they are set; with commit-reveal it can only copy what was revealed, i.e. the previous
epoch's weights. Its dividends per unit of stake are compared with an honest validator's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tessera.subnet.yuma import run_epoch

V, M, EPOCHS = 3, 8, 12
STAKE = [400, 400, 200]  # validators 0, 1 honest; validator 2 copies


def _run(copier_lag: int) -> tuple[float, float]:
    rng = np.random.default_rng(11)
    n = V + M
    quality = [rng.random(M) for _ in range(EPOCHS + 1)]
    bonds: list[Any] = [[] for _ in range(n)]
    permits = [True] * V + [False] * M
    honest_div = copier_div = 0.0
    for e in range(1, EPOCHS + 1):
        def row(q: np.ndarray) -> list[list[int]]:
            return [[V + j, int(65535 * x / q.max())] for j, x in enumerate(q)]
        weights = [row(quality[e]), row(quality[e]), row(quality[e - copier_lag])] + [[] for _ in range(M)]
        state = {"yuma_version": "yuma3", "hyperparameters": {"rao_emission": 10**9},
                 "inputs": {"current_block": 1000 * e, "last_mechanism_step_block": 0,
                            "last_update": [1000 * e - 1] * V + [0] * M, "block_at_registration": [0] * n,
                            "alpha_stake": [s * 10**9 for s in STAKE] + [0] * M, "tao_stake": [0] * n,
                            "validator_permit": permits, "weights_submitted": weights, "bonds": bonds,
                            "commit_block": None}}
        out = run_epoch(state)
        bonds = [old if new is None else new for old, new in zip(bonds, out["bonds_stored"])]
        permits = out["new_validator_permits"]
        honest_div += out["validator_emission"][0] / STAKE[0]
        copier_div += out["validator_emission"][2] / STAKE[2]
    return honest_div, copier_div


def test_commit_reveal_cuts_a_weight_copiers_dividends() -> None:
    honest_open, copier_open = _run(copier_lag=0)  # no commit-reveal: copies current weights
    honest_cr, copier_cr = _run(copier_lag=1)  # commit-reveal: only last epoch's weights are visible
    open_ratio = copier_open / honest_open
    cr_ratio = copier_cr / honest_cr
    assert abs(open_ratio - 1) < 1e-3  # a perfect copy earns exactly what honest validators earn
    assert cr_ratio < 0.95 * open_ratio  # stale copies earn measurably less per unit of stake


def test_copier_on_the_contract_path_is_a_full_epoch_stale() -> None:
    """The lag above, measured on the real contract path: a copier that commits an honest validator's weights the
    moment they are revealed, and reveals as early as the SubnetRegistry lets it, never has them in the epoch
    they were revealed for: at every epoch boundary it holds the honest weights of the epoch before."""
    from tessera.accounts.dev import dev_account
    from tessera.chain import EmbeddedChain
    from tessera.protocol.deploy import Deployment, deploy_protocol
    from tessera.protocol.faucet import fund_tsr
    from tessera.subnet.client import SubnetClient, SubnetHyper

    tempo = 10
    with EmbeddedChain() as chain:
        owner = dev_account(0)
        manifest, _ = deploy_protocol(chain, owner, path=None)
        d = Deployment.from_manifest(chain, manifest)
        c = SubnetClient(chain, d)
        honest, copier = dev_account(1), dev_account(2)
        miners = [dev_account(i) for i in (3, 4, 5)]
        for who in (honest, copier, *miners, owner):
            fund_tsr(chain, d, owner, who.address, 150 * 10**18)
        netuid = c.create_subnet(owner, SubnetHyper(max_uids=8, max_validators=4, tempo=tempo, immunity_period=0,
                                                    reveal_window=tempo))
        for who in (honest, copier, *miners):
            c.register(who, netuid)
        huid, cuid = (int(c.registry.call("uidOf", netuid, v.address)[1]) for v in (honest, copier))
        reveals: dict[int, list[tuple[int, list[int]]]] = {huid: [], cuid: []}  # uid -> [(block, values)]
        rng = np.random.default_rng(5)
        for _ in range(4):
            values = [int(v) for v in rng.integers(1, 65535, size=3)]
            salt = c.commit_weights(honest, netuid, [2, 3, 4], values)
            c.wait_for_reveal(netuid, honest.address)
            c.reveal_weights(honest, netuid, [2, 3, 4], values, salt)
            reveals[huid].append((chain.block_number(), values))
            copied = c.commit_weights(copier, netuid, [2, 3, 4], values)  # the moment it is public
            c.wait_for_reveal(netuid, copier.address)  # as early as the contract allows
            c.reveal_weights(copier, netuid, [2, 3, 4], values, copied)
            reveals[cuid].append((chain.block_number(), values))
        origin = int(c.subnet(netuid)["lastEpochBlock"]) % tempo

        def held(uid: int, boundary: int) -> list[int] | None:
            seen = [v for b, v in reveals[uid] if b <= boundary]
            return seen[-1] if seen else None

        boundaries = range(origin + tempo * (reveals[huid][0][0] // tempo), chain.block_number(), tempo)
        compared = 0
        for boundary in boundaries:
            current = held(huid, boundary)
            if current is None or boundary < reveals[huid][0][0]:
                continue
            assert held(cuid, boundary) != current or current == held(huid, boundary - tempo)
            compared += 1
        assert compared >= 3
    # the measured lag (a full epoch) is what _run(copier_lag=1) simulates
    honest_cr, copier_cr = _run(copier_lag=1)
    assert copier_cr / honest_cr < 0.95

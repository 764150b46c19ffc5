"""Demo stage `subnet`: 4 miners (good, poor, copier, offline) and 3 validators run two epochs.

Validators challenge the miners over HTTP (in-process ASGI), score accuracy and latency, catch the
copier (its answers on fresh random rows equal the good miner's, and arrive later), commit and
reveal weights, compute the epoch bit-exactly, sign it, finalize it with >2/3 of stake, and claim.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from eth_account import Account
from eth_utils import keccak
from onnx import numpy_helper

from ..accounts.dev import dev_account
from ..protocol.deploy import Deployment
from ..protocol.faucet import fund_tsr
from ..subnet.client import SubnetClient, SubnetHyper
from ..subnet.devnet import join_root, settle_root_epoch
from ..subnet.miner import create_miner_app, onnx_predictor
from ..subnet.settlement import order_signatures
from ..subnet.validator import Dataset, SubnetValidator, ValidatorStore
from .models import classifier_model, reference_probabilities, write_classifier
from .runner import DemoContext, StageResult

TSR = 10**18
HYPER = SubnetHyper(max_uids=16, max_validators=8, tempo=20, immunity_period=2_000, reveal_window=20,
                    yuma_version="yuma3")
STAKES = (50, 30, 20)
ROLES = ("good", "poor", "copier", "offline")


def subnet_stage(ctx: DemoContext, out: StageResult) -> None:
    with tempfile.TemporaryDirectory(prefix="tessera-demo-subnet-") as tmp:
        _run(ctx, out, Path(tmp))


def _poor_model(path: Path) -> Path:
    """The demo classifier with noisy weights: right on roughly half the held-out rows."""
    model = classifier_model()
    w = model.graph.initializer[0]
    noisy = numpy_helper.to_array(w) + np.random.default_rng(5).normal(scale=0.9, size=(4, 3)).astype(np.float32)
    w.CopyFrom(numpy_helper.from_array(noisy, w.name))
    path.write_bytes(model.SerializeToString())
    return path


def _run(ctx: DemoContext, out: StageResult, tmp: Path) -> None:
    chain = ctx.chain
    d: Deployment = ctx.state["deployment"]
    owner = dev_account(0)
    # seven keys beyond the ten dev accounts (the market stage uses those): deterministic, devnet-funded
    keys = [Account.from_key(keccak(f"tessera demo subnet key {i}".encode())) for i in range(7)]
    validators, miners = keys[:3], keys[3:]
    for who in validators + miners:
        chain.set_balance(who.address, 10 * 10**18)
        fund_tsr(chain, d, owner, who.address, 100 * TSR)
    fund_tsr(chain, d, owner, owner.address, 400 * TSR)
    client = SubnetClient(chain, d)
    netuid = client.create_subnet(owner, HYPER)
    uids = {m.address: client.register(m, netuid) for m in miners}
    for v, stake in zip(validators, STAKES):
        client.register(v, netuid)
        client.stake(v, netuid, v.address, stake * TSR)
    miner_uid = [uids[m.address] for m in miners]
    out.lines.append(f"subnet {netuid}: {len(miners)} miners (UIDs {miner_uid}: {', '.join(ROLES)}), "
                     f"3 validators staking {'/'.join(map(str, STAKES))} TSR, Yuma 3, tempo {HYPER.tempo} blocks")

    join_root(client, validators, netuid)

    apps = {
        "good": create_miner_app(miners[0], onnx_predictor(write_classifier(tmp / "good.onnx"))),
        "poor": create_miner_app(miners[1], onnx_predictor(_poor_model(tmp / "poor.onnx"))),
    }
    good_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=apps["good"]), base_url="http://good")

    async def copy_good(rows: list[list[float]]) -> list[list[float]]:
        await asyncio.sleep(0.02)  # copying means waiting for someone else's answer
        r = await good_http.post("/predict", json={"challenge": "00", "inputs": rows})
        return list(r.json()["outputs"])

    apps["copier"] = create_miner_app(miners[2], copy_good)

    def offline(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    rng = np.random.default_rng(3)
    held_out = (rng.normal(size=(24, 4)) * [0.8, 0.4, 1.7, 0.7] + [5.8, 3.0, 3.8, 1.2]).round(2)
    dataset = Dataset(held_out, reference_probabilities(held_out).argmax(axis=1))
    nodes = [SubnetValidator(client, v, netuid, ValidatorStore(tmp / f"validator{i}.sqlite"), dataset, seed=i)
             for i, v in enumerate(validators)]
    earned = {uid: 0 for uid in range(client.subnet(netuid)["n"])}
    signed_fractions: list[float] = []
    last: Any = None
    for epoch in (1, 2):
        allocated = settle_root_epoch(client, owner, validators, netuid, min_pool=10 * TSR).amount
        out.lines.append(f"root epoch: the root validators' weights allocate {allocated / TSR:,.4f} TSR to subnet "
                         f"{netuid} (18% to its owner, 82% through its epoch: 41% miners, 41% validators)")
        transports = {
            miner_uid[0]: httpx.ASGITransport(app=apps["good"]),
            miner_uid[1]: httpx.ASGITransport(app=apps["poor"]),
            miner_uid[2]: httpx.ASGITransport(app=apps["copier"]),
            miner_uid[3]: httpx.MockTransport(offline),
        }
        scores = asyncio.run(_score_all(nodes, miners, miner_uid, transports))
        for node, node_scores in zip(nodes, scores):
            node.commit(*SubnetValidator.weights(node_scores))
        # each reveal opens after the epoch boundary following its commit: nobody can copy it into that epoch
        for node in nodes:
            client.wait_for_reveal(netuid, node.hotkey.address)
            node.reveal()
        chain.mine(HYPER.tempo)
        signed = [node.compute_and_sign() for node in nodes]
        comp = signed[0][0]
        assert all(c.result == comp.result for c, _ in signed), "validators disagree on the epoch"
        # epoch 2: the smallest validator is slow to sign; 80% of stake is past the 2/3 bar anyway
        signers = validators if epoch == 1 else validators[:2]
        receipt = client.finalize(owner, comp.result, order_signatures(
            {v.address: sig for v, (_, sig) in zip(signers, signed)}))
        ev = client.registry.events(receipt, "EpochFinalized")[0].args
        signed_fractions.append(ev["signedStake"] / ev["totalStake"])
        for node in nodes:
            node.epoch_finalized(comp.epoch)
        for m in miners:
            uid = uids[m.address]
            if comp.leaves[uid].incentive and not client.registry.call("claimed", netuid, comp.epoch, uid):
                client.claim(m, comp, uid)
        for leaf in comp.leaves:
            earned[leaf.uid] += leaf.incentive + leaf.dividend
        s0 = scores[0]
        out.lines.append(
            f"epoch {comp.epoch}: scores by validator 0 -> " + ", ".join(
                f"{role} {s0[u].score:.2f}" + (f" (copied UID {s0[u].copied_from})" if s0[u].copied_from is not None
                                                else f" ({s0[u].error})" if s0[u].error else "")
                for role, u in zip(ROLES, miner_uid))
            + f"; finalized with {ev['signedStake'] / ev['totalStake']:.0%} of stake signed")
        last = comp

    o = last.output
    role_of = {u: f"miner: {r}" for r, u in zip(ROLES, miner_uid)}
    for i, v in enumerate(validators):
        role_of[client.registry.call("uidOf", netuid, v.address)[1]] = f"validator {i} ({STAKES[i]} TSR)"
    out.lines.append("UID  role                   consensus  incentive  dividends  TSR earned (2 epochs)")
    for uid in range(len(o["consensus_u16"])):
        out.lines.append(f"{uid:>3}  {role_of.get(uid, '?'):<22} {o['consensus_u16'][uid] / 65535:>9.4f} "
                         f"{o['incentive_u16'][uid] / 65535:>10.4f} {o['dividends_u16'][uid] / 65535:>10.4f} "
                         f"{earned[uid] / TSR:>12.6f}")
    total = sum(earned.values())
    copier_share = earned[miner_uid[2]] / total if total else 0.0
    out.figures.update({
        "epochs": 2,
        "signed_stake_fraction": round(min(signed_fractions), 4),
        "copier_dividend_share": round(copier_share, 6),
        "good_miner_share": round(earned[miner_uid[0]] / total, 6) if total else 0.0,
        "tsr_distributed": total,
    })


async def _score_all(nodes: list[SubnetValidator], miners: list[Any], miner_uid: list[int],
                     transports: dict[int, httpx.AsyncBaseTransport]) -> list[Any]:
    results = []
    for node in nodes:
        clients = {uid: (m.address, httpx.AsyncClient(transport=transports[uid], base_url=f"http://miner{uid}"))
                   for uid, m in zip(miner_uid, miners)}
        results.append(await node.score(clients))
    return results

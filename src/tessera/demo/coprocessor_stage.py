"""Demo stage `coprocessor`: a DAO's governance guard. Every new proposal asks the Coordinator for a
zk-proved inference of a screening model; a coprocessor node follows the request, proves, delivers, and
the guard's callback admits or rejects the proposal with the proof's record id. One proposal is admitted,
one rejected, both verified on-chain."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..accounts.dev import dev_account
from ..chain import Contract
from ..coprocessor import CoordinatorClient, CoprocessorConfig, CoprocessorNode
from ..protocol.deploy import Deployment
from ..protocol.faucet import fund_stablecoin, fund_tsr
from ..zkml import InferenceClient, ZkOptions, compile_model, default_cache_dir
from .models import fit_and_export
from .runner import DemoContext, StageResult

FEATURES = ("amount_pct", "duration_months", "audited", "reputation")
# the DAO's written criteria, which the model learns: small, audited asks from reputable proposers
PROPOSALS = [("Fund an audit of the bridge contracts", [5, 6, 1, 8]),
             ("Send 60% of the treasury to a new, unaudited vault", [60, 24, 0, 1])]
STATUS = {2: "admitted", 3: "rejected"}


def criteria(x: np.ndarray) -> np.ndarray:
    score = 1.5 * x[:, 2] + 0.3 * x[:, 3] - 0.08 * x[:, 0] - 0.03 * x[:, 1]
    return (score > 0.5).astype(np.int64)


def sample_proposals(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.stack([rng.integers(0, 101, n), rng.integers(1, 37, n), rng.integers(0, 2, n),
                     rng.integers(0, 11, n)], axis=1).astype(np.float32)


def train_guard(path: Path, seed: int = 0) -> float:
    """A 4-16-2 MLP (features scaled inside the graph) fitted to `criteria`; returns its training accuracy."""
    import torch

    torch.manual_seed(seed)
    x = sample_proposals(2048, np.random.default_rng(seed))
    y = criteria(x)

    class Guard(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("scale", torch.tensor([0.01, 1 / 36, 1.0, 0.1]))
            self.net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))

        def forward(self, features: Any) -> Any:
            return self.net(features * self.scale)

    net = Guard()
    accuracy = fit_and_export(net, x, y, path, lr=0.03, steps=300, input_name="features", output_name="logits")
    return accuracy


def coprocessor_stage(ctx: DemoContext, out: StageResult) -> None:
    with tempfile.TemporaryDirectory(prefix="tessera-demo-coprocessor-") as tmp:
        _run(ctx, out, Path(tmp))


def _run(ctx: DemoContext, out: StageResult, tmp: Path) -> None:
    chain = ctx.chain
    d: Deployment = ctx.state["deployment"]
    owner, node_key, proposer = dev_account(0), dev_account(7), dev_account(8)
    accuracy = train_guard(tmp / "guard.onnx")
    calibration = {"input_data": [[100.0, 36.0, 1.0, 10.0]]}  # the largest features: ranges that fit them all
    compiled, hit = compile_model(tmp / "guard.onnx", ZkOptions(input_visibility="public",
                                                                output_visibility="public"),
                                  cache_dir=default_cache_dir(), calibration=calibration)
    InferenceClient.of(chain, d).register(owner, compiled, "demo://governance-guard")

    client = CoordinatorClient.of(chain, d)
    decimals = int(d.stablecoin.call("decimals"))
    fee = 5 * 10 ** (decimals - 2)  # 0.05 per screened proposal
    max_gas_price = 4 * chain.gas_price_hint()[0]
    guard, _ = Contract.deploy(chain, owner, "GovernanceGuard", d.coordinator.address,
                               bytes.fromhex(compiled.model_id[2:]), compiled.input_scales[0], len(FEATURES), fee,
                               max_gas_price, 200_000, 600)

    min_bond = int(d.coordinator.call("minBond"))
    fund_tsr(chain, d, owner, node_key.address, min_bond)
    node = CoprocessorNode(chain, d, node_key, CoprocessorConfig([compiled]), tmp / "node")
    node.ensure_bonded(min_bond)

    fees_before = int(d.stablecoin.call("balanceOf", node_key.address))
    fund_stablecoin(chain, d, owner, proposer.address, 10 * 10**decimals)
    d.stablecoin.transact(proposer, "approve", guard.address, 10 * 10**decimals)
    submitted = []
    for description, features in PROPOSALS:
        params = guard.call("requestParams", features)
        deposit = int(d.coordinator.call("gasDeposit", params))
        receipt = guard.transact(proposer, "propose", description, features, value=deposit)
        (event,) = guard.events(receipt, "ProposalSubmitted")
        submitted.append((int(event.args["proposalId"]), int(event.args["requestId"]), receipt.block_number))

    report = node.step()
    node.step()  # reads the completions
    if report.skipped or report.errors:
        raise RuntimeError(f"the node did not deliver: {report.skipped or report.errors}")

    statuses: dict[str, int] = {"admitted": 0, "rejected": 0}
    latencies, gas = [], []
    verified = 0
    for (description, features), (proposal_id, request_id, block) in zip(PROPOSALS, submitted):
        proposal = guard.call("getProposal", proposal_id)
        status = STATUS.get(int(proposal[1]), "pending")
        statuses[status] = statuses.get(status, 0) + 1
        inference_id = bytes(proposal[3])
        at = int(d.inference.call("verifiedAt", inference_id))
        verified += at > 0
        job = node.journal.job(request_id, 0)
        assert job is not None
        latencies.append(job["completed_block"] - block)
        gas.append(job["gas_used"])
        reject, admit = int(proposal[4]), int(proposal[5])
        scale = 2 ** compiled.output_scales[0]
        out.lines.append(f"proposal {proposal_id}  \"{description}\" {dict(zip(FEATURES, features))}")
        out.lines.append(f"            {status.upper()}: admit {admit / scale:+.2f} vs reject {reject / scale:+.2f}; "
                         f"proof verified on-chain in block {at} (inference 0x{inference_id.hex()[:16]}…), "
                         f"{job['completed_block'] - block} block(s) after the proposal")
    out.figures.update(
        admitted=statuses["admitted"], rejected=statuses["rejected"],
        latency_blocks=max(latencies), gas_per_delivery=round(sum(gas) / len(gas)),
        proofs_verified=verified, model_accuracy=round(accuracy, 4), model_id=compiled.model_id,
        cache_hit=hit, fee=fee, node=node_key.address,
        node_fees_earned=int(d.stablecoin.call("balanceOf", node_key.address)) - fees_before,
        gas_reimbursed_wei=client.eth_balance(node_key.address),
    )
    out.lines[:0] = [
        f"guard model  4-16-2 MLP trained on the DAO's criteria ({accuracy:.1%} training accuracy), public "
        f"input and output, circuit 2^{compiled.logrows} rows",
        f"guard        GovernanceGuard at {guard.address}: each proposal pays a {fee / 10**decimals:.2f} fee and "
        "asks the Coordinator for a zk-proved screening",
        f"node         {node_key.address} bonded {min_bond / 10**18:g} TSR; followed the requests, proved and "
        f"delivered each ({sum(gas) / len(gas):,.0f} gas per delivery incl. proof verification and callback)",
    ]

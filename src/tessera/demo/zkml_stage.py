"""Demo stage `zkml`: a PyTorch classifier, trained here in a second, exported to ONNX, compiled to a
circuit, and a batch of inferences proved in one proof and verified by the InferenceVerifier contract.
One verification pays for the whole batch, which is how the gas per inference gets small."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..accounts.dev import dev_account
from ..errors import ContractRevert
from ..protocol.deploy import Deployment
from ..zkml import InferenceClient, ZkOptions, compile_model, default_cache_dir, prove, verify
from .models import fit_and_export, reference_probabilities
from .runner import DemoContext, StageResult

BATCH = 32  # one ~0.86M-gas verification shared by 32 inferences: ~27k gas each


def train_classifier(path: Path, seed: int = 0) -> Any:
    """A 4-16-3 MLP fitted to the market demo's iris-like labels; exported with a static batch of 1."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(512, 4)).astype(np.float32)
    y = reference_probabilities(x).argmax(axis=1)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    fit_and_export(net, x, y, path, lr=0.05, steps=150, input_name="features", output_name="logits")
    return net


def zkml_stage(ctx: DemoContext, out: StageResult) -> None:
    with tempfile.TemporaryDirectory(prefix="tessera-demo-zkml-") as tmp:
        _run(ctx, out, Path(tmp))


def _run(ctx: DemoContext, out: StageResult, tmp: Path) -> None:
    import torch

    d: Deployment = ctx.state["deployment"]
    owner, submitter = dev_account(0), dev_account(1)
    net = train_classifier(tmp / "classifier.onnx")
    compiled, hit = compile_model(tmp / "classifier.onnx", ZkOptions(batch=BATCH), cache_dir=default_cache_dir())

    features = np.random.default_rng(42).normal(size=(BATCH, 4)).astype(np.float32)
    proof = prove(compiled, {"input_data": [features.reshape(-1).tolist()]})
    assert verify(proof, compiled)
    with torch.no_grad():
        expected = net(torch.from_numpy(features)).numpy()
    proved = np.asarray(proof.outputs[0]).reshape(BATCH, 3)
    max_err = float(np.abs(proved - expected).max())
    labels_agree = int((proved.argmax(axis=1) == expected.argmax(axis=1)).sum())

    client = InferenceClient.of(ctx.chain, d)
    client.register(owner, compiled, "demo://classifier")
    record = client.verify(submitter, proof)

    tampered = type(proof).from_json(proof.to_json())
    raw = tampered.proof["proof"]
    raw[len(raw) // 2] ^= 1
    tampered.proof["hex_proof"] = "0x" + bytes(raw).hex()
    tampered.instances[-1] = (tampered.instances[-1] + 1) % (1 << 250)  # claims different outputs as well
    try:
        client.verify(submitter, tampered)
        rejected = False
    except ContractRevert as e:
        rejected = e.error_name == "InvalidProof" and client.verified_at(tampered) == 0

    out.figures.update(
        batch_size=BATCH,
        gas_per_inference=record.gas_per_inference,
        gas_per_proof=record.gas_used,
        tampered_rejected=rejected,
        model_id=compiled.model_id,
        logrows=compiled.logrows,
        cache_hit=hit,
        prove_seconds=round(proof.prove_seconds, 2),
        max_abs_error=round(max_err, 6),
        labels_agree=labels_agree,
        srs_unsafe=compiled.srs_unsafe,
    )
    setup = "cached, setup skipped" if hit else f"keys set up in {compiled.timings['setup_s']:.1f} s"
    out.lines += [
        f"classifier  4-16-3 MLP trained with PyTorch, exported to ONNX; circuit 2^{compiled.logrows} rows "
        f"for a batch of {BATCH} ({setup})",
        f"model id    {compiled.model_id}",
        "srs         UNSAFE dev SRS generated locally (devnet only; production loads a ceremony file)",
        f"proof       {BATCH} inferences in one proof: {proof.prove_seconds:.1f} s; outputs within {max_err:.1e} of "
        f"PyTorch, {labels_agree}/{BATCH} labels agree",
        f"on-chain    verified and recorded in block {record.block}: {record.gas_used:,} gas = "
        f"{record.gas_per_inference:,} gas per inference",
        f"tampered    {'rejected (InvalidProof), nothing recorded' if rejected else 'NOT REJECTED'}",
    ]

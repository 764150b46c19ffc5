"""A subnet miner: serves an ONNX classifier over HTTP and signs every answer with its hotkey.

``POST /predict`` takes ``{"challenge": "<hex id>", "inputs": [[...], ...]}`` and returns the output
rows with an EIP-191 signature over ``keccak(challenge || canonical outputs)``, so a validator can
prove which hotkey answered what (and a copier cannot pass another miner's signed answer as its own).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import numpy as np
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from ..errors import SubnetError

Predictor = Callable[[list[list[float]]], Awaitable[list[list[float]]]]


class PredictRequest(BaseModel):
    challenge: str
    inputs: list[list[float]]


def answer_digest(challenge: str, outputs: list[list[float]]) -> bytes:
    return keccak(bytes.fromhex(challenge.removeprefix("0x")) + json.dumps(outputs, separators=(",", ":")).encode())


def recover_answer_signer(challenge: str, outputs: list[list[float]], signature: str) -> str:
    message = encode_defunct(primitive=answer_digest(challenge, outputs))
    return str(Account.recover_message(message, signature=bytes.fromhex(signature.removeprefix("0x"))))


def onnx_predictor(model_path: Path) -> Predictor:
    """Run an ONNX model with onnxruntime; the first input and output are used."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for bad files
        raise SubnetError(f"cannot load the miner's model {model_path}: {e}") from e
    first = session.get_inputs()[0]
    input_name = first.name
    shape = list(first.shape)
    # a model exported with a fixed batch (shape [1, 4] rather than ["batch", 4]) answers in groups of that size
    fixed_batch = shape[0] if shape and isinstance(shape[0], int) and shape[0] > 0 else None
    width = shape[1] if len(shape) > 1 and isinstance(shape[1], int) else None

    def run(rows: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(session.run(None, {input_name: rows})[0])
        except Exception as e:  # onnxruntime's own error types: a bad request, named, not a server error
            raise SubnetError(f"the model cannot run these inputs: {str(e).splitlines()[0][:200]}") from None

    async def predict(rows: list[list[float]]) -> list[list[float]]:
        try:
            batch = np.asarray(rows, dtype=np.float32)
        except ValueError:
            raise SubnetError("input rows must all have the same length") from None
        if width is not None and batch.shape[1:] != (width,):
            raise SubnetError(f"each input row needs {width} numbers; got rows of {batch.shape[1:]}")
        if fixed_batch is None:
            result = run(batch)
        else:
            pad = (-len(batch)) % fixed_batch
            padded = np.concatenate([batch, np.zeros((pad, *batch.shape[1:]), np.float32)]) if pad else batch
            result = np.concatenate([run(padded[i:i + fixed_batch]) for i in range(0, len(padded), fixed_batch)])
            result = result[:len(batch)]
        return [[round(float(v), 6) for v in row] for row in result]

    return predict


def create_miner_app(hotkey: LocalAccount, predictor: Predictor, *, max_rows: int = 256) -> FastAPI:
    app = FastAPI(title="Tessera subnet miner")
    served = {"requests": 0}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"ok": True, "hotkey": hotkey.address, "requests": served["requests"]}

    @app.post("/predict")
    async def predict(req: PredictRequest) -> dict[str, Any]:
        if not req.inputs or len(req.inputs) > max_rows:
            raise HTTPException(422, f"send 1..{max_rows} input rows")
        try:
            bytes.fromhex(req.challenge.removeprefix("0x"))
        except ValueError:
            raise HTTPException(422, "challenge must be hex") from None
        start = time.perf_counter()
        try:
            outputs = await predictor(req.inputs)
        except SubnetError as e:
            raise HTTPException(400, str(e)) from None
        served["requests"] += 1
        signed = hotkey.sign_message(encode_defunct(primitive=answer_digest(req.challenge, outputs)))
        return {"hotkey": hotkey.address, "outputs": outputs, "compute_ms": (time.perf_counter() - start) * 1000,
                "signature": "0x" + signed.signature.hex().removeprefix("0x")}

    return app

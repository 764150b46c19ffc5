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
    input_name = session.get_inputs()[0].name

    async def predict(rows: list[list[float]]) -> list[list[float]]:
        result = session.run(None, {input_name: np.asarray(rows, dtype=np.float32)})[0]
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
        outputs = await predictor(req.inputs)
        served["requests"] += 1
        signed = hotkey.sign_message(encode_defunct(primitive=answer_digest(req.challenge, outputs)))
        return {"hotkey": hotkey.address, "outputs": outputs, "compute_ms": (time.perf_counter() - start) * 1000,
                "signature": "0x" + signed.signature.hex().removeprefix("0x")}

    return app

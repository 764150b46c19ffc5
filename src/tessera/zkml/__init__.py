"""Verifiable inference: ONNX models compiled to EZKL circuits, proved, and verified locally or on-chain.

    compiled, cache_hit = compile_model("model.onnx", ZkOptions(batch=16))
    proof = prove(compiled, {"input_data": [[...]]})
    assert verify(proof)
    InferenceClient.of(chain, deployment).register(signer, compiled)
    InferenceClient.of(chain, deployment).verify(signer, proof)   # records the inference on-chain
"""

from .compiler import CompiledModel, compile_model, default_cache_dir, find_compiled
from .estimate import Estimate, estimate
from .onchain import InferenceClient, VerifiedInference, check_registered_model
from .onnx_graph import batch_model, check_input, input_specs, load_model, output_specs
from .options import ZkOptions
from .prover import Evaluation, InferenceProof, evaluate, input_commitment, load_input, prove, verify

__all__ = [
    "CompiledModel",
    "Estimate",
    "Evaluation",
    "InferenceClient",
    "InferenceProof",
    "VerifiedInference",
    "ZkOptions",
    "batch_model",
    "check_registered_model",
    "check_input",
    "compile_model",
    "default_cache_dir",
    "estimate",
    "evaluate",
    "find_compiled",
    "input_commitment",
    "input_specs",
    "load_input",
    "load_model",
    "output_specs",
    "prove",
    "verify",
]

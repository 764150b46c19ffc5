"""Coprocessor: contracts request inference of registered models; bonded nodes deliver output and proof.

    client = CoordinatorClient.of(chain, deployment)
    params = RequestParams(model_id, hash_instances(input_commitment(compiled, data)), fee=10**4,
                           max_gas_price=10 * 10**9, mode=ProofMode.ZK)
    request_id, _ = client.request(consumer, params, encode_json_input(data))
    node = CoprocessorNode(chain, deployment, signer, CoprocessorConfig([compiled]), data_dir)
    node.step()   # follows the request, computes, proves, delivers; the consumer's callback runs on-chain
"""

from .client import CoordinatorClient, JobInfo, RequestInfo
from .node import CoprocessorConfig, CoprocessorNode, StepReport, compute, result_hash
from .requests import (
    JobStatus,
    ProofMode,
    RequestParams,
    SignedRequest,
    decode_input,
    encode_abi_input,
    encode_json_input,
    hash_instances,
    request_signer,
    sign_request,
)
from ..chain.txmanager import FeeCapExceeded, TxManager, TxRecord

__all__ = [
    "CoordinatorClient",
    "CoprocessorConfig",
    "CoprocessorNode",
    "FeeCapExceeded",
    "JobInfo",
    "JobStatus",
    "ProofMode",
    "RequestInfo",
    "RequestParams",
    "SignedRequest",
    "StepReport",
    "TxManager",
    "TxRecord",
    "compute",
    "decode_input",
    "encode_abi_input",
    "encode_json_input",
    "hash_instances",
    "request_signer",
    "result_hash",
    "sign_request",
]

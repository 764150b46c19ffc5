// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ModelRegistry} from "./ModelRegistry.sol";

/// @title Verifies zkML proofs of model inferences and records each verified inference once.
/// @notice The public instances of a proof are the model's input then its output, as commitments (Poseidon
/// hashes, the default) or as values. One proof covers `batchSize` inferences of the model. A record is
/// keyed by (model id, instances): re-proving the same input to the same model gives the same record.
contract InferenceVerifier {
    ModelRegistry public immutable models;

    /// @notice inference id => block it was verified in (0: never)
    mapping(bytes32 => uint256) public verifiedAt;

    event InferenceVerified(bytes32 indexed modelId, bytes32 indexed inferenceId, address indexed submitter,
        uint256[] inputs, uint256[] outputs, uint32 batchSize);

    error ModelRetired(bytes32 modelId);
    error InvalidProof(bytes32 modelId);
    error AlreadyVerified(bytes32 inferenceId, uint256 atBlock);
    error BadInstances(uint256 given, uint16 inputInstances);

    constructor(ModelRegistry models_) {
        models = models_;
    }

    /// @notice Verify and record; reverts (recording nothing) when the proof is invalid.
    function verifyInference(bytes32 modelId, bytes calldata proof, uint256[] calldata instances)
        external
        returns (bytes32 inferenceId)
    {
        inferenceId = inferenceIdOf(modelId, instances);
        uint256 at = verifiedAt[inferenceId];
        if (at != 0) revert AlreadyVerified(inferenceId, at);
        ModelRegistry.Model memory m = _model(modelId, instances.length);
        if (!_check(m, proof, instances)) revert InvalidProof(modelId);
        _record(modelId, inferenceId, m, instances);
    }

    /// @notice Verify and record without reverting on a bad proof, for contracts that act on the outcome
    /// (slash a provider, refund a consumer). An already recorded inference is valid without re-verifying.
    function tryVerifyInference(bytes32 modelId, bytes calldata proof, uint256[] calldata instances)
        external
        returns (bool valid, bytes32 inferenceId)
    {
        inferenceId = inferenceIdOf(modelId, instances);
        if (verifiedAt[inferenceId] != 0) return (true, inferenceId);
        ModelRegistry.Model memory m = _model(modelId, instances.length);
        valid = _check(m, proof, instances);
        if (valid) _record(modelId, inferenceId, m, instances);
    }

    function inferenceIdOf(bytes32 modelId, uint256[] calldata instances) public pure returns (bytes32) {
        return keccak256(abi.encode(modelId, instances));
    }

    function _model(bytes32 modelId, uint256 nInstances) private view returns (ModelRegistry.Model memory m) {
        m = models.getModel(modelId);
        if (m.retired) revert ModelRetired(modelId);
        if (nInstances <= m.inputInstances) revert BadInstances(nInstances, m.inputInstances);
    }

    function _record(bytes32 modelId, bytes32 inferenceId, ModelRegistry.Model memory m,
        uint256[] calldata instances) private {
        verifiedAt[inferenceId] = block.number;
        emit InferenceVerified(modelId, inferenceId, msg.sender, instances[:m.inputInstances],
            instances[m.inputInstances:], m.batchSize);
    }

    /// @dev Calls the verifier with the model's VKA read from its data contract. The verifier returns
    /// (1, vka digest, rescaled instances) in a raw layout that is not ABI-decodable, and reverts on an
    /// invalid proof, so it is called at low level and only the first two words are read.
    function _check(ModelRegistry.Model memory m, bytes calldata proof, uint256[] calldata instances)
        private
        returns (bool)
    {
        bytes32[] memory vka = _load(m.vka);
        (bool ok, bytes memory ret) =
            m.verifier.call(abi.encodeWithSignature("verifyProof(bytes,uint256[],bytes32[])", proof, instances, vka));
        if (!ok || ret.length < 64) return false;
        (uint256 success, bytes32 digest) = abi.decode(ret, (uint256, bytes32));
        return success == 1 && digest == m.vkaDigest;
    }

    function _load(address pointer) private view returns (bytes32[] memory words) {
        uint256 size = pointer.code.length - 1; // skip the STOP byte
        uint256 n = size / 32;
        words = new bytes32[](n);
        assembly {
            extcodecopy(pointer, add(words, 0x20), 1, size)
        }
    }
}

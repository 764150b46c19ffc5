// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ModelRegistry} from "./ModelRegistry.sol";

/// @title Verifies zkML proofs of model inferences and records each verified inference once.
/// @notice The public instances of a proof are the model's input then its output, as commitments (Poseidon
/// hashes, the default) or as values. One proof covers `batchSize` inferences of the model. A record is
/// keyed by (model id, instances): re-proving the same input to the same model gives the same record.
/// Validity depends on nothing anyone can change after registration: the verifier's code and the VKA are
/// committed in the model id, and a retired model's proofs still verify (retirement stops new obligations,
/// it must not cancel open ones).
contract InferenceVerifier {
    ModelRegistry public immutable models;

    /// @notice inference id => block it was verified in (0: never)
    mapping(bytes32 => uint256) public verifiedAt;

    event InferenceVerified(bytes32 indexed modelId, bytes32 indexed inferenceId, address indexed submitter,
        uint256[] inputs, uint256[] outputs, uint32 batchSize);

    error VerifierOutOfGas(uint256 gasGiven);
    error VerifierCodeChanged(address verifier, bytes32 expected, bytes32 got);
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

    /// @notice Like tryVerifyInference, but the proof itself is always checked, even when the inference is
    /// already recorded: for contracts that pay whoever submits the proof (a resubmitted record is no work).
    function tryVerifyProof(bytes32 modelId, bytes calldata proof, uint256[] calldata instances)
        external
        returns (bool valid, bytes32 inferenceId)
    {
        inferenceId = inferenceIdOf(modelId, instances);
        ModelRegistry.Model memory m = _model(modelId, instances.length);
        valid = _check(m, proof, instances);
        if (valid && verifiedAt[inferenceId] == 0) _record(modelId, inferenceId, m, instances);
    }

    function inferenceIdOf(bytes32 modelId, uint256[] calldata instances) public pure returns (bytes32) {
        return keccak256(abi.encode(modelId, instances));
    }

    function _model(bytes32 modelId, uint256 nInstances) private view returns (ModelRegistry.Model memory m) {
        m = models.getModel(modelId);
        // code cannot change under Cancun rules; checked anyway, so validity never rests on that assumption
        bytes32 code = m.verifier.codehash;
        if (code != m.verifierCodeHash) revert VerifierCodeChanged(m.verifier, m.verifierCodeHash, code);
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
        uint256 before = gasleft();
        (bool ok, bytes memory ret) =
            m.verifier.call(abi.encodeWithSignature("verifyProof(bytes,uint256[],bytes32[])", proof, instances, vka));
        // EIP-150 keeps 1/64 of the gas here: a call that failed with less than that left ran out of gas, which
        // says nothing about the proof. Revert rather than report it invalid, so a caller who picks a low gas
        // limit cannot make a valid result slash its provider (an invalid proof fails fast, with gas to spare).
        if (!ok && gasleft() <= before / 63) revert VerifierOutOfGas(before);
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

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice What the Coordinator calls on a consumer contract.
interface ITesseraConsumer {
    /// @notice The agreed output of `requestId`'s interval `interval`, as the model's output field
    /// elements (fixed point, scaled by 2^outputScale; values above p/2 are negative). `inferenceId` is
    /// the InferenceVerifier record of its zk proof, or 0 when the output was not proved.
    function onInferenceResult(uint64 requestId, uint32 interval, uint256[] calldata output, bytes32 inferenceId)
        external;

    /// @notice For requests created without an input: the input of interval `interval`, read by nodes
    /// before computing and by the Coordinator on delivery. `input` is what the node runs the model on;
    /// `inputHash` is keccak256(abi.encode(uint256[] inputInstances)), the model's public input instances.
    function coprocessorInput(uint64 requestId, uint32 interval)
        external
        view
        returns (bytes memory input, bytes32 inputHash);
}

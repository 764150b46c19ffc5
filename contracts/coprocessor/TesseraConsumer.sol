// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Coordinator} from "./Coordinator.sol";
import {ITesseraConsumer} from "./ITesseraConsumer.sol";

import {IERC20, SafeTransfer} from "../lib/SafeTransfer.sol";

/// @title Base for contracts that request inference from the Coordinator.
/// @notice Inherit it, call `_requestInference`, and implement `_onInferenceResult`. Only the Coordinator can
/// deliver results. Subscriptions whose input changes per interval override `coprocessorInput`.
abstract contract TesseraConsumer is ITesseraConsumer {
    using SafeTransfer for IERC20;
    uint256 internal constant FIELD_MODULUS =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;

    Coordinator public immutable coordinator;

    error NotCoordinator(address caller);
    error NoInputForInterval(uint64 requestId, uint32 interval);

    constructor(Coordinator coordinator_) {
        coordinator = coordinator_;
    }

    function onInferenceResult(uint64 requestId, uint32 interval, uint256[] calldata output, bytes32 inferenceId)
        external
    {
        if (msg.sender != address(coordinator)) revert NotCoordinator(msg.sender);
        _onInferenceResult(requestId, interval, output, inferenceId);
    }

    /// @notice Requests created with an input never ask; override for per-interval inputs.
    function coprocessorInput(uint64 requestId, uint32 interval)
        external
        view
        virtual
        returns (bytes memory, bytes32)
    {
        revert NoInputForInterval(requestId, interval);
    }

    /// @dev Escrows the fee from this contract's stablecoin and `ethValue` wei (at least
    /// `coordinator.gasDeposit(p)` less this contract's ETH balance at the Coordinator) for gas.
    function _requestInference(Coordinator.RequestParams memory p, bytes memory input, uint256 ethValue)
        internal
        returns (uint64)
    {
        IERC20(address(coordinator.stablecoin())).safeApprove(
            address(coordinator), uint256(p.fee) * p.redundancy * p.count
        );
        return coordinator.request{value: ethValue}(p, input);
    }

    function _onInferenceResult(uint64 requestId, uint32 interval, uint256[] calldata output, bytes32 inferenceId)
        internal
        virtual;

    /// @dev How requests name their input: keccak256(abi.encode(inputInstances)).
    function _inputHash(uint256[] memory inputInstances) internal pure returns (bytes32) {
        return keccak256(abi.encode(inputInstances));
    }

    /// @dev A model output (a field element) as a signed fixed-point integer.
    function _signed(uint256 felt) internal pure returns (int256) {
        return felt > FIELD_MODULUS / 2 ? -int256(FIELD_MODULUS - felt) : int256(felt);
    }

    /// @dev A signed integer as the field element a public model input of scale 2^scale carries.
    function _felt(int256 value, uint8 scale) internal pure returns (uint256) {
        int256 scaled = value * int256(1 << scale);
        return scaled >= 0 ? uint256(scaled) : FIELD_MODULUS - uint256(-scaled);
    }

    /// @dev Unused gas deposits and refunds come back as ETH the Coordinator holds for this contract.
    function _withdrawCoordinatorEth() internal {
        coordinator.withdrawEth(coordinator.ethBalance(address(this)));
    }

    receive() external payable virtual {}
}

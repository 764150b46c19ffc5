// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Coordinator} from "../coprocessor/Coordinator.sol";
import {TesseraConsumer} from "../coprocessor/TesseraConsumer.sol";
import {IERC20, SafeTransfer} from "../lib/SafeTransfer.sol";

/// @title The smallest useful consumer: requests inference for its owner and stores every result.
/// @notice Subscriptions can take a different input per interval (`setIntervalInput`). `setFailing(true)`
/// makes the callback revert, to show that nodes are paid anyway.
contract ResultStore is TesseraConsumer {
    using SafeTransfer for IERC20;

    struct Result {
        uint256[] output;
        bytes32 inferenceId;
        uint64 blockNumber;
    }

    address public immutable owner;
    bool public failing;
    mapping(uint64 => mapping(uint32 => Result)) private _results;
    mapping(uint64 => mapping(uint32 => bytes)) private _inputs;
    mapping(uint64 => mapping(uint32 => bytes32)) private _inputHashes;
    uint256 public resultCount;

    event ResultStored(uint64 indexed requestId, uint32 indexed interval, bytes32 inferenceId);
    event IntervalInputSet(uint64 indexed requestId, uint32 indexed interval, bytes input, bytes32 inputHash);

    error NotOwner(address caller);
    error CallbackFailed();

    constructor(Coordinator coordinator_, address owner_) TesseraConsumer(coordinator_) {
        owner = owner_;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    /// @notice Request inference; the owner pays the fees (approve this contract) and sends the gas deposit.
    function requestInference(Coordinator.RequestParams calldata p, bytes calldata input)
        external
        payable
        onlyOwner
        returns (uint64)
    {
        IERC20(address(coordinator.stablecoin())).safeTransferFrom(
            msg.sender, address(this), uint256(p.fee) * p.redundancy * p.count
        );
        return _requestInference(p, input, msg.value);
    }

    function setIntervalInput(uint64 requestId, uint32 interval, bytes calldata input, bytes32 inputHash)
        external
        onlyOwner
    {
        _inputs[requestId][interval] = input;
        _inputHashes[requestId][interval] = inputHash;
        emit IntervalInputSet(requestId, interval, input, inputHash);
    }

    function coprocessorInput(uint64 requestId, uint32 interval)
        external
        view
        override
        returns (bytes memory, bytes32)
    {
        bytes32 h = _inputHashes[requestId][interval];
        if (h == bytes32(0)) revert NoInputForInterval(requestId, interval);
        return (_inputs[requestId][interval], h);
    }

    /// @notice Cancel the intervals of a subscription that have not started; the escrow comes back here.
    function cancelRequest(uint64 requestId) external onlyOwner {
        coordinator.cancel(requestId);
    }

    function setFailing(bool failing_) external onlyOwner {
        failing = failing_;
    }

    function _onInferenceResult(uint64 requestId, uint32 interval, uint256[] calldata output, bytes32 inferenceId)
        internal
        override
    {
        if (failing) revert CallbackFailed();
        _results[requestId][interval] = Result(output, inferenceId, uint64(block.number));
        resultCount += 1;
        emit ResultStored(requestId, interval, inferenceId);
    }

    function getResult(uint64 requestId, uint32 interval) external view returns (Result memory) {
        return _results[requestId][interval];
    }

    /// @notice Send the ETH and stablecoin this contract holds (refunds included) to the owner.
    function sweep() external onlyOwner {
        _withdrawCoordinatorEth();
        IERC20 coin = IERC20(address(coordinator.stablecoin()));
        coin.safeTransfer(owner, coin.balanceOf(address(this)));
        (bool ok,) = owner.call{value: address(this).balance}("");
        if (!ok) revert CallbackFailed();
    }
}

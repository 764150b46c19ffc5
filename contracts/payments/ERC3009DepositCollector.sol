// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20, SafeTransfer} from "../lib/SafeTransfer.sol";

interface IERC3009Receive {
    function receiveWithAuthorization(
        address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce,
        bytes memory signature
    ) external;
}

/// @title Pulls a channel deposit with the payer's EIP-3009 ReceiveWithAuthorization
/// @notice The x402 SDK's `batch-settlement` client signs ReceiveWithAuthorization(from = payer, to = this
/// collector, value = deposit, nonce = keccak256(abi.encode(channelId, salt))) and the facilitator submits
/// BatchSettlement.deposit(config, amount, this, abi.encode(validAfter, validBefore, salt, signature)).
/// Only BatchSettlement at its canonical address may call `collect`, and the nonce binds the signature to
/// one channel, so a signed deposit can neither be redirected to another caller nor into another channel.
/// @dev Lives at 0x4020806089470a89826cB9fB1f4059150b550004 on devnets (runtime code placed there).
contract ERC3009DepositCollector {
    using SafeTransfer for IERC20;

    address public constant BATCH_SETTLEMENT = 0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003;

    error OnlyBatchSettlement(address caller);

    function collect(address payer, address token, uint256 amount, bytes32 channelId, bytes calldata data) external {
        if (msg.sender != BATCH_SETTLEMENT) revert OnlyBatchSettlement(msg.sender);
        (uint256 validAfter, uint256 validBefore, uint256 salt, bytes memory signature) =
            abi.decode(data, (uint256, uint256, uint256, bytes));
        bytes32 nonce = keccak256(abi.encode(channelId, salt));
        IERC3009Receive(token).receiveWithAuthorization(payer, address(this), amount, validAfter, validBefore, nonce,
            signature);
        IERC20(token).safeTransfer(msg.sender, amount);
    }
}

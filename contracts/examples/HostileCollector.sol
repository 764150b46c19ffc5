// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {BatchSettlement} from "../payments/BatchSettlement.sol";

/// @notice An attacker's deposit collector, for tests: it either delivers nothing (hoping the channel is
/// credited anyway) or re-enters BatchSettlement.deposit to be credited twice for one transfer.
contract HostileCollector {
    bool public reenter;
    BatchSettlement.ChannelConfig private _config;

    function arm(bool reenter_, BatchSettlement.ChannelConfig calldata config) external {
        reenter = reenter_;
        _config = config;
    }

    function collect(address, address, uint256 amount, bytes32, bytes calldata) external {
        if (reenter) {
            BatchSettlement(msg.sender).deposit(_config, uint128(amount), address(this), "");
        }
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20Permit} from "./lib/ERC20Permit.sol";

/// @title TSR, the Tessera protocol token
/// @notice Hard-capped at 21,000,000 TSR. The only minter is the EmissionSchedule that creates it.
contract TesseraToken is ERC20Permit {
    uint256 public constant CAP = 21_000_000e18;
    address public immutable minter;

    error NotMinter(address caller);
    error CapExceeded(uint256 requested, uint256 available);
    error ZeroMinter();

    constructor(address minter_) ERC20Permit("Tessera", "TSR", 18) {
        if (minter_ == address(0)) revert ZeroMinter();
        minter = minter_;
    }

    function mint(address to, uint256 amount) external {
        if (msg.sender != minter) revert NotMinter(msg.sender);
        uint256 available = CAP - totalSupply;
        if (amount > available) revert CapExceeded(amount, available);
        _mint(to, amount);
    }
}

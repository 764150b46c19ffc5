// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Owned} from "./lib/Owned.sol";

/// @title Name → address directory of the protocol's contracts; the deployment manifest mirrors it.
contract Registry is Owned {
    uint256 public constant MAX_ENTRIES = 256;

    mapping(bytes32 => address) private _entries;
    bytes32[] private _names;

    event EntrySet(bytes32 indexed name, address indexed previous, address indexed current);

    error NotRegistered(bytes32 name);
    error TooManyEntries(uint256 max);

    constructor(address owner_) Owned(owner_) {}

    function set(bytes32 name_, address target) external onlyOwner {
        if (target == address(0)) revert ZeroAddress();
        address previous = _entries[name_];
        if (previous == address(0)) {
            if (_names.length >= MAX_ENTRIES) revert TooManyEntries(MAX_ENTRIES);
            _names.push(name_);
        }
        _entries[name_] = target;
        emit EntrySet(name_, previous, target);
    }

    /// @notice The address registered under `name_`, or the zero address.
    function get(bytes32 name_) external view returns (address) {
        return _entries[name_];
    }

    /// @notice The address registered under `name_`; reverts when there is none.
    function lookup(bytes32 name_) external view returns (address target) {
        target = _entries[name_];
        if (target == address(0)) revert NotRegistered(name_);
    }

    function names() external view returns (bytes32[] memory) {
        return _names;
    }
}

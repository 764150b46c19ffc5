// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SignatureChecker} from "../lib/SignatureChecker.sol";

/// @notice A minimal smart wallet for tests and examples: it answers ERC-1271 for its owner's key, so a
/// stablecoin authorization "from" this contract can be signed by the owner and settled with the
/// `bytes signature` overloads.
contract ERC1271Wallet {
    address public immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        return SignatureChecker.recover(hash, signature) == owner ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }
}

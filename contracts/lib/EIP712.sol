// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice EIP-712 for the protocol's own signed messages: the domain separator, the digest, and recovery of
/// a 65-byte r‖s‖v signature that rejects malleable (high-s) and malformed signatures.
library EIP712 {
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    uint256 internal constant HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    function digest(bytes32 separator, bytes32 structHash) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", separator, structHash));
    }

    /// @dev The signer, or address(0) when the signature is malformed, malleable or unrecoverable: callers
    /// revert with their own error.
    function recover(bytes32 hash, bytes calldata sig) internal pure returns (address) {
        if (sig.length != 65) return address(0);
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        if (uint256(s) > HALF_ORDER) return address(0);
        return ecrecover(hash, v, r, s);
    }
}

/// @notice The domain separator of a contract that signs with EIP-712: cached for the chain it was deployed on
/// and recomputed when `block.chainid` differs, so signatures made for one side of a chain fork never replay on
/// the other.
abstract contract EIP712Domain {
    bytes32 private immutable _cachedSeparator;
    uint256 private immutable _cachedChainId;
    bytes32 private immutable _nameHash;
    bytes32 private immutable _versionHash;

    constructor(string memory name, string memory version) {
        _nameHash = keccak256(bytes(name));
        _versionHash = keccak256(bytes(version));
        _cachedChainId = block.chainid;
        _cachedSeparator = _buildSeparator();
    }

    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() public view returns (bytes32) {
        return block.chainid == _cachedChainId ? _cachedSeparator : _buildSeparator();
    }

    function _hashTyped(bytes32 structHash) internal view returns (bytes32) {
        return EIP712.digest(DOMAIN_SEPARATOR(), structHash);
    }

    function _buildSeparator() private view returns (bytes32) {
        return keccak256(abi.encode(EIP712.DOMAIN_TYPEHASH, _nameHash, _versionHash, block.chainid, address(this)));
    }
}

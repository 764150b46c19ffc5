// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20Permit} from "./lib/ERC20Permit.sol";
import {Owned} from "./lib/Owned.sol";
import {SignatureChecker} from "./lib/SignatureChecker.sol";

/// @title A 6-decimal dollar for devnets only
/// @notice EIP-2612 permit and EIP-3009 transfer/receive-with-authorization, as USDC has, so that
/// x402-style signed payments work, including USDC v2.2's `bytes signature` overloads (EOA or ERC-1271 smart
/// wallet) and EIP-5267 `eip712Domain()`. On a real network Tessera uses the real stablecoin's address.
contract DevStablecoin is ERC20Permit, Owned {
    bytes32 public constant TRANSFER_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 public constant RECEIVE_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 public constant CANCEL_AUTHORIZATION_TYPEHASH =
        keccak256("CancelAuthorization(address authorizer,bytes32 nonce)");

    mapping(address => mapping(bytes32 => bool)) public authorizationState;

    event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);
    event AuthorizationCanceled(address indexed authorizer, bytes32 indexed nonce);

    error AuthorizationNotYetValid(uint256 validAfter, uint256 timestamp);
    error AuthorizationExpired(uint256 validBefore, uint256 timestamp);
    error AuthorizationAlreadyUsed(address authorizer, bytes32 nonce);
    error CallerMustBePayee(address caller, address payee);

    constructor(address owner_) ERC20Permit("Tessera Dev USD", "tUSD", 6) Owned(owner_) {}

    function version() public pure override returns (string memory) {
        return "2";
    }

    /// @notice Devnet faucet: the owner mints freely. There is no such function on a real stablecoin.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @notice EIP-5267: the EIP-712 domain, so a client can check name/version before it signs.
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name_,
            string memory version_,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", name, version(), block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    /// @notice As in USDC v2.2, the v/r/s form is checked like the `bytes` one: an address with code (a smart
    /// wallet such as an agent's PolicyWallet) answers through ERC-1271, an EOA must recover with a low s.
    function transferWithAuthorization(
        address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce,
        uint8 v, bytes32 r, bytes32 s
    ) external {
        bytes32 digest = _useAuthorization(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce);
        if (!SignatureChecker.isValidSignatureNow(from, digest, abi.encodePacked(r, s, v))) revert InvalidSignature();
        _transfer(from, to, value);
    }

    /// @notice The USDC v2.2 overload: `signature` is r||s||v from an EOA or an ERC-1271 contract signature.
    function transferWithAuthorization(
        address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce,
        bytes memory signature
    ) external {
        bytes32 digest = _useAuthorization(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce);
        if (!SignatureChecker.isValidSignatureNow(from, digest, signature)) revert InvalidSignature();
        _transfer(from, to, value);
    }

    /// @notice Like transferWithAuthorization, but only the payee may submit it, which stops front-running
    /// of a payment that a contract is meant to receive.
    function receiveWithAuthorization(
        address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce,
        uint8 v, bytes32 r, bytes32 s
    ) external {
        if (msg.sender != to) revert CallerMustBePayee(msg.sender, to);
        bytes32 digest = _useAuthorization(RECEIVE_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce);
        if (!SignatureChecker.isValidSignatureNow(from, digest, abi.encodePacked(r, s, v))) revert InvalidSignature();
        _transfer(from, to, value);
    }

    function receiveWithAuthorization(
        address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce,
        bytes memory signature
    ) external {
        if (msg.sender != to) revert CallerMustBePayee(msg.sender, to);
        bytes32 digest = _useAuthorization(RECEIVE_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce);
        if (!SignatureChecker.isValidSignatureNow(from, digest, signature)) revert InvalidSignature();
        _transfer(from, to, value);
    }

    function cancelAuthorization(address authorizer, bytes32 nonce, uint8 v, bytes32 r, bytes32 s) external {
        if (_recover(_cancelDigest(authorizer, nonce), v, r, s) != authorizer) revert InvalidSignature();
        _cancel(authorizer, nonce);
    }

    function cancelAuthorization(address authorizer, bytes32 nonce, bytes memory signature) external {
        if (!SignatureChecker.isValidSignatureNow(authorizer, _cancelDigest(authorizer, nonce), signature)) {
            revert InvalidSignature();
        }
        _cancel(authorizer, nonce);
    }

    function _cancelDigest(address authorizer, bytes32 nonce) private view returns (bytes32) {
        if (authorizationState[authorizer][nonce]) revert AuthorizationAlreadyUsed(authorizer, nonce);
        return _hashTypedData(keccak256(abi.encode(CANCEL_AUTHORIZATION_TYPEHASH, authorizer, nonce)));
    }

    function _cancel(address authorizer, bytes32 nonce) private {
        authorizationState[authorizer][nonce] = true;
        emit AuthorizationCanceled(authorizer, nonce);
    }

    /// @dev Checks the window and the nonce, marks the nonce used and returns the digest the caller must
    /// check the signature against (the whole call reverts when it does not match, so marking first is safe).
    function _useAuthorization(
        bytes32 typehash, address from, address to, uint256 value, uint256 validAfter, uint256 validBefore,
        bytes32 nonce
    ) private returns (bytes32) {
        if (block.timestamp <= validAfter) revert AuthorizationNotYetValid(validAfter, block.timestamp);
        if (block.timestamp >= validBefore) revert AuthorizationExpired(validBefore, block.timestamp);
        if (authorizationState[from][nonce]) revert AuthorizationAlreadyUsed(from, nonce);
        authorizationState[from][nonce] = true;
        emit AuthorizationUsed(from, nonce);
        return _hashTypedData(keccak256(abi.encode(typehash, from, to, value, validAfter, validBefore, nonce)));
    }
}

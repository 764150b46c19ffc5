// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {EIP712, EIP712Domain} from "./lib/EIP712.sol";
import {IERC20, SafeTransfer} from "./lib/SafeTransfer.sol";
import {InferenceVerifier} from "./InferenceVerifier.sol";
import {Market} from "./Market.sol";
import {ModelRegistry} from "./ModelRegistry.sol";
import {ProviderRegistry} from "./ProviderRegistry.sol";

/// @title Pay-per-verified-result escrow for market leases with `proof: zk`.
/// @notice The tenant of a lease escrows stablecoin at a price per inference for one model. For each
/// request the tenant signs (account, nonce, hash of the input instances); the provider answers with the
/// outputs and a proof, and signs (account, nonce, hash of the proof, hash of the instances). Anyone may
/// then settle: a valid proof pays the provider price × batch size from the escrow; an invalid one that
/// the provider signed slashes its bond (half to the tenant) and closes the account with a refund.
/// A tenant's close takes effect after CLOSE_DELAY, so delivered results can still be settled: the
/// tenant cannot withdraw to dodge payment for work already done.
contract InferenceEscrow is EIP712Domain {
    using SafeTransfer for IERC20;

    uint64 public constant CLOSE_DELAY = 1 hours;
    bytes32 private constant REQUEST_TYPEHASH =
        keccak256("InferenceRequest(uint64 account,uint64 nonce,bytes32 inputHash)");
    bytes32 private constant RESULT_TYPEHASH =
        keccak256("InferenceResult(uint64 account,uint64 nonce,bytes32 proofHash,bytes32 instancesHash)");

    struct Account {
        uint64 leaseId;
        address tenant;
        address provider;
        uint64 closesAt; // 0 while open
        bool closed; // settled out: escrow refunded
        bytes32 modelId;
        uint256 pricePerInference;
        uint256 escrow;
        uint256 paid;
    }

    IERC20 public immutable stablecoin;
    Market public immutable market;
    ProviderRegistry public immutable providers;
    InferenceVerifier public immutable verifier;

    uint64 public accountCount;
    mapping(uint64 => Account) private _accounts;
    mapping(uint64 => mapping(uint64 => bool)) public nonceUsed;

    event AccountOpened(uint64 indexed accountId, uint64 indexed leaseId, address indexed tenant, address provider,
        bytes32 modelId, uint256 pricePerInference, uint256 deposit);
    event ToppedUp(uint64 indexed accountId, uint256 amount, uint256 escrow);
    event ResultPaid(uint64 indexed accountId, uint64 indexed nonce, bytes32 indexed inferenceId, uint32 inferences,
        uint256 amount, uint256 escrow);
    event InvalidResultSlashed(uint64 indexed accountId, uint64 indexed nonce, address indexed provider,
        uint256 slashed, uint256 refund);
    event CloseRequested(uint64 indexed accountId, uint64 closesAt);
    event AccountClosed(uint64 indexed accountId, uint256 refund);

    error NotTenant(address caller);
    error LeaseNotActive(uint64 leaseId);
    error UnknownAccount(uint64 accountId);
    error AccountClosed_(uint64 accountId);
    error NonceUsed(uint64 accountId, uint64 nonce);
    error BadSignature(string who);
    error EscrowTooLow(uint256 due, uint256 escrow);
    error ModelNotRegistered(bytes32 modelId);
    error BadInstances();
    error CloseNotDue(uint64 closesAt);
    error ZeroAmount();

    constructor(IERC20 stablecoin_, Market market_, ProviderRegistry providers_, InferenceVerifier verifier_)
        EIP712Domain("Tessera InferenceEscrow", "1")
    {
        stablecoin = stablecoin_;
        market = market_;
        providers = providers_;
        verifier = verifier_;
    }

    /// @notice Open a pay-per-result account on an active lease the caller rents.
    function open(uint64 leaseId, bytes32 modelId, uint256 pricePerInference, uint256 deposit)
        external
        returns (uint64 accountId)
    {
        Market.Lease memory l = market.getLease(leaseId);
        if (l.tenant != msg.sender) revert NotTenant(msg.sender);
        if (l.state != Market.LeaseState.Active) revert LeaseNotActive(leaseId);
        (bool usable,) = verifier.models().usable(modelId);
        if (!usable) revert ModelNotRegistered(modelId);
        if (deposit == 0 || pricePerInference == 0) revert ZeroAmount();
        accountId = ++accountCount;
        Account storage a = _accounts[accountId];
        a.leaseId = leaseId;
        a.tenant = msg.sender;
        a.provider = l.provider;
        a.modelId = modelId;
        a.pricePerInference = pricePerInference;
        a.escrow = deposit;
        emit AccountOpened(accountId, leaseId, msg.sender, l.provider, modelId, pricePerInference, deposit);
        // the provider's bond answers for every result it signs on this account: locked until it closes
        providers.lockBond(l.provider);
        stablecoin.safeTransferFrom(msg.sender, address(this), deposit);
    }

    function topUp(uint64 accountId, uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Account storage a = _live(accountId);
        a.escrow += amount;
        emit ToppedUp(accountId, amount, a.escrow);
        stablecoin.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Settle one signed request/result pair. Anyone may call (usually the provider, to get paid,
    /// or the tenant, to slash a bad proof).
    function settle(uint64 accountId, uint64 nonce, bytes calldata proof, uint256[] calldata instances,
        bytes calldata tenantSig, bytes calldata providerSig) external {
        Account storage a = _live(accountId);
        if (nonceUsed[accountId][nonce]) revert NonceUsed(accountId, nonce);
        ModelRegistry.Model memory m = verifier.models().getModel(a.modelId);
        if (instances.length <= m.inputInstances) revert BadInstances();
        _checkSignatures(accountId, nonce, a, keccak256(abi.encodePacked(instances[:m.inputInstances])),
            keccak256(proof), keccak256(abi.encodePacked(instances)), tenantSig, providerSig);
        nonceUsed[accountId][nonce] = true;
        // the verifier is the protocol's own contract; its call comes before any token transfer
        (bool valid, bytes32 inferenceId) = verifier.tryVerifyInference(a.modelId, proof, instances);
        if (valid) _payResult(accountId, nonce, a, inferenceId, m.batchSize);
        else _slashInvalid(accountId, nonce, a);
    }

    function _checkSignatures(uint64 accountId, uint64 nonce, Account storage a, bytes32 inputHash,
        bytes32 proofHash, bytes32 instancesHash, bytes calldata tenantSig, bytes calldata providerSig)
        private
        view
    {
        _checkSigner(keccak256(abi.encode(REQUEST_TYPEHASH, accountId, nonce, inputHash)), tenantSig, a.tenant,
            "tenant");
        _checkSigner(keccak256(abi.encode(RESULT_TYPEHASH, accountId, nonce, proofHash, instancesHash)),
            providerSig, a.provider, "provider");
    }

    function _payResult(uint64 accountId, uint64 nonce, Account storage a, bytes32 inferenceId, uint32 batch)
        private
    {
        uint256 due = a.pricePerInference * batch;
        // an underfunded account cannot pay: revert (nothing recorded) so the result can be settled
        // after a top-up
        if (due > a.escrow) revert EscrowTooLow(due, a.escrow);
        a.escrow -= due;
        a.paid += due;
        emit ResultPaid(accountId, nonce, inferenceId, batch, due, a.escrow);
        stablecoin.safeTransfer(a.provider, due);
    }

    function _slashInvalid(uint64 accountId, uint64 nonce, Account storage a) private {
        uint256 refund = a.escrow;
        a.escrow = 0;
        a.closed = true;
        (uint256 slashed,) = providers.slash(a.provider, a.tenant);
        providers.unlockBond(a.provider);
        emit InvalidResultSlashed(accountId, nonce, a.provider, slashed, refund);
        emit AccountClosed(accountId, refund);
        stablecoin.safeTransfer(a.tenant, refund);
    }

    /// @notice The tenant asks to close; results can still be settled until `closesAt`. The provider may
    /// close at once (it gives up unsettled results).
    function requestClose(uint64 accountId) external {
        Account storage a = _live(accountId);
        if (msg.sender == a.provider) {
            a.closesAt = uint64(block.timestamp);
        } else {
            if (msg.sender != a.tenant) revert NotTenant(msg.sender);
            if (a.closesAt == 0) a.closesAt = uint64(block.timestamp) + CLOSE_DELAY;
        }
        emit CloseRequested(accountId, a.closesAt);
        if (msg.sender == a.provider) _close(accountId, a);
    }

    /// @notice After the close delay, refund what is left to the tenant (anyone may call).
    function finishClose(uint64 accountId) external {
        Account storage a = _accounts[accountId];
        if (a.tenant == address(0)) revert UnknownAccount(accountId);
        if (a.closed) revert AccountClosed_(accountId);
        if (a.closesAt == 0 || block.timestamp < a.closesAt) revert CloseNotDue(a.closesAt);
        _close(accountId, a);
    }

    function getAccount(uint64 accountId) external view returns (Account memory) {
        return _accounts[accountId];
    }

    function _close(uint64 accountId, Account storage a) private {
        uint256 refund = a.escrow;
        a.escrow = 0;
        a.closed = true;
        providers.unlockBond(a.provider);
        emit AccountClosed(accountId, refund);
        stablecoin.safeTransfer(a.tenant, refund);
    }

    function _live(uint64 accountId) private view returns (Account storage a) {
        a = _accounts[accountId];
        if (a.tenant == address(0)) revert UnknownAccount(accountId);
        if (a.closed || (a.closesAt != 0 && block.timestamp >= a.closesAt)) revert AccountClosed_(accountId);
    }

    function _checkSigner(bytes32 structHash, bytes calldata sig, address expected, string memory who) private view {
        address signer = EIP712.recover(_hashTyped(structHash), sig);
        if (signer == address(0) || signer != expected) revert BadSignature(who);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20, SafeTransfer} from "../lib/SafeTransfer.sol";
import {SignatureChecker} from "../lib/SignatureChecker.sol";

/// @notice Pulls a deposit from the payer into BatchSettlement: the collector receives the tokens, then
/// sends them on to its caller. BatchSettlement checks its own balance grew by `amount`.
interface IDepositCollector {
    function collect(address payer, address token, uint256 amount, bytes32 channelId, bytes calldata data) external;
}

/// @title Payment channels for x402's `batch-settlement` scheme
/// @notice ABI-compatible with the contract the x402 SDK (2.25) expects at
/// 0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003, so the SDK's own client, server and facilitator pay over it.
/// A payer deposits the stablecoin into a channel named by the EIP-712 hash of its config. Each paid call
/// carries a voucher: the payer's signature over the channel id and the cumulative amount it will pay.
/// The receiver claims the latest voucher whenever it likes (one claim covers any number of calls, and one
/// transaction can claim for many channels), then `settle` moves everything claimed for a receiver and token
/// in one transfer. A payer leaves through a timed withdrawal: during `withdrawDelay` the receiver can still
/// claim its best voucher, after it the unclaimed rest goes back to the payer. A receiver may also refund
/// unspent funds at any time.
/// @dev Devnets place this runtime code at the canonical address (no constructor runs there), so the contract
/// keeps no immutables and computes its domain separator from `address(this)` and `block.chainid` on every use
/// (domain separators follow the chain id after a fork).
/// Conservation: token.balanceOf(this) >= sum over channels of (balance - totalClaimed)
///                                        + sum over receivers of (totalClaimed - totalSettled).
contract BatchSettlement {
    using SafeTransfer for IERC20;

    struct ChannelConfig {
        address payer;
        address payerAuthorizer; // signs vouchers when set (an EOA key); otherwise the payer signs (EOA or ERC-1271)
        address receiver;
        address receiverAuthorizer; // authorizes claims and refunds for the receiver
        address token;
        uint40 withdrawDelay;
        bytes32 salt;
    }

    struct Voucher {
        ChannelConfig channel;
        uint128 maxClaimableAmount;
    }

    struct VoucherClaim {
        Voucher voucher;
        bytes signature; // the payer's (or payerAuthorizer's) signature over Voucher(channelId, maxClaimableAmount)
        uint128 totalClaimed; // the channel's new cumulative claimed total, at most maxClaimableAmount
    }

    struct ChannelState {
        uint128 balance; // deposited, less what was withdrawn or refunded; claimed funds stay counted here
        uint128 totalClaimed;
    }

    struct PendingWithdrawal {
        uint128 amount;
        uint40 initiatedAt;
    }

    struct ReceiverState {
        uint128 totalClaimed;
        uint128 totalSettled;
    }

    uint40 public constant MIN_WITHDRAW_DELAY = 900;
    uint40 public constant MAX_WITHDRAW_DELAY = 2_592_000;

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("x402 Batch Settlement");
    bytes32 private constant VERSION_HASH = keccak256("1");
    bytes32 public constant CHANNEL_CONFIG_TYPEHASH = keccak256(
        "ChannelConfig(address payer,address payerAuthorizer,address receiver,address receiverAuthorizer,address token,uint40 withdrawDelay,bytes32 salt)"
    );
    bytes32 public constant VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 channelId,uint128 maxClaimableAmount)");
    bytes32 public constant REFUND_TYPEHASH = keccak256("Refund(bytes32 channelId,uint256 nonce,uint128 amount)");
    bytes32 public constant CLAIM_ENTRY_TYPEHASH =
        keccak256("ClaimEntry(bytes32 channelId,uint128 maxClaimableAmount,uint128 totalClaimed)");
    bytes32 public constant CLAIM_BATCH_TYPEHASH = keccak256(
        "ClaimBatch(ClaimEntry[] claims)ClaimEntry(bytes32 channelId,uint128 maxClaimableAmount,uint128 totalClaimed)"
    );
    // transient reentrancy lock slot: keccak256("tessera.BatchSettlement.lock")
    bytes32 private constant LOCK_SLOT = 0x075174d6ef07bc791e7b17333a129c9b6c50ee709835370d1ab90f44527ae761;

    mapping(bytes32 => ChannelState) public channels;
    mapping(bytes32 => PendingWithdrawal) public pendingWithdrawals;
    mapping(address => mapping(address => ReceiverState)) public receivers;
    mapping(bytes32 => uint256) public refundNonce;

    event Deposited(bytes32 indexed channelId, address indexed payer, address indexed token, uint256 amount,
        uint256 balance);
    event Claimed(bytes32 indexed channelId, address indexed receiver, address indexed token, uint256 totalClaimed,
        uint256 amount);
    event Settled(address indexed receiver, address indexed token, address indexed sender, uint128 amount);
    event WithdrawInitiated(bytes32 indexed channelId, uint256 amount, uint256 finalizeAfter);
    event WithdrawCanceled(bytes32 indexed channelId);
    event Withdrawn(bytes32 indexed channelId, address indexed payer, uint256 amount);
    event Refunded(bytes32 indexed channelId, address indexed payer, uint256 amount, uint256 nonce);

    error Reentrancy();
    error ZeroAmount();
    error InvalidConfig(string field);
    error WithdrawDelayOutOfRange(uint40 withdrawDelay, uint40 min, uint40 max);
    error AmountTooLarge(uint256 amount);
    error DepositShortfall(uint256 expected, uint256 received);
    error InvalidVoucherSignature(bytes32 channelId);
    error ClaimAboveVoucher(bytes32 channelId, uint256 totalClaimed, uint256 maxClaimableAmount);
    error ClaimExceedsBalance(bytes32 channelId, uint256 totalClaimed, uint256 balance);
    error NotReceiverAuthorizer(address caller, address receiverAuthorizer);
    error MixedAuthorizers(address first, address other);
    error InvalidAuthorizerSignature();
    error NothingToSettle(address receiver, address token);
    error NotPayer(address caller, address payer);
    error NoPendingWithdrawal(bytes32 channelId);
    error WithdrawDelayNotElapsed(bytes32 channelId, uint256 finalizeAfter, uint256 timestamp);
    error NotReceiver(address caller, address receiver);
    error RefundNonceMismatch(bytes32 channelId, uint256 expected, uint256 given);
    error NothingToRefund(bytes32 channelId);
    error EmptyBatch();

    modifier nonReentrant() {
        bytes32 slot = LOCK_SLOT;
        uint256 locked;
        assembly {
            locked := tload(slot)
        }
        if (locked != 0) revert Reentrancy();
        assembly {
            tstore(slot, 1)
        }
        _;
        assembly {
            tstore(slot, 0)
        }
    }

    // ---------------------------------------------------------------- deposits

    /// @notice Add `amount` of `config.token` to the channel. `collector` pulls it from the payer (the
    /// ERC-3009 collector takes the payer's receiveWithAuthorization signature: one transaction, submitted by
    /// anyone); `collector == address(0)` pulls it from the caller with transferFrom instead (an allowance or a
    /// permit given first). A deposit cancels a pending withdrawal: the payer is staying.
    function deposit(ChannelConfig calldata config, uint128 amount, address collector, bytes calldata collectorData)
        external
        nonReentrant
    {
        if (amount == 0) revert ZeroAmount();
        _checkConfig(config);
        bytes32 id = getChannelId(config);
        IERC20 token = IERC20(config.token);
        uint256 before = token.balanceOf(address(this));
        if (collector == address(0)) {
            token.safeTransferFrom(msg.sender, address(this), amount);
        } else {
            IDepositCollector(collector).collect(config.payer, config.token, amount, id, collectorData);
        }
        uint256 received = token.balanceOf(address(this)) - before;
        // a collector that under-delivers (or a fee-on-transfer token) must not credit more than arrived
        if (received != amount) revert DepositShortfall(amount, received);
        ChannelState storage ch = channels[id];
        uint256 newBalance = uint256(ch.balance) + amount;
        if (newBalance > type(uint128).max) revert AmountTooLarge(newBalance);
        ch.balance = uint128(newBalance);
        if (pendingWithdrawals[id].initiatedAt != 0) {
            delete pendingWithdrawals[id];
            emit WithdrawCanceled(id);
        }
        emit Deposited(id, config.payer, config.token, amount, newBalance);
    }

    // ---------------------------------------------------------------- claims and settlement

    /// @notice The receiver's authorizer claims vouchers itself.
    function claim(VoucherClaim[] calldata voucherClaims) external nonReentrant {
        if (voucherClaims.length == 0) revert EmptyBatch();
        for (uint256 i = 0; i < voucherClaims.length; ++i) {
            address authorizer = voucherClaims[i].voucher.channel.receiverAuthorizer;
            if (msg.sender != authorizer) revert NotReceiverAuthorizer(msg.sender, authorizer);
            _claim(voucherClaims[i]);
        }
    }

    /// @notice Anyone (a facilitator) submits a batch the receiver's authorizer signed as ClaimBatch.
    function claimWithSignature(VoucherClaim[] calldata voucherClaims, bytes calldata authorizerSignature)
        external
        nonReentrant
    {
        if (voucherClaims.length == 0) revert EmptyBatch();
        address authorizer = voucherClaims[0].voucher.channel.receiverAuthorizer;
        for (uint256 i = 1; i < voucherClaims.length; ++i) {
            address other = voucherClaims[i].voucher.channel.receiverAuthorizer;
            if (other != authorizer) revert MixedAuthorizers(authorizer, other);
        }
        if (!SignatureChecker.isValidSignatureNow(authorizer, getClaimBatchDigest(voucherClaims), authorizerSignature)) {
            revert InvalidAuthorizerSignature();
        }
        for (uint256 i = 0; i < voucherClaims.length; ++i) {
            _claim(voucherClaims[i]);
        }
    }

    /// @notice Pay the receiver everything claimed for it in `token` and not yet paid: one transfer for any
    /// number of channels and calls. Anyone may call it; the money only goes to the receiver.
    function settle(address receiver, address token) external nonReentrant {
        ReceiverState storage rs = receivers[receiver][token];
        uint128 amount = rs.totalClaimed - rs.totalSettled;
        if (amount == 0) revert NothingToSettle(receiver, token);
        rs.totalSettled = rs.totalClaimed;
        emit Settled(receiver, token, msg.sender, amount);
        IERC20(token).safeTransfer(receiver, amount);
    }

    // ---------------------------------------------------------------- leaving a channel

    /// @notice The payer's timed close: after `withdrawDelay` the payer may take back up to `amount` of what
    /// the receiver has not claimed. The receiver's node answers by claiming its best voucher meanwhile.
    function initiateWithdraw(ChannelConfig calldata config, uint128 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        _onlyPayer(config);
        bytes32 id = getChannelId(config);
        pendingWithdrawals[id] = PendingWithdrawal(amount, uint40(block.timestamp));
        emit WithdrawInitiated(id, amount, block.timestamp + config.withdrawDelay);
    }

    /// @notice Complete a withdrawal once its delay has passed. Anyone may call it; the money goes to the payer.
    function finalizeWithdraw(ChannelConfig calldata config) external nonReentrant {
        bytes32 id = getChannelId(config);
        PendingWithdrawal memory pending = pendingWithdrawals[id];
        if (pending.initiatedAt == 0) revert NoPendingWithdrawal(id);
        uint256 finalizeAfter = uint256(pending.initiatedAt) + config.withdrawDelay;
        if (block.timestamp < finalizeAfter) revert WithdrawDelayNotElapsed(id, finalizeAfter, block.timestamp);
        ChannelState storage ch = channels[id];
        uint128 available = ch.balance - ch.totalClaimed;
        uint128 amount = pending.amount < available ? pending.amount : available;
        delete pendingWithdrawals[id];
        ch.balance -= amount;
        emit Withdrawn(id, config.payer, amount);
        IERC20(config.token).safeTransfer(config.payer, amount);
    }

    /// @notice The receiver (or its authorizer) returns up to `amount` of the unclaimed funds to the payer.
    function refund(ChannelConfig calldata config, uint128 amount) external nonReentrant {
        if (msg.sender != config.receiver && msg.sender != config.receiverAuthorizer) {
            revert NotReceiver(msg.sender, config.receiver);
        }
        _refund(config, getChannelId(config), amount);
    }

    /// @notice A cooperative refund the receiver's authorizer signed (Refund(channelId, nonce, amount)); the
    /// nonce makes each signature usable once.
    function refundWithSignature(
        ChannelConfig calldata config,
        uint128 amount,
        uint256 nonce,
        bytes calldata receiverAuthorizerSignature
    ) external nonReentrant {
        bytes32 id = getChannelId(config);
        if (nonce != refundNonce[id]) revert RefundNonceMismatch(id, refundNonce[id], nonce);
        if (!SignatureChecker.isValidSignatureNow(config.receiverAuthorizer, getRefundDigest(id, nonce, amount),
            receiverAuthorizerSignature)) revert InvalidAuthorizerSignature();
        _refund(config, id, amount);
    }

    // ---------------------------------------------------------------- batching

    /// @notice Several of this contract's own calls in one transaction (e.g. claim then refund).
    function multicall(bytes[] calldata data) external returns (bytes[] memory results) {
        results = new bytes[](data.length);
        for (uint256 i = 0; i < data.length; ++i) {
            (bool ok, bytes memory ret) = address(this).delegatecall(data[i]);
            if (!ok) {
                assembly {
                    revert(add(ret, 32), mload(ret))
                }
            }
            results[i] = ret;
        }
    }

    // ---------------------------------------------------------------- views

    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    function getChannelId(ChannelConfig calldata config) public view returns (bytes32) {
        return _digest(keccak256(abi.encode(CHANNEL_CONFIG_TYPEHASH, config.payer, config.payerAuthorizer,
            config.receiver, config.receiverAuthorizer, config.token, config.withdrawDelay, config.salt)));
    }

    function getVoucherDigest(bytes32 channelId, uint128 maxClaimableAmount) public view returns (bytes32) {
        return _digest(keccak256(abi.encode(VOUCHER_TYPEHASH, channelId, maxClaimableAmount)));
    }

    function getRefundDigest(bytes32 channelId, uint256 nonce, uint128 amount) public view returns (bytes32) {
        return _digest(keccak256(abi.encode(REFUND_TYPEHASH, channelId, nonce, amount)));
    }

    function getClaimBatchDigest(VoucherClaim[] calldata voucherClaims) public view returns (bytes32) {
        bytes32[] memory entries = new bytes32[](voucherClaims.length);
        for (uint256 i = 0; i < voucherClaims.length; ++i) {
            entries[i] = keccak256(abi.encode(CLAIM_ENTRY_TYPEHASH, getChannelId(voucherClaims[i].voucher.channel),
                voucherClaims[i].voucher.maxClaimableAmount, voucherClaims[i].totalClaimed));
        }
        return _digest(keccak256(abi.encode(CLAIM_BATCH_TYPEHASH, keccak256(abi.encodePacked(entries)))));
    }

    // ---------------------------------------------------------------- internals

    function _claim(VoucherClaim calldata vc) private {
        ChannelConfig calldata config = vc.voucher.channel;
        bytes32 id = getChannelId(config);
        uint128 maxClaimable = vc.voucher.maxClaimableAmount;
        address voucherSigner = config.payerAuthorizer != address(0) ? config.payerAuthorizer : config.payer;
        if (!SignatureChecker.isValidSignatureNow(voucherSigner, getVoucherDigest(id, maxClaimable), vc.signature)) {
            revert InvalidVoucherSignature(id);
        }
        if (vc.totalClaimed > maxClaimable) revert ClaimAboveVoucher(id, vc.totalClaimed, maxClaimable);
        ChannelState storage ch = channels[id];
        if (vc.totalClaimed > ch.balance) revert ClaimExceedsBalance(id, vc.totalClaimed, ch.balance);
        // an entry at or below what is already claimed changes nothing (a stale voucher in a batch is harmless)
        if (vc.totalClaimed <= ch.totalClaimed) return;
        uint128 delta = vc.totalClaimed - ch.totalClaimed;
        ch.totalClaimed = vc.totalClaimed;
        receivers[config.receiver][config.token].totalClaimed += delta;
        emit Claimed(id, config.receiver, config.token, vc.totalClaimed, delta);
    }

    function _refund(ChannelConfig calldata config, bytes32 id, uint128 amount) private {
        ChannelState storage ch = channels[id];
        uint128 available = ch.balance - ch.totalClaimed;
        uint128 paid = amount < available ? amount : available;
        if (paid == 0) revert NothingToRefund(id);
        uint256 nonce = refundNonce[id]++;
        ch.balance -= paid;
        if (pendingWithdrawals[id].initiatedAt != 0) {
            delete pendingWithdrawals[id];
            emit WithdrawCanceled(id);
        }
        emit Refunded(id, config.payer, paid, nonce);
        IERC20(config.token).safeTransfer(config.payer, paid);
    }

    function _onlyPayer(ChannelConfig calldata config) private view {
        if (msg.sender != config.payer && (config.payerAuthorizer == address(0) || msg.sender != config.payerAuthorizer)) {
            revert NotPayer(msg.sender, config.payer);
        }
    }

    function _checkConfig(ChannelConfig calldata config) private pure {
        if (config.payer == address(0)) revert InvalidConfig("payer");
        if (config.receiver == address(0)) revert InvalidConfig("receiver");
        if (config.receiverAuthorizer == address(0)) revert InvalidConfig("receiverAuthorizer");
        if (config.token == address(0)) revert InvalidConfig("token");
        if (config.withdrawDelay < MIN_WITHDRAW_DELAY || config.withdrawDelay > MAX_WITHDRAW_DELAY) {
            revert WithdrawDelayOutOfRange(config.withdrawDelay, MIN_WITHDRAW_DELAY, MAX_WITHDRAW_DELAY);
        }
    }

    function _digest(bytes32 structHash) private view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }
}

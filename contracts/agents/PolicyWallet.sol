// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Owned} from "../lib/Owned.sol";
import {IERC20, SafeTransfer} from "../lib/SafeTransfer.sol";
import {SignatureChecker} from "../lib/SignatureChecker.sol";

interface IAuthorizationToken {
    function DOMAIN_SEPARATOR() external view returns (bytes32);
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
}

/// @title A smart account holding an agent's funds, which refuses spending past its owner's caps
/// @notice The owner (a human key) sets the caps, the allow-lists and the pinned hash of the signed policy file;
/// the agent (its own key) can only spend within them:
/// - `pay`: a transfer to an allowed payee, within the per-payment cap and the window's budget; above the
///   approval threshold it must be `propose`d and the owner must `approve` it;
/// - `reserve`: an EIP-3009 authorization (so the wallet can pay x402 through the stablecoin's `bytes
///   signature` overload) is counted against the same caps *before* it can be signed. `isValidSignature`
///   (ERC-1271) accepts only a digest the wallet computed itself from reserved transfer fields (payee, amount,
///   validity, nonce) and signed by the agent, so it cannot become a way around the caps: a permit, an
///   approval or any other message is refused;
/// - `execute`: a call to an allowed contract, never one that moves or approves tokens.
/// The owner can always withdraw; nothing the agent does changes a cap or a list.
contract PolicyWallet is Owned {
    using SafeTransfer for IERC20;

    bytes32 internal constant TRANSFER_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant RECEIVE_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes4 internal constant ERC1271_MAGIC = 0x1626ba7e;
    uint64 public constant PROPOSAL_TTL = 7 days;

    /// @dev Per token. `window` 0 means the token is not managed: the agent cannot spend it.
    struct Caps {
        uint128 perPayment;
        uint128 perWindow;
        uint128 approvalAbove;
        uint64 window;
    }

    struct Budget {
        uint64 start;
        uint128 spent;
    }

    struct Proposal {
        address token;
        address to;
        uint128 amount;
        uint64 expires;
        uint8 state; // 1 open, 2 paid, 3 rejected
    }

    struct Reservation {
        address token;
        uint128 value;
        uint64 validBefore;
        uint64 windowStart;
        bytes32 nonce;
    }

    address public agent;
    bytes32 public policyHash;
    uint64 public policyVersion;
    mapping(address token => Caps) public caps;
    mapping(address token => Budget) public budgets;
    mapping(address payee => bool) public payeeAllowed;
    mapping(address target => bool) public contractAllowed;
    mapping(bytes32 digest => Reservation) public reservations;
    Proposal[] public proposals;

    event AgentSet(address indexed agent);
    event PolicyPinned(bytes32 indexed policyHash, uint64 version);
    event CapsSet(address indexed token, uint128 perPayment, uint128 perWindow, uint128 approvalAbove, uint64 window);
    event PayeeSet(address indexed payee, bool allowed);
    event ContractSet(address indexed target, bool allowed);
    event Paid(address indexed token, address indexed to, uint256 amount, uint256 proposalId);
    event Proposed(uint256 indexed id, address indexed token, address indexed to, uint256 amount);
    event ProposalClosed(uint256 indexed id, bool approved);
    event Reserved(bytes32 indexed digest, address indexed token, address indexed to, uint256 value, uint256 validBefore);
    event Released(bytes32 indexed digest, uint256 value);
    event Executed(address indexed target, bytes4 selector);
    event Withdrawn(address indexed token, address indexed to, uint256 amount);

    error NotAgent(address caller);
    error StalePolicy(uint64 version, uint64 current);
    error TokenNotManaged(address token);
    error PayeeNotAllowed(address payee);
    error OverPaymentCap(uint256 amount, uint256 cap);
    error OverWindowBudget(uint256 amount, uint256 left);
    error NeedsApproval(uint256 amount, uint256 threshold);
    error BadCaps();
    error ContractNotAllowed(address target);
    error ForbiddenCall(address target, bytes4 selector);
    error UnknownProposal(uint256 id);
    error ProposalNotOpen(uint256 id);
    error ProposalExpired(uint256 id, uint256 expired);
    error AlreadyReserved(bytes32 digest);
    error NotReleasable(bytes32 digest);
    error BadValidity(uint256 validAfter, uint256 validBefore);
    error CallFailed(address target, bytes reason);

    constructor(address owner_, address agent_) Owned(owner_) {
        if (agent_ == address(0)) revert ZeroAddress();
        agent = agent_;
        emit AgentSet(agent_);
    }

    modifier onlyAgent() {
        if (msg.sender != agent) revert NotAgent(msg.sender);
        _;
    }

    // -- the owner's rules ----------------------------------------------------------------------
    /// @notice Pin the signed policy file the agent must run under; an older version can never be pinned again.
    function pinPolicy(bytes32 hash, uint64 version) external onlyOwner {
        if (version <= policyVersion) revert StalePolicy(version, policyVersion);
        policyHash = hash;
        policyVersion = version;
        emit PolicyPinned(hash, version);
    }

    function setCaps(address token, uint128 perPayment, uint128 perWindow, uint128 approvalAbove, uint64 window)
        external
        onlyOwner
    {
        if (window == 0 || perPayment > perWindow || approvalAbove > perPayment) revert BadCaps();
        caps[token] = Caps(perPayment, perWindow, approvalAbove, window);
        emit CapsSet(token, perPayment, perWindow, approvalAbove, window);
    }

    function setPayee(address payee, bool allowed) external onlyOwner {
        payeeAllowed[payee] = allowed;
        emit PayeeSet(payee, allowed);
    }

    function setContract(address target, bool allowed) external onlyOwner {
        contractAllowed[target] = allowed;
        emit ContractSet(target, allowed);
    }

    function setAgent(address agent_) external onlyOwner {
        if (agent_ == address(0)) revert ZeroAddress();
        agent = agent_;
        emit AgentSet(agent_);
    }

    /// @notice The owner's own money: taken out at any time, whatever the caps.
    function withdraw(address token, address to, uint256 amount) external onlyOwner {
        emit Withdrawn(token, to, amount);
        IERC20(token).safeTransfer(to, amount);
    }

    // -- the agent's spending -----------------------------------------------------------------
    function pay(address token, address to, uint256 amount) external onlyAgent {
        Caps memory c = _capsFor(token, to, amount);
        if (amount > c.approvalAbove) revert NeedsApproval(amount, c.approvalAbove);
        _spend(token, c, amount);
        emit Paid(token, to, amount, type(uint256).max);
        IERC20(token).safeTransfer(to, amount);
    }

    /// @notice A payment above the approval threshold (still within the per-payment cap) waits for the owner.
    function propose(address token, address to, uint256 amount) external onlyAgent returns (uint256 id) {
        _capsFor(token, to, amount);
        id = proposals.length;
        uint64 expires = uint64(block.timestamp) + PROPOSAL_TTL;
        proposals.push(Proposal(token, to, uint128(amount), expires, 1));
        emit Proposed(id, token, to, amount);
    }

    /// @notice The owner approves: the payment is made now, counted in the current window's budget.
    function approve(uint256 id) external onlyOwner {
        Proposal storage p = _open(id);
        Caps memory c = _capsFor(p.token, p.to, p.amount);
        p.state = 2;
        _spend(p.token, c, p.amount);
        emit ProposalClosed(id, true);
        emit Paid(p.token, p.to, p.amount, id);
        IERC20(p.token).safeTransfer(p.to, p.amount);
    }

    function reject(uint256 id) external onlyOwner {
        Proposal storage p = _open(id);
        p.state = 3;
        emit ProposalClosed(id, false);
    }

    function proposalCount() external view returns (uint256) {
        return proposals.length;
    }

    /// @notice Count an EIP-3009 authorization from this wallet against the caps, so the agent may sign it.
    /// @param isReceive true for ReceiveWithAuthorization (what an x402 channel deposit uses), else Transfer.
    function reserve(
        address token,
        bool isReceive,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce
    ) external onlyAgent returns (bytes32 digest) {
        if (validBefore <= block.timestamp || validBefore > block.timestamp + 1 days || validAfter >= validBefore) {
            revert BadValidity(validAfter, validBefore);
        }
        Caps memory c = _capsFor(token, to, value);
        if (value > c.approvalAbove) revert NeedsApproval(value, c.approvalAbove);
        digest = authorizationDigest(token, isReceive, to, value, validAfter, validBefore, nonce);
        if (reservations[digest].validBefore != 0) revert AlreadyReserved(digest);
        uint64 start = _spend(token, c, value);
        reservations[digest] = Reservation(token, uint128(value), uint64(validBefore), start, nonce);
        emit Reserved(digest, token, to, value, validBefore);
    }

    /// @notice An authorization that expired unused gives its budget back (to the window it was counted in).
    function release(bytes32 digest) external {
        Reservation memory r = reservations[digest];
        if (r.validBefore == 0 || block.timestamp < r.validBefore
            || IAuthorizationToken(r.token).authorizationState(address(this), r.nonce)) revert NotReleasable(digest);
        delete reservations[digest];
        Budget storage b = budgets[r.token];
        if (b.start == r.windowStart) b.spent -= r.value;
        emit Released(digest, r.value);
    }

    /// @notice ERC-1271: only a reserved, unexpired authorization signed by the agent.
    function isValidSignature(bytes32 digest, bytes calldata signature) external view returns (bytes4) {
        Reservation memory r = reservations[digest];
        if (r.validBefore == 0 || block.timestamp >= r.validBefore) return 0xffffffff;
        if (SignatureChecker.recover(digest, signature) != agent) return 0xffffffff;
        return ERC1271_MAGIC;
    }

    /// @notice A call to an allowed contract that moves no value and no tokens.
    function execute(address target, bytes calldata data) external onlyAgent returns (bytes memory) {
        if (!contractAllowed[target]) revert ContractNotAllowed(target);
        bytes4 selector = data.length >= 4 ? bytes4(data[:4]) : bytes4(0);
        if (caps[target].window != 0 || target == address(this) || _movesTokens(selector)) {
            revert ForbiddenCall(target, selector);
        }
        emit Executed(target, selector);
        (bool ok, bytes memory ret) = target.call(data);
        if (!ok) revert CallFailed(target, ret);
        return ret;
    }

    function authorizationDigest(
        address token,
        bool isReceive,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce
    ) public view returns (bytes32) {
        bytes32 typehash = isReceive ? RECEIVE_WITH_AUTHORIZATION_TYPEHASH : TRANSFER_WITH_AUTHORIZATION_TYPEHASH;
        bytes32 structHash = keccak256(abi.encode(typehash, address(this), to, value, validAfter, validBefore, nonce));
        // the token's live domain: it follows the chain id if the chain forks
        return keccak256(abi.encodePacked("\x19\x01", IAuthorizationToken(token).DOMAIN_SEPARATOR(), structHash));
    }

    /// @notice What the agent may still spend of `token` in the current window.
    function budgetLeft(address token) external view returns (uint256) {
        Caps memory c = caps[token];
        if (c.window == 0) return 0;
        Budget memory b = budgets[token];
        if (block.timestamp >= uint256(b.start) + c.window) return c.perWindow;
        return c.perWindow - b.spent;
    }

    // -- internals ----------------------------------------------------------------------------
    function _capsFor(address token, address to, uint256 amount) private view returns (Caps memory c) {
        c = caps[token];
        if (c.window == 0) revert TokenNotManaged(token);
        if (!payeeAllowed[to]) revert PayeeNotAllowed(to);
        if (amount > c.perPayment) revert OverPaymentCap(amount, c.perPayment);
    }

    function _spend(address token, Caps memory c, uint256 amount) private returns (uint64 start) {
        Budget storage b = budgets[token];
        if (block.timestamp >= uint256(b.start) + c.window) {
            b.start = uint64(block.timestamp);
            b.spent = 0;
        }
        uint256 left = c.perWindow - b.spent;
        if (amount > left) revert OverWindowBudget(amount, left);
        b.spent += uint128(amount);
        return b.start;
    }

    function _open(uint256 id) private view returns (Proposal storage p) {
        if (id >= proposals.length) revert UnknownProposal(id);
        p = proposals[id];
        if (p.state != 1) revert ProposalNotOpen(id);
        if (block.timestamp >= p.expires) revert ProposalExpired(id, p.expires);
    }

    function _movesTokens(bytes4 s) private pure returns (bool) {
        return s == IERC20.transfer.selector || s == IERC20.transferFrom.selector || s == IERC20.approve.selector
            || s == bytes4(keccak256("increaseAllowance(address,uint256)"))
            || s == bytes4(keccak256("setApprovalForAll(address,bool)"))
            || s == bytes4(keccak256("safeTransferFrom(address,address,uint256)"))
            || s == bytes4(keccak256("safeTransferFrom(address,address,uint256,bytes)"))
            || s == bytes4(keccak256("permit(address,address,uint256,uint256,uint8,bytes32,bytes32)"));
    }
}

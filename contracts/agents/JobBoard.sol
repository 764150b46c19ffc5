// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Owned} from "../lib/Owned.sol";
import {IERC20, IERC20Permit, SafeTransfer} from "../lib/SafeTransfer.sol";

interface IReceiveWithAuthorization {
    function receiveWithAuthorization(
        address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce,
        bytes calldata signature
    ) external;
}

interface IAgentRegistry {
    function ownerOf(uint256 id) external view returns (address);
    function payoutOf(uint256 id) external view returns (address);
    function recordPayment(bytes32 ref, uint256 id, address payer, uint256 amount) external;
}

interface IInferenceRecords {
    function verifiedAt(bytes32 inferenceId) external view returns (uint256);
    function inferenceIdOf(bytes32 modelId, uint256[] calldata instances) external pure returns (bytes32);
}

/// @title Hiring agents: jobs paid from escrow on delivery, with a priority agent, take-over, review and referee
/// @notice A poster escrows the job's max price. The priority agent alone may deliver until `priorityUntil`,
/// then any registered agent may (take-over); nobody after the deadline. A delivery quotes a price up to the
/// max and is paid when the poster accepts or, if the poster says nothing, when the review window ends: a poster
/// cannot withhold acceptance and take a refund. In that window the poster may dispute, and the referee
/// decides. A job that names a model is delivered with a zk-proved inference on the poster's inputs, verified
/// on chain: such a delivery is final and paid at once. No delivery by the deadline refunds the poster.
/// Deliveries are bound to their sender: committed, then revealed in a later block by the agent's owner, with
/// the deliverer's address inside the commitment; payment goes to the agent's payout wallet as the registry
/// knows it at delivery.
contract JobBoard is Owned {
    using SafeTransfer for IERC20;

    enum State {
        None,
        Open,
        Delivered,
        Disputed,
        Paid,
        Refunded
    }

    struct Job {
        address poster;
        uint128 maxPrice;
        uint128 price;
        uint64 deadline;
        uint64 priorityUntil;
        uint64 reviewWindow;
        uint64 reviewUntil;
        uint256 priorityAgent;
        uint256 deliveredBy;
        address payTo;
        State state;
        bytes32 taskHash;
        bytes32 resultHash;
        bytes32 modelId; // non-zero: the delivery must be a zk-proved inference of this model
        bytes32 inputsHash; // keccak256(abi.encode(the first nInputs instances))
        uint32 nInputs;
    }

    struct Post {
        bytes32 taskHash;
        uint128 maxPrice;
        uint64 deadline;
        uint256 priorityAgent;
        uint64 priorityWindow;
        uint64 reviewWindow;
        bytes32 modelId;
        bytes32 inputsHash;
        uint32 nInputs;
    }

    /// @dev A delivery is committed first and revealed in a later block: nobody can copy a result (or a proved
    /// inference, public once verified) from the mempool and deliver it as theirs. A commitment holds the job
    /// for its agent for REVEAL_WINDOW; an unrevealed one lapses.
    struct Commitment {
        uint256 agentId;
        bytes32 hash;
        uint64 block;
        uint64 until;
    }

    uint64 public constant MAX_WINDOW = 30 days;
    uint64 public constant REVEAL_WINDOW = 10 minutes;

    IERC20 public immutable token;
    IAgentRegistry public immutable registry;
    IInferenceRecords public immutable inferences;
    address public referee;
    Job[] private _jobs;
    mapping(uint256 id => Commitment) public commitments;
    /// @dev One hold per agent per job: the holder may re-commit (a corrected result) within its window but not
    /// extend it, so holding a job until its deadline costs a registered agent per 10 minutes, not one agent.
    mapping(uint256 id => mapping(uint256 agentId => bool)) public hasCommitted;

    event RefereeSet(address indexed referee);
    event Posted(uint256 indexed id, address indexed poster, bytes32 taskHash, uint256 maxPrice, uint256 deadline,
                 uint256 priorityAgent, uint256 priorityUntil);
    event Committed(uint256 indexed id, uint256 indexed agentId, uint256 until);
    event Delivered(uint256 indexed id, uint256 indexed agentId, address indexed payTo, uint256 price,
                    bytes32 resultHash, bool final_);
    event Disputed(uint256 indexed id);
    event Resolved(uint256 indexed id, bool paid);
    event JobPaid(uint256 indexed id, uint256 indexed agentId, address indexed payTo, uint256 price, uint256 refund);
    event JobRefunded(uint256 indexed id, uint256 amount);

    error BadPost();
    error UnknownJob(uint256 id);
    error WrongState(uint256 id, State state);
    error NotPoster(uint256 id, address caller);
    error NotReferee(address caller);
    error NotAgentOwner(uint256 agentId, address caller);
    error PriorityWindow(uint256 id, uint256 priorityAgent, uint256 until);
    error PastDeadline(uint256 id, uint256 deadline);
    error NotYet(uint256 id, uint256 at);
    error PriceAboveMax(uint256 price, uint256 maxPrice);
    error NotProved(uint256 id);
    error WrongInputs(uint256 id);
    error ReviewOver(uint256 id, uint256 until);
    error HeldByAnother(uint256 id, uint256 agentId, uint256 until);
    error NoCommitment(uint256 id, uint256 agentId);
    error RevealTooEarly(uint256 id);
    error CommitmentMismatch(uint256 id);
    error AlreadyCommitted(uint256 id, uint256 agentId);

    constructor(address owner_, IERC20 token_, IAgentRegistry registry_, IInferenceRecords inferences_, address referee_)
        Owned(owner_)
    {
        token = token_;
        registry = registry_;
        inferences = inferences_;
        referee = referee_;
        emit RefereeSet(referee_);
    }

    function setReferee(address referee_) external onlyOwner {
        referee = referee_;
        emit RefereeSet(referee_);
    }

    // -- posting ------------------------------------------------------------------------------
    function post(Post calldata p) external returns (uint256 id) {
        id = _post(p);
        token.safeTransferFrom(msg.sender, address(this), p.maxPrice);
    }

    /// @notice Post with an EIP-2612 permit; if the permit was already used (front-run), the allowance it set is
    /// used as it stands.
    function postWithPermit(Post calldata p, uint256 permitDeadline, uint8 v, bytes32 r, bytes32 s)
        external
        returns (uint256 id)
    {
        try IERC20Permit(address(token)).permit(msg.sender, address(this), p.maxPrice, permitDeadline, v, r, s) {}
        catch {}
        id = _post(p);
        token.safeTransferFrom(msg.sender, address(this), p.maxPrice);
    }

    /// @notice Post funded by the poster's EIP-3009 authorization (an EOA's or a smart wallet's, such as an
    /// agent's PolicyWallet): one transaction, submitted by anyone. The authorization's nonce must be
    /// `postNonce(p, from)`, so a front-runner holding the signature can only create this very post for `from`.
    function postWithAuthorization(Post calldata p, address from, uint256 validAfter, uint256 validBefore,
                                   bytes calldata signature) external returns (uint256 id) {
        bytes32 nonce = postNonce(p, from);
        IReceiveWithAuthorization(address(token)).receiveWithAuthorization(
            from, address(this), p.maxPrice, validAfter, validBefore, nonce, signature);
        id = _postFor(p, from);
    }

    function postNonce(Post calldata p, address from) public view returns (bytes32) {
        return keccak256(abi.encode(address(this), block.chainid, from, p));
    }

    function _post(Post calldata p) private returns (uint256 id) {
        return _postFor(p, msg.sender);
    }

    function _postFor(Post calldata p, address poster) private returns (uint256 id) {
        uint256 now_ = block.timestamp;
        if (p.maxPrice == 0 || p.deadline <= now_ || p.deadline > now_ + MAX_WINDOW
            || p.priorityWindow > p.deadline - now_ || p.reviewWindow == 0 || p.reviewWindow > MAX_WINDOW
            || (p.modelId != bytes32(0) && p.nInputs == 0)) revert BadPost();
        // the registry reverts for an unknown agent
        if (p.priorityAgent != 0 && registry.ownerOf(p.priorityAgent) == address(0)) revert BadPost();
        id = _jobs.length;
        uint64 priorityUntil = p.priorityAgent == 0 ? uint64(now_) : uint64(now_) + p.priorityWindow;
        _jobs.push(Job({
            poster: poster, maxPrice: p.maxPrice, price: 0, deadline: p.deadline, priorityUntil: priorityUntil,
            reviewWindow: p.reviewWindow, reviewUntil: 0, priorityAgent: p.priorityAgent, deliveredBy: 0,
            payTo: address(0), state: State.Open, taskHash: p.taskHash, resultHash: bytes32(0), modelId: p.modelId,
            inputsHash: p.inputsHash, nInputs: p.nInputs
        }));
        emit Posted(id, poster, p.taskHash, p.maxPrice, p.deadline, p.priorityAgent, priorityUntil);
    }

    // -- delivering ---------------------------------------------------------------------------
    /// @notice Step 1: hold the job for agent `agentId` (the caller must own it) with
    /// `deliveryHash(id, agentId, caller, resultHash, price, instances, salt)`.
    function commit(uint256 id, uint256 agentId, bytes32 hash) external {
        Job storage j = _open(id);
        _mayDeliver(id, j, agentId);
        Commitment memory c = commitments[id];
        if (c.agentId != 0 && c.agentId != agentId && block.timestamp < c.until) {
            revert HeldByAnother(id, c.agentId, c.until);
        }
        uint64 until;
        if (c.agentId == agentId && c.hash != bytes32(0)) {
            until = c.until; // the holder may change what it committed, but not extend its hold
        } else {
            if (hasCommitted[id][agentId]) revert AlreadyCommitted(id, agentId);
            hasCommitted[id][agentId] = true;
            until = uint64(block.timestamp) + REVEAL_WINDOW;
        }
        commitments[id] = Commitment(agentId, hash, uint64(block.number), until);
        emit Committed(id, agentId, until);
    }

    /// @notice Step 2 (a later block): reveal. For a job that names a model, `instances` are the proved
    /// inference's public instances, inputs first, and the result is that inference's id.
    function deliver(uint256 id, uint256 agentId, bytes32 resultHash, uint128 price, uint256[] calldata instances,
                     bytes32 salt) external {
        Job storage j = _open(id);
        _mayDeliver(id, j, agentId);
        Commitment memory c = commitments[id];
        if (c.agentId != agentId || c.hash == bytes32(0)) revert NoCommitment(id, agentId);
        if (block.number <= c.block) revert RevealTooEarly(id);
        if (deliveryHash(id, agentId, msg.sender, resultHash, price, instances, salt) != c.hash) {
            revert CommitmentMismatch(id);
        }
        if (price > j.maxPrice) revert PriceAboveMax(price, j.maxPrice);
        bool proved = j.modelId != bytes32(0);
        if (proved) {
            if (instances.length < j.nInputs || keccak256(abi.encode(instances[:j.nInputs])) != j.inputsHash) {
                revert WrongInputs(id);
            }
            bytes32 inferenceId = inferences.inferenceIdOf(j.modelId, instances);
            if (inferences.verifiedAt(inferenceId) == 0) revert NotProved(id);
            resultHash = inferenceId;
        }
        delete commitments[id];
        j.deliveredBy = agentId;
        j.payTo = registry.payoutOf(agentId);
        j.price = price;
        j.resultHash = resultHash;
        j.state = State.Delivered;
        j.reviewUntil = uint64(block.timestamp) + j.reviewWindow;
        emit Delivered(id, agentId, j.payTo, price, resultHash, proved);
        if (proved) _pay(id, j); // a proved inference is final
    }

    function deliveryHash(uint256 id, uint256 agentId, address deliverer, bytes32 resultHash, uint128 price,
                          uint256[] calldata instances, bytes32 salt) public pure returns (bytes32) {
        return keccak256(abi.encode(id, agentId, deliverer, resultHash, price, keccak256(abi.encode(instances)), salt));
    }

    function _mayDeliver(uint256 id, Job storage j, uint256 agentId) private view {
        if (registry.ownerOf(agentId) != msg.sender) revert NotAgentOwner(agentId, msg.sender);
        if (block.timestamp >= j.deadline) revert PastDeadline(id, j.deadline);
        if (block.timestamp < j.priorityUntil && agentId != j.priorityAgent) {
            revert PriorityWindow(id, j.priorityAgent, j.priorityUntil);
        }
    }

    // -- settling -----------------------------------------------------------------------------
    function accept(uint256 id) external {
        Job storage j = _job(id);
        if (msg.sender != j.poster) revert NotPoster(id, msg.sender);
        if (j.state != State.Delivered) revert WrongState(id, j.state);
        _pay(id, j);
    }

    /// @notice Anyone pays a delivery the poster neither accepted nor disputed in the review window.
    function release(uint256 id) external {
        Job storage j = _job(id);
        if (j.state != State.Delivered) revert WrongState(id, j.state);
        if (block.timestamp < j.reviewUntil) revert NotYet(id, j.reviewUntil);
        _pay(id, j);
    }

    function dispute(uint256 id) external {
        Job storage j = _job(id);
        if (msg.sender != j.poster) revert NotPoster(id, msg.sender);
        if (j.state != State.Delivered) revert WrongState(id, j.state);
        if (block.timestamp >= j.reviewUntil) revert ReviewOver(id, j.reviewUntil);
        j.state = State.Disputed;
        emit Disputed(id);
    }

    function resolve(uint256 id, bool payAgent) external {
        if (msg.sender != referee) revert NotReferee(msg.sender);
        Job storage j = _job(id);
        if (j.state != State.Disputed) revert WrongState(id, j.state);
        emit Resolved(id, payAgent);
        if (payAgent) {
            _pay(id, j);
        } else {
            _refund(id, j);
        }
    }

    /// @notice Anyone refunds the poster of a job nobody delivered by its deadline.
    function refund(uint256 id) external {
        Job storage j = _open(id);
        if (block.timestamp < j.deadline) revert NotYet(id, j.deadline);
        _refund(id, j);
    }

    // -- reads --------------------------------------------------------------------------------
    function job(uint256 id) external view returns (Job memory) {
        return _job(id);
    }

    function jobCount() external view returns (uint256) {
        return _jobs.length;
    }

    // -- internals ----------------------------------------------------------------------------
    function _job(uint256 id) private view returns (Job storage j) {
        if (id >= _jobs.length) revert UnknownJob(id);
        j = _jobs[id];
    }

    function _open(uint256 id) private view returns (Job storage j) {
        j = _job(id);
        if (j.state != State.Open) revert WrongState(id, j.state);
    }

    function _pay(uint256 id, Job storage j) private {
        uint256 price = j.price;
        uint256 back = j.maxPrice - price;
        address payTo = j.payTo;
        address poster = j.poster;
        j.state = State.Paid;
        emit JobPaid(id, j.deliveredBy, payTo, price, back);
        // reputation is the registry's business: a registry that refuses the record never blocks the payment.
        // The record comes before the transfers on purpose: a gas limit chosen to starve the record inside the
        // try leaves the transfers 1/64 of the gas (EIP-150), too little, so the whole payment reverts rather
        // than paying without the record (test_a_chosen_gas_limit_cannot_pay_a_job_without_its_reputation_record).
        try registry.recordPayment(bytes32(id), j.deliveredBy, poster, price) {} catch {}
        token.safeTransfer(payTo, price);
        token.safeTransfer(poster, back);
    }

    function _refund(uint256 id, Job storage j) private {
        uint256 amount = j.maxPrice;
        j.state = State.Refunded;
        emit JobRefunded(id, amount);
        token.safeTransfer(j.poster, amount);
    }
}

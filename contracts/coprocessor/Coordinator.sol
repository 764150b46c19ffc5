// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {EIP712, EIP712Domain} from "../lib/EIP712.sol";
import {Owned} from "../lib/Owned.sol";
import {IERC20, SafeTransfer} from "../lib/SafeTransfer.sol";
import {InferenceVerifier} from "../InferenceVerifier.sol";
import {ModelRegistry} from "../ModelRegistry.sol";
import {ITesseraConsumer} from "./ITesseraConsumer.sol";

/// @title Coprocessor: contracts (or accounts) request inference of a registered model; bonded nodes deliver.
/// @notice A request has `count` intervals (1 for a one-off, more for a subscription), `period` seconds apart,
/// each open for `ttl` seconds. Everything an interval can cost is escrowed when the request is made: the fee
/// of each of its `redundancy` nodes in the stablecoin, and gas reimbursement in ETH at most `maxGasPrice`.
/// An interval's result is the output a majority of its nodes gave; the majority is paid (fee + measured gas),
/// the minority is not, and the consumer gets the rest back. Proof modes:
/// - None: the majority result is final at once.
/// - Zk: every delivery carries a proof checked by the InferenceVerifier; an invalid proof slashes its node.
/// - Optimistic: the majority result waits `challengeWindow`; a zk proof or the referee contradicting it
///   slashes the nodes that gave it, and the contradicting result is the one delivered.
/// The consumer's callback runs with the consumer's gas limit; if it reverts, payment still happens.
/// Deliveries and challenges are bound to their sender: a node first commits to what it will deliver
/// (`commit`, a hash that names the node), then reveals it in a later block, so a delivery or a challenge
/// copied from the mempool cannot be paid to the copier. An interval takes `redundancy` commits; its reveals
/// open once all are in or half its ttl has passed, so no node can copy another's revealed output into its
/// own commit. A node that committed and never revealed is slashed once the interval fails.
/// Past an interval's deadline without a majority, anyone can refund it. A consumer can cancel only intervals
/// that have not started, so escrow cannot be pulled from under a delivery.
contract Coordinator is Owned, EIP712Domain {
    using SafeTransfer for IERC20;

    enum ProofMode {
        None,
        Zk,
        Optimistic
    }

    enum JobStatus {
        Open,
        Challengeable,
        Completed,
        Refunded
    }

    struct RequestParams {
        bytes32 modelId;
        bytes32 inputHash; // keccak256(abi.encode(uint256[] inputInstances)); 0: the consumer gives it per interval
        uint128 fee; // stablecoin per node per interval
        uint128 maxGasPrice; // wei per gas reimbursed at most
        uint32 callbackGasLimit;
        uint32 ttl; // seconds an interval accepts deliveries
        uint8 redundancy; // nodes per interval
        ProofMode mode;
        uint32 count; // intervals: 1 for a one-off request
        uint64 period; // seconds between intervals
    }

    struct Request {
        address consumer;
        uint32 callbackGasLimit;
        uint32 count;
        uint8 redundancy;
        ProofMode mode;
        uint16 inputInstances; // the model's leading public instances that describe its input
        uint64 start;
        uint64 period;
        uint32 ttl;
        uint32 cancelledFrom; // intervals from here on are cancelled
        uint64 deliveryGas; // gas reimbursed per delivery at most (fixed at request time)
        bytes32 modelId;
        bytes32 inputHash;
        uint128 fee;
        uint128 maxGasPrice;
    }

    struct Job {
        JobStatus status;
        uint8 deliveries;
        uint8 topVotes;
        uint8 commits; // delivery commitments taken (at most redundancy)
        uint64 challengeEnds;
        uint128 ethSpent;
        bytes32 inputHash;
        bytes32 topResult;
    }

    struct Delivery {
        bytes32 result; // keccak256(abi.encode(output))
        uint128 gasOwed; // wei, paid if the result wins
    }

    struct Node {
        uint128 bond;
        uint64 unbondAt; // 0: not unbonding
    }

    uint8 public constant MAX_REDUNDANCY = 7;
    uint32 public constant MAX_TTL = 1 days;
    uint32 public constant MAX_CALLBACK_GAS = 5_000_000;
    uint64 public constant MAX_CHALLENGE_WINDOW = 1 days;
    /// @dev gas a completing transaction spends outside the measured span (21k, calldata, refunds)
    uint256 public constant CALLBACK_OVERHEAD = 60_000;
    uint256 private constant POST_GAS = 30_000;
    /// @dev what the commit transaction a delivery needs costs the node (reimbursed with the delivery)
    uint256 public constant COMMIT_GAS = 50_000;
    bytes32 private constant REQUEST_TYPEHASH = keccak256(
        "CoprocessorRequest(address consumer,bytes32 modelId,bytes32 inputHash,bytes32 inputDataHash,uint128 fee,"
        "uint128 maxGasPrice,uint32 callbackGasLimit,uint32 ttl,uint8 redundancy,uint8 mode,uint32 count,"
        "uint64 period,uint256 nonce,uint64 deadline)"
    );

    IERC20 public immutable stablecoin;
    IERC20 public immutable bondToken;
    ModelRegistry public immutable models;
    InferenceVerifier public immutable verifier;

    uint128 public minBond;
    uint128 public slashAmount;
    uint64 public challengeWindow;
    uint64 public unbondDelay;
    address public referee;
    address public treasury;
    /// @notice gas reimbursed per delivery at most, by proof mode (a zk delivery verifies a proof: ~0.9M)
    mapping(ProofMode => uint64) public deliveryGas;

    uint64 public requestCount;
    mapping(uint64 => Request) private _requests;
    mapping(uint64 => mapping(uint32 => Job)) private _jobs;
    mapping(uint64 => mapping(uint32 => address[])) private _jobNodes; // at most MAX_REDUNDANCY each
    mapping(uint64 => mapping(uint32 => mapping(address => Delivery))) private _deliveries;
    mapping(uint64 => mapping(uint32 => mapping(bytes32 => uint8))) private _votes;
    mapping(address => Node) public nodes;
    mapping(address => uint256) public ethBalance;
    mapping(address => mapping(uint256 => bool)) public nonceUsed;
    /// @dev commitments: the top 192 bits of the commitment hash, then the block it was made in (64 bits)
    mapping(uint64 => mapping(uint32 => mapping(address => bytes32))) private _commits;
    mapping(uint64 => mapping(uint32 => mapping(address => bytes32))) private _challengeCommits;
    uint256 private _lock = 1;

    event RequestCreated(uint64 indexed requestId, address indexed consumer, bytes32 indexed modelId,
        RequestParams params, uint64 start, bytes input);
    event SubscriptionCancelled(uint64 indexed requestId, uint32 fromInterval, uint256 feeRefund, uint256 ethRefund);
    event Delivered(uint64 indexed requestId, uint32 indexed interval, address indexed node, bytes32 result,
        uint256[] output, bytes32 inferenceId);
    event DeliveryCommitted(uint64 indexed requestId, uint32 indexed interval, address indexed node);
    event ChallengeCommitted(uint64 indexed requestId, uint32 indexed interval, address indexed challenger);
    event InvalidProof(uint64 indexed requestId, uint32 indexed interval, address indexed node);
    event ChallengeWindowOpened(uint64 indexed requestId, uint32 indexed interval, bytes32 result, uint64 endsAt);
    event Contradicted(uint64 indexed requestId, uint32 indexed interval, address indexed by, bytes32 claimed,
        bytes32 proven);
    event JobCompleted(uint64 indexed requestId, uint32 indexed interval, bytes32 result, uint256[] output,
        bytes32 inferenceId, bool callbackOk, uint256 feesPaid, uint256 ethSpent);
    event NodePaid(uint64 indexed requestId, uint32 indexed interval, address indexed node, uint256 fee, uint256 gasWei);
    /// @notice What an interval's escrow returns to the consumer when it closes (completed or expired).
    event EscrowReturned(uint64 indexed requestId, uint32 indexed interval, uint256 feeRefund, uint256 ethRefund);
    /// @notice An interval closed without a result: its deadline passed, or its nodes had no majority.
    event JobExpired(uint64 indexed requestId, uint32 indexed interval, uint8 deliveries);
    event NodeBonded(address indexed node, uint256 amount, uint256 bond);
    event UnbondRequested(address indexed node, uint64 unbondAt);
    event BondWithdrawn(address indexed node, uint256 amount);
    event NodeSlashed(address indexed node, uint256 amount, address indexed rewarded, uint256 reward);
    event EthDeposited(address indexed account, uint256 amount, uint256 balance);
    event EthWithdrawn(address indexed account, uint256 amount);
    event ParamsSet(uint128 minBond, uint128 slashAmount, uint64 challengeWindow, uint64 unbondDelay, address referee,
        address treasury);
    event DeliveryGasSet(ProofMode mode, uint64 gas);

    error BadRequest(bytes32 field); // the parameter at fault, as text
    error UnknownRequest(uint64 requestId);
    error UnknownModel(bytes32 modelId);
    error WrongMode(ProofMode mode);
    error IntervalNotStarted(uint32 interval, uint64 startsAt);
    error IntervalOutOfRange(uint32 interval, uint32 available);
    error DeadlinePassed(uint32 interval, uint64 deadline);
    error DeadlineNotPassed(uint32 interval, uint64 deadline);
    error JobClosed(JobStatus status);
    error NotEligible(address node, uint128 bond, uint128 minBond);
    error AlreadyDelivered(address node);
    error InputMismatch(bytes32 expected, bytes32 given);
    error InsufficientGasForCallback(uint256 available, uint256 needed);
    error NotChallengeable(JobStatus status);
    error ChallengeWindowOver(uint64 endedAt);
    error ChallengeWindowOpen(uint64 endsAt);
    error NoContradiction(bytes32 result);
    error ChallengeProofInvalid(bytes32 modelId);
    error ResultMismatch(bytes32 expected, bytes32 given);
    error NotConsumer(address caller);
    error NothingToCancel();
    error NotReferee(address caller);
    error InsufficientEth(uint256 needed, uint256 available);
    error BadSignature();
    error SignatureExpired(uint64 deadline);
    error NonceUsed(uint256 nonce);
    error NotUnbonding();
    error StillBonded(uint64 unbondAt);
    error EthTransferFailed();
    error Reentrancy();
    error InvalidParams();
    error AlreadyCommitted(address node);
    error CommitsFull(uint8 commits);
    error CommitPhaseOver(uint64 revealsOpenedAt);
    error NotCommitted(address sender);
    error RevealTooEarly(uint64 commitBlock);
    error RevealsNotOpen(uint8 commits, uint64 opensAt);
    error CommitMismatch();
    error NotSlashable(address node);

    modifier nonReentrant() {
        if (_lock != 1) revert Reentrancy();
        _lock = 2;
        _;
        _lock = 1;
    }

    constructor(IERC20 stablecoin_, IERC20 bondToken_, ModelRegistry models_, InferenceVerifier verifier_,
        address owner_) Owned(owner_) EIP712Domain("TesseraCoordinator", "1") {
        stablecoin = stablecoin_;
        bondToken = bondToken_;
        models = models_;
        verifier = verifier_;
        _setParams(100e18, 50e18, 1 hours, 3 days, owner_, owner_);
        _setDeliveryGas(ProofMode.None, 250_000);
        _setDeliveryGas(ProofMode.Optimistic, 250_000);
        _setDeliveryGas(ProofMode.Zk, 1_300_000);
    }

    // ------------------------------------------------------------------ requests

    /// @notice Request inference. Escrows `redundancy * fee * count` stablecoin (approve first) and the gas
    /// budget in ETH (`gasDeposit(params)`, from msg.value, topped up from your ETH balance here).
    function request(RequestParams calldata p, bytes calldata input) external payable returns (uint64) {
        return _create(msg.sender, p, input, msg.value);
    }

    /// @notice Create a request an account signed off-chain (EIP-712 CoprocessorRequest); anyone may submit it.
    /// The escrow comes from the signer: stablecoin by allowance, ETH from its balance here.
    function requestFor(address consumer, RequestParams calldata p, bytes calldata input, uint256 nonce,
        uint64 deadline, bytes calldata signature) external returns (uint64) {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        if (nonceUsed[consumer][nonce]) revert NonceUsed(nonce);
        bytes32 digest = _hashTyped(_structHash(consumer, p, keccak256(input), nonce, deadline));
        if (EIP712.recover(digest, signature) != consumer || consumer == address(0)) revert BadSignature();
        nonceUsed[consumer][nonce] = true;
        return _create(consumer, p, input, 0);
    }

    function _structHash(address consumer, RequestParams calldata p, bytes32 inputDataHash, uint256 nonce,
        uint64 deadline) private pure returns (bytes32) {
        bytes memory head = abi.encode(REQUEST_TYPEHASH, consumer, p.modelId, p.inputHash, inputDataHash, p.fee,
            p.maxGasPrice, p.callbackGasLimit);
        return keccak256(abi.encodePacked(head, abi.encode(p.ttl, uint8(p.redundancy), uint8(p.mode), p.count,
            p.period, nonce, deadline)));
    }

    /// @dev `paid` wei came with the call; the rest of the gas deposit comes from the consumer's balance here.
    function _create(address consumer, RequestParams calldata p, bytes calldata input, uint256 paid)
        private
        returns (uint64 id)
    {
        uint16 inputInstances = _checkParams(consumer, p);
        id = ++requestCount;
        Request storage r = _requests[id];
        r.consumer = consumer;
        r.callbackGasLimit = p.callbackGasLimit;
        r.count = p.count;
        r.redundancy = p.redundancy;
        r.mode = p.mode;
        r.inputInstances = inputInstances;
        r.start = uint64(block.timestamp);
        r.period = p.period;
        r.ttl = p.ttl;
        r.cancelledFrom = p.count;
        r.deliveryGas = deliveryGas[p.mode];
        r.modelId = p.modelId;
        r.inputHash = p.inputHash;
        r.fee = p.fee;
        r.maxGasPrice = p.maxGasPrice;
        uint256 eth = _ethPerInterval(r) * p.count;
        if (paid > eth) {
            ethBalance[consumer] += paid - eth;
        } else if (paid < eth) {
            uint256 held = ethBalance[consumer];
            if (held + paid < eth) revert InsufficientEth(eth, held + paid);
            ethBalance[consumer] = held + paid - eth;
        }
        emit RequestCreated(id, consumer, p.modelId, p, r.start, input);
        stablecoin.safeTransferFrom(consumer, address(this), uint256(p.fee) * p.redundancy * p.count);
    }

    function _checkParams(address consumer, RequestParams calldata p) private view returns (uint16 inputInstances) {
        if (p.redundancy == 0 || p.redundancy > MAX_REDUNDANCY) revert BadRequest(bytes32("redundancy"));
        if (p.ttl == 0 || p.ttl > MAX_TTL) revert BadRequest(bytes32("ttl"));
        if (p.callbackGasLimit > MAX_CALLBACK_GAS) revert BadRequest(bytes32("callbackGasLimit"));
        if (p.count == 0) revert BadRequest(bytes32("count"));
        if (p.count > 1 && p.period == 0) revert BadRequest(bytes32("period"));
        // only a consumer contract can give per-interval inputs (requestFor's consumer signed: it is an account)
        if (p.mode == ProofMode.Zk && p.inputHash == bytes32(0) && consumer.code.length == 0) {
            revert BadRequest(bytes32("inputHash"));
        }
        bool ok;
        (ok, inputInstances) = models.usable(p.modelId);
        if (!ok) revert UnknownModel(p.modelId);
    }

    /// @notice ETH a request must have escrowed for its gas reimbursement (msg.value plus your balance here).
    function gasDeposit(RequestParams calldata p) external view returns (uint256) {
        uint256 perDelivery = deliveryGas[p.mode];
        return (uint256(p.redundancy) * perDelivery + p.callbackGasLimit + CALLBACK_OVERHEAD) * p.maxGasPrice
            * p.count;
    }

    function _ethPerInterval(Request storage r) private view returns (uint256) {
        return (uint256(r.redundancy) * r.deliveryGas + r.callbackGasLimit + CALLBACK_OVERHEAD) * r.maxGasPrice;
    }

    /// @notice Cancel a subscription's intervals that have not started; their escrow comes back now.
    function cancel(uint64 id) external nonReentrant {
        Request storage r = _request(id);
        if (msg.sender != r.consumer) revert NotConsumer(msg.sender);
        uint32 from = r.period == 0 ? 1 : uint32(_min((block.timestamp - r.start) / r.period + 1, r.count));
        if (from >= r.cancelledFrom) revert NothingToCancel();
        uint32 n = r.cancelledFrom - from;
        r.cancelledFrom = from;
        uint256 fees = uint256(r.fee) * r.redundancy * n;
        uint256 eth = _ethPerInterval(r) * n;
        ethBalance[r.consumer] += eth;
        emit SubscriptionCancelled(id, from, fees, eth);
        stablecoin.safeTransfer(r.consumer, fees);
    }

    // ------------------------------------------------------------------ delivery

    /// @notice Take one of an interval's `redundancy` delivery slots by committing to what you will deliver:
    /// `commitmentOf(you, id, interval, payload)` with payload `keccak256(abi.encode(keccak256(abi.encode(output)),
    /// salt))` (None, Optimistic) or `keccak256(proof)` (Zk). Reveal it with `deliver`/`deliverProof` in a later
    /// block, once reveals are open.
    function commit(uint64 id, uint32 interval, bytes32 commitment) external nonReentrant {
        Request storage r = _request(id);
        _checkOpen(id, interval, r, msg.sender);
        Job storage job = _jobs[id][interval];
        if (_commits[id][interval][msg.sender] != 0) revert AlreadyCommitted(msg.sender);
        if (job.commits >= r.redundancy) revert CommitsFull(job.commits);
        uint64 opensAt = _revealsOpenAt(r, interval);
        if (block.timestamp >= opensAt) revert CommitPhaseOver(opensAt);
        job.commits += 1;
        _commits[id][interval][msg.sender] = _pack(commitment);
        emit DeliveryCommitted(id, interval, msg.sender);
    }

    /// @notice The commitment a delivery (or a challenge) by `sender` must have been committed as.
    function commitmentOf(address sender, uint64 id, uint32 interval, bytes32 payload) private pure returns (bytes32) {
        return keccak256(abi.encode(sender, id, interval, payload));
    }

    /// @notice Deliver (reveal) the output of a None or Optimistic request's interval, computed on the input whose
    /// instances hash to `inputHash`, with the salt of your commitment.
    function deliver(uint64 id, uint32 interval, bytes32 inputHash, uint256[] calldata output, bytes32 salt)
        external
        nonReentrant
    {
        uint256 g0 = gasleft();
        Request storage r = _request(id);
        if (r.mode == ProofMode.Zk) revert WrongMode(r.mode);
        _checkReveal(id, interval, r, _commits[id][interval][msg.sender],
            keccak256(abi.encode(keccak256(abi.encode(output)), salt)));
        _deliver(g0, id, interval, r, inputHash, output, bytes32(0));
    }

    /// @notice Deliver a Zk request's interval: the proof's instances are the input instances then the output.
    /// An invalid proof slashes the sender instead of counting.
    function deliverProof(uint64 id, uint32 interval, bytes calldata proof, uint256[] calldata instances)
        external
        nonReentrant
    {
        uint256 g0 = gasleft();
        Request storage r = _request(id);
        if (r.mode != ProofMode.Zk) revert WrongMode(r.mode);
        uint256 n = r.inputInstances;
        if (instances.length <= n) revert BadRequest(bytes32("instances"));
        bytes32 inputHash = hashInstances(instances[:n]);
        _checkCanDeliver(id, interval, r, msg.sender, inputHash);
        _checkReveal(id, interval, r, _commits[id][interval][msg.sender], keccak256(proof));
        // the proof is checked even if its inference is already recorded: a node is paid for its own proof,
        // not for resubmitting another node's record with junk proof bytes
        (bool valid, bytes32 inferenceId) = verifier.tryVerifyProof(r.modelId, proof, instances);
        if (!valid) {
            emit InvalidProof(id, interval, msg.sender);
            // the slot is free again: an honest node can still commit and deliver
            _jobs[id][interval].commits -= 1;
            delete _commits[id][interval][msg.sender];
            _slash(msg.sender, r.consumer);
            return;
        }
        _deliver(g0, id, interval, r, inputHash, instances[n:], inferenceId);
    }

    /// @notice Reverts with the reason `node` could not deliver `interval` now; returns the input hash it must
    /// answer. Nodes call this before computing.
    function checkDelivery(uint64 id, uint32 interval, address node) external view returns (bytes32 inputHash) {
        _checkOpen(id, interval, _request(id), node);
        inputHash = expectedInputHash(id, interval);
    }

    /// @notice The input hash deliveries of `interval` must carry.
    function expectedInputHash(uint64 id, uint32 interval) public view returns (bytes32) {
        Request storage r = _request(id);
        if (r.inputHash != bytes32(0)) return r.inputHash;
        bytes32 fixedHash = _jobs[id][interval].inputHash;
        if (fixedHash != bytes32(0)) return fixedHash;
        (, bytes32 h) = ITesseraConsumer(r.consumer).coprocessorInput(id, interval);
        return h;
    }

    function _checkCanDeliver(uint64 id, uint32 interval, Request storage r, address node, bytes32 inputHash)
        private
        view
    {
        _checkOpen(id, interval, r, node);
        bytes32 expected = expectedInputHash(id, interval);
        if (inputHash != expected) revert InputMismatch(expected, inputHash);
    }

    /// @dev When an interval's reveals open at the latest (earlier, once all its slots are committed): half its
    /// ttl after it opens.
    function _revealsOpenAt(Request storage r, uint32 interval) private view returns (uint64) {
        return r.start + r.period * interval + r.ttl / 2;
    }

    function _checkReveal(uint64 id, uint32 interval, Request storage r, bytes32 packed, bytes32 payload)
        private
        view
    {
        _checkCommitted(id, interval, packed, payload);
        Job storage job = _jobs[id][interval];
        uint64 opensAt = _revealsOpenAt(r, interval);
        if (job.commits < r.redundancy && block.timestamp < opensAt) revert RevealsNotOpen(job.commits, opensAt);
    }

    /// @dev The sender committed to `payload` for this interval in an earlier block.
    function _checkCommitted(uint64 id, uint32 interval, bytes32 packed, bytes32 payload) private view {
        if (packed == 0) revert NotCommitted(msg.sender);
        uint64 committedIn = uint64(uint256(packed));
        if (committedIn >= block.number) revert RevealTooEarly(committedIn);
        if (_pack(commitmentOf(msg.sender, id, interval, payload)) >> 64 != packed >> 64) revert CommitMismatch();
    }

    function _pack(bytes32 commitment) private view returns (bytes32) {
        return bytes32((uint256(commitment) >> 64 << 64) | uint64(block.number));
    }

    function _checkOpen(uint64 id, uint32 interval, Request storage r, address node) private view {
        if (interval >= r.cancelledFrom) revert IntervalOutOfRange(interval, r.cancelledFrom);
        uint64 opens = r.start + r.period * interval;
        if (block.timestamp < opens) revert IntervalNotStarted(interval, opens);
        if (block.timestamp > opens + r.ttl) revert DeadlinePassed(interval, opens + r.ttl);
        Job storage job = _jobs[id][interval];
        if (job.status != JobStatus.Open) revert JobClosed(job.status);
        Node storage nd = nodes[node];
        if (nd.bond < minBond || nd.unbondAt != 0) revert NotEligible(node, nd.bond, minBond);
        if (_deliveries[id][interval][node].result != bytes32(0)) revert AlreadyDelivered(node);
    }

    function _deliver(uint256 g0, uint64 id, uint32 interval, Request storage r, bytes32 inputHash,
        uint256[] calldata output, bytes32 inferenceId) private {
        if (inferenceId == bytes32(0)) _checkCanDeliver(id, interval, r, msg.sender, inputHash);
        if (r.redundancy == 1 && r.mode != ProofMode.Optimistic) {
            // one node, final at once: no votes or node lists to keep, the job closes in this transaction
            bytes32 single = keccak256(abi.encode(output));
            Job storage job = _jobs[id][interval];
            job.deliveries = 1;
            job.topVotes = 1;
            emit Delivered(id, interval, msg.sender, single, output, inferenceId);
            job.status = JobStatus.Completed;
            emit NodePaid(id, interval, msg.sender, r.fee, 0);
            stablecoin.safeTransfer(msg.sender, r.fee);
            bool ok = _callback(r, id, interval, output, inferenceId);
            emit JobCompleted(id, interval, single, output, inferenceId, ok, r.fee, 0);
            _chargeGas(g0, id, interval, r, true, r.fee);
            return;
        }
        (bytes32 result, bool majority) = _record(id, interval, r, inputHash, output, inferenceId);
        bool completes = majority && r.mode != ProofMode.Optimistic;
        uint256 feesPaid;
        if (completes) {
            feesPaid = _complete(id, interval, r, result, output, inferenceId);
        } else if (majority) {
            Job storage job = _jobs[id][interval];
            job.status = JobStatus.Challengeable;
            job.challengeEnds = uint64(block.timestamp) + challengeWindow;
            emit ChallengeWindowOpened(id, interval, result, job.challengeEnds);
        }
        _chargeGas(g0, id, interval, r, completes, feesPaid);
    }

    function _record(uint64 id, uint32 interval, Request storage r, bytes32 inputHash, uint256[] calldata output,
        bytes32 inferenceId) private returns (bytes32 result, bool majority) {
        Job storage job = _jobs[id][interval];
        if (job.inputHash == bytes32(0)) job.inputHash = inputHash;
        result = keccak256(abi.encode(output));
        uint8 votes = ++_votes[id][interval][result];
        job.deliveries += 1;
        _jobNodes[id][interval].push(msg.sender);
        _deliveries[id][interval][msg.sender] = Delivery(result, 0);
        if (votes > job.topVotes) {
            job.topVotes = votes;
            job.topResult = result;
        }
        emit Delivered(id, interval, msg.sender, result, output, inferenceId);
        majority = uint256(votes) * 2 > r.redundancy;
    }

    /// @dev The sender's gas: paid now when its delivery completed the job, owed until the job completes
    /// otherwise (and lost if its result loses).
    function _chargeGas(uint256 g0, uint64 id, uint32 interval, Request storage r, bool completes, uint256 feesPaid)
        private
    {
        Job storage job = _jobs[id][interval];
        uint256 cap = r.deliveryGas + (completes ? r.callbackGasLimit + CALLBACK_OVERHEAD : 0);
        uint128 owed = _gasWei(g0 + COMMIT_GAS, cap, r); // the commit transaction this delivery needed
        if (completes) {
            _payGas(job, msg.sender, owed);
            emit NodePaid(id, interval, msg.sender, 0, owed);
            _refundRest(id, interval, r, job, feesPaid);
        } else {
            _deliveries[id][interval][msg.sender].gasOwed = owed;
            if (job.deliveries == r.redundancy && job.status == JobStatus.Open) {
                job.status = JobStatus.Refunded; // every node answered and no answer has a majority
                emit JobExpired(id, interval, job.deliveries);
                _refundRest(id, interval, r, job, 0);
            }
        }
    }

    /// @dev Effects first (status, fee and gas credits), then the fee transfers, then the consumer's callback.
    /// Every state-changing entry point is nonReentrant, so the callback cannot re-enter a job.
    function _complete(uint64 id, uint32 interval, Request storage r, bytes32 result, uint256[] calldata output,
        bytes32 inferenceId) private returns (uint256 feesPaid) {
        Job storage job = _jobs[id][interval];
        job.status = JobStatus.Completed;
        job.topResult = result;
        address[] storage ns = _jobNodes[id][interval];
        uint256 n = ns.length;
        bool[] memory won = new bool[](n);
        for (uint256 i = 0; i < n; i++) {
            Delivery storage d = _deliveries[id][interval][ns[i]];
            if (d.result != result) continue; // the minority loses its fee (and its gas)
            won[i] = true;
            feesPaid += r.fee;
            _payGas(job, ns[i], d.gasOwed);
            emit NodePaid(id, interval, ns[i], r.fee, d.gasOwed);
        }
        for (uint256 i = 0; i < n; i++) {
            if (won[i]) stablecoin.safeTransfer(ns[i], r.fee);
        }
        bool ok = _callback(r, id, interval, output, inferenceId);
        emit JobCompleted(id, interval, result, output, inferenceId, ok, feesPaid, job.ethSpent);
    }

    function _callback(Request storage r, uint64 id, uint32 interval, uint256[] calldata output, bytes32 inferenceId)
        private
        returns (bool ok)
    {
        address consumer = r.consumer;
        if (consumer.code.length == 0) return true; // an account reads the JobCompleted event instead
        uint256 limit = r.callbackGasLimit;
        // EIP-150 passes at most 63/64 of what is left: demand enough that the callback gets its full limit,
        // so a node cannot starve it on purpose and still be paid
        uint256 needed = limit + limit / 63 + 10_000;
        if (gasleft() < needed) revert InsufficientGasForCallback(gasleft(), needed);
        (ok,) = consumer.call{gas: limit}(
            abi.encodeCall(ITesseraConsumer.onInferenceResult, (id, interval, output, inferenceId))
        );
    }

    /// @dev Gas used since `g0` plus what the transaction spends outside that span, capped, at the lower of the
    /// transaction's gas price and the request's maximum. Calldata is counted at 16 gas a byte only up to the
    /// ABI encoding's own length (head words + array and bytes contents): bytes a sender appends, zeros cost 4
    /// gas each, would otherwise be reimbursed at 16 from the consumer's escrow.
    function _gasWei(uint256 g0, uint256 cap, Request storage r) private view returns (uint128) {
        uint256 used = g0 - gasleft() + 21_000 + _canonicalCalldata() * 16 + POST_GAS;
        return uint128(_min(used, cap) * _min(tx.gasprice, r.maxGasPrice));
    }

    /// @dev Length of msg.data's canonical ABI encoding for the entry points that reimburse gas: every word
    /// of the head, and each dynamic argument's length word and contents (rounded up to words).
    function _canonicalCalldata() private pure returns (uint256 len) {
        bytes4 sel = msg.sig;
        uint256 heads;
        uint256 dynamics; // bitmask: which head words are offsets of dynamic arguments
        if (sel == this.deliver.selector) {
            (heads, dynamics) = (5, 1 << 3); // id, interval, inputHash, output[], salt
        } else if (sel == this.deliverProof.selector) {
            (heads, dynamics) = (4, (1 << 2) | (1 << 3)); // id, interval, proof, instances[]
        } else if (sel == this.finalize.selector) {
            (heads, dynamics) = (3, 1 << 2); // id, interval, output[]
        } else {
            return msg.data.length;
        }
        len = 4 + 32 * heads;
        for (uint256 i = 0; i < heads; i++) {
            if (dynamics & (1 << i) == 0) continue;
            uint256 offset;
            uint256 n;
            assembly {
                offset := calldataload(add(4, mul(32, i)))
                n := calldataload(add(4, offset))
            }
            // bytes hold n bytes, uint256[] hold n words: both take ceil(bytes / 32) words after the length
            uint256 size = i == 2 && sel == this.deliverProof.selector ? n : n * 32;
            len += 32 + ((size + 31) / 32) * 32;
        }
        if (len > msg.data.length) len = msg.data.length;
    }

    function _payGas(Job storage job, address to, uint128 amount) private {
        job.ethSpent += amount;
        ethBalance[to] += amount;
    }

    function _refundRest(uint64 id, uint32 interval, Request storage r, Job storage job, uint256 feesPaid) private {
        uint256 fees = uint256(r.fee) * r.redundancy - feesPaid;
        uint256 eth = _ethPerInterval(r) - job.ethSpent;
        ethBalance[r.consumer] += eth;
        emit EscrowReturned(id, interval, fees, eth);
        stablecoin.safeTransfer(r.consumer, fees);
    }

    // ------------------------------------------------------------------ optimistic mode

    /// @notice After the challenge window, deliver the unchallenged majority output to the consumer. Anyone may
    /// call; the caller is reimbursed the callback's gas.
    function finalize(uint64 id, uint32 interval, uint256[] calldata output) external nonReentrant {
        uint256 g0 = gasleft();
        Request storage r = _request(id);
        Job storage job = _challengeable(id, interval);
        if (block.timestamp <= job.challengeEnds) revert ChallengeWindowOpen(job.challengeEnds);
        bytes32 result = keccak256(abi.encode(output));
        if (result != job.topResult) revert ResultMismatch(job.topResult, result);
        uint256 feesPaid = _complete(id, interval, r, result, output, bytes32(0));
        _payGas(job, msg.sender, _gasWei(g0, r.callbackGasLimit + CALLBACK_OVERHEAD, r));
        _refundRest(id, interval, r, job, feesPaid);
    }

    /// @notice Commit to a challenge: `commitmentOf(you, id, interval, keccak256(proof))`; reveal it with
    /// `challenge` in a later block, inside the window. Nobody can take your reward by copying your proof.
    function commitChallenge(uint64 id, uint32 interval, bytes32 commitment) external {
        _challengeable(id, interval); // (a commit after the window is useless: `challenge` checks the window)
        _challengeCommits[id][interval][msg.sender] = _pack(commitment);
        emit ChallengeCommitted(id, interval, msg.sender);
    }

    /// @notice Contradict an optimistic result with a zk proof of the same input, as you committed to. The nodes
    /// that gave the contradicted result are slashed (half to you), and the proven output is delivered instead.
    function challenge(uint64 id, uint32 interval, bytes calldata proof, uint256[] calldata instances)
        external
        nonReentrant
    {
        Request storage r = _request(id);
        Job storage job = _challengeable(id, interval);
        if (block.timestamp > job.challengeEnds) revert ChallengeWindowOver(job.challengeEnds);
        _checkCommitted(id, interval, _challengeCommits[id][interval][msg.sender], keccak256(proof));
        uint256 n = r.inputInstances;
        if (instances.length <= n) revert BadRequest(bytes32("instances"));
        bytes32 inputHash = hashInstances(instances[:n]);
        if (inputHash != job.inputHash) revert InputMismatch(job.inputHash, inputHash);
        // an inference someone already recorded is as good as a fresh proof of it
        (bool valid, bytes32 inferenceId) = verifier.tryVerifyInference(r.modelId, proof, instances);
        if (!valid) revert ChallengeProofInvalid(r.modelId);
        _overturn(id, interval, r, job, instances[n:], inferenceId);
    }

    /// @notice The referee contradicts an optimistic result with the correct output.
    function refereeResolve(uint64 id, uint32 interval, uint256[] calldata output) external nonReentrant {
        if (msg.sender != referee) revert NotReferee(msg.sender);
        Request storage r = _request(id);
        Job storage job = _challengeable(id, interval);
        if (block.timestamp > job.challengeEnds) revert ChallengeWindowOver(job.challengeEnds);
        _overturn(id, interval, r, job, output, bytes32(0));
    }

    function _challengeable(uint64 id, uint32 interval) private view returns (Job storage job) {
        job = _jobs[id][interval];
        if (job.status != JobStatus.Challengeable) revert NotChallengeable(job.status);
    }

    function _overturn(uint64 id, uint32 interval, Request storage r, Job storage job, uint256[] calldata output,
        bytes32 inferenceId) private {
        bytes32 claimed = job.topResult;
        bytes32 proven = keccak256(abi.encode(output));
        if (proven == claimed) revert NoContradiction(claimed);
        emit Contradicted(id, interval, msg.sender, claimed, proven);
        address[] storage ns = _jobNodes[id][interval];
        for (uint256 i = 0; i < ns.length; i++) {
            if (_deliveries[id][interval][ns[i]].result == claimed) _slash(ns[i], msg.sender);
        }
        uint256 feesPaid = _complete(id, interval, r, proven, output, inferenceId);
        _refundRest(id, interval, r, job, feesPaid);
    }

    // ------------------------------------------------------------------ refunds

    /// @notice Refund an interval that passed its deadline without a majority. Anyone may call.
    function refund(uint64 id, uint32 interval) external nonReentrant {
        Request storage r = _request(id);
        if (interval >= r.cancelledFrom) revert IntervalOutOfRange(interval, r.cancelledFrom);
        Job storage job = _jobs[id][interval];
        if (job.status != JobStatus.Open) revert JobClosed(job.status);
        uint64 deadline = r.start + r.period * interval + r.ttl;
        if (block.timestamp <= deadline) revert DeadlineNotPassed(interval, deadline);
        job.status = JobStatus.Refunded;
        emit JobExpired(id, interval, job.deliveries);
        _refundRest(id, interval, r, job, 0);
    }

    /// @notice After an interval's deadline, slash a node that took one of its slots (committed) and never
    /// delivered while the interval failed (half to the consumer). Anyone may call, once per node.
    function slashUnrevealed(uint64 id, uint32 interval, address node) external nonReentrant {
        Request storage r = _request(id);
        uint64 deadline = r.start + r.period * interval + r.ttl;
        if (block.timestamp <= deadline) revert DeadlineNotPassed(interval, deadline);
        JobStatus status = _jobs[id][interval].status;
        if (_commits[id][interval][node] == 0 || _deliveries[id][interval][node].result != bytes32(0)
            || status == JobStatus.Completed || status == JobStatus.Challengeable) revert NotSlashable(node);
        delete _commits[id][interval][node];
        _slash(node, r.consumer);
    }

    // ------------------------------------------------------------------ nodes

    /// @notice Add TSR to your bond (approve first). Delivering needs at least `minBond` and no pending unbond.
    function bond(uint128 amount) external nonReentrant {
        Node storage nd = nodes[msg.sender];
        nd.bond += amount;
        emit NodeBonded(msg.sender, amount, nd.bond);
        bondToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Stop delivering; the bond can leave after `unbondDelay`, once every challenge window that could
    /// hold one of your results has closed.
    function requestUnbond() external {
        Node storage nd = nodes[msg.sender];
        if (nd.bond == 0) revert NotEligible(msg.sender, 0, minBond);
        nd.unbondAt = uint64(block.timestamp) + unbondDelay;
        emit UnbondRequested(msg.sender, nd.unbondAt);
    }

    function withdrawBond() external nonReentrant {
        Node storage nd = nodes[msg.sender];
        if (nd.unbondAt == 0) revert NotUnbonding();
        if (block.timestamp < nd.unbondAt) revert StillBonded(nd.unbondAt);
        uint256 amount = nd.bond;
        nd.bond = 0;
        nd.unbondAt = 0;
        emit BondWithdrawn(msg.sender, amount);
        bondToken.safeTransfer(msg.sender, amount);
    }

    /// @dev Half of the slash rewards `rewarded` (the challenger, or the consumer of a bad zk delivery), the
    /// rest goes to the treasury.
    function _slash(address node, address rewarded) private {
        Node storage nd = nodes[node];
        uint256 amount = _min(nd.bond, slashAmount);
        nd.bond -= uint128(amount);
        uint256 reward = amount / 2;
        emit NodeSlashed(node, amount, rewarded, reward);
        bondToken.safeTransfer(rewarded, reward);
        bondToken.safeTransfer(treasury, amount - reward);
    }

    // ------------------------------------------------------------------ ETH for gas

    function depositEth() external payable {
        ethBalance[msg.sender] += msg.value;
        emit EthDeposited(msg.sender, msg.value, ethBalance[msg.sender]);
    }

    /// @notice Withdraw your ETH: gas reimbursements (nodes) or unused gas deposits (consumers).
    function withdrawEth(uint256 amount) external nonReentrant {
        uint256 held = ethBalance[msg.sender];
        if (amount > held) revert InsufficientEth(amount, held);
        ethBalance[msg.sender] = held - amount;
        emit EthWithdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert EthTransferFailed();
    }

    // ------------------------------------------------------------------ governance

    function setParams(uint128 minBond_, uint128 slashAmount_, uint64 challengeWindow_, uint64 unbondDelay_,
        address referee_, address treasury_) external onlyOwner {
        _setParams(minBond_, slashAmount_, challengeWindow_, unbondDelay_, referee_, treasury_);
    }

    function _setParams(uint128 minBond_, uint128 slashAmount_, uint64 challengeWindow_, uint64 unbondDelay_,
        address referee_, address treasury_) private {
        // a node must not unbond before a result it gave can no longer be challenged
        if (challengeWindow_ == 0 || challengeWindow_ > MAX_CHALLENGE_WINDOW
            || unbondDelay_ <= MAX_TTL + challengeWindow_ || treasury_ == address(0)) revert InvalidParams();
        minBond = minBond_;
        slashAmount = slashAmount_;
        challengeWindow = challengeWindow_;
        unbondDelay = unbondDelay_;
        referee = referee_;
        treasury = treasury_;
        emit ParamsSet(minBond_, slashAmount_, challengeWindow_, unbondDelay_, referee_, treasury_);
    }

    function setDeliveryGas(ProofMode mode, uint64 gas) external onlyOwner {
        _setDeliveryGas(mode, gas);
    }

    function _setDeliveryGas(ProofMode mode, uint64 gas) private {
        if (gas < 50_000 || gas > 10_000_000) revert InvalidParams();
        deliveryGas[mode] = gas;
        emit DeliveryGasSet(mode, gas);
    }

    // ------------------------------------------------------------------ views

    function getRequest(uint64 id) external view returns (Request memory) {
        return _request(id);
    }

    function getJob(uint64 id, uint32 interval) external view returns (Job memory) {
        return _jobs[id][interval];
    }




    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }

    function _request(uint64 id) private view returns (Request storage r) {
        r = _requests[id];
        if (r.consumer == address(0)) revert UnknownRequest(id);
    }

    /// @dev keccak256(abi.encode(instances)): how requests name their input.
    function hashInstances(uint256[] calldata instances) private pure returns (bytes32) {
        return keccak256(abi.encode(instances));
    }
}

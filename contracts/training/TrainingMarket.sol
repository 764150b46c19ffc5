// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Owned} from "../lib/Owned.sol";
import {IERC20, IERC20Permit, SafeTransfer} from "../lib/SafeTransfer.sol";
import {TrainParams} from "./TrainingReferee.sol";

/// @title Verifiable training: posted tasks, TSR-bonded solvers, audits, forced errors and a jackpot
/// @notice A submitter posts a task (its parameters' hash, dataset root, a stablecoin fee, an audit level). A
/// solver claims it with a TSR bond and the hash of a secret, trains, and commits the Merkle root over the state
/// after every step (docs/training.md). The audited steps come from blockhash(commitBlock + DELAY): randomness
/// that did not exist when the solver committed and that no caller picks. Bonded verifiers replay them and sign
/// off (attest) or challenge one step; challenges are committed first and opened in a later block, so nobody can
/// copy one from the mempool. The dispute game (TrainingDisputes) narrows a challenge to one element of one
/// operator and has the referee recompute it; the loser pays. Truebit-style forced errors keep verifiers honest:
/// blockhash(claimBlock + DELAY) with the solver's secret decides whether the task must carry deliberately wrong
/// step leaves; a verifier who challenges one wins the jackpot, one who signed off on an audited forced step is
/// slashed and barred. Money moves by credit (`owed`), withdrawn by its owner: no transfer inside a settlement
/// can revert it or re-enter.
contract TrainingMarket is Owned {
    using SafeTransfer for IERC20;

    enum State {
        None,
        Open,
        Claimed,
        Committed,
        Settled,
        Slashed,
        Cancelled
    }

    struct Task {
        address submitter;
        State state;
        uint16 auditLevel;
        uint8 attesters;
        bool disputed; // a dispute is open
        bool forcedCaught;
        uint128 fee;
        bytes32 paramsHash;
        bytes32 datasetRoot;
        uint32 steps;
        uint32 nLayers;
        uint64 trainTime;
        address solver;
        uint64 claimBlock;
        uint64 deadline; // commit by (Claimed), challenge until (Committed)
        uint128 bond;
        uint64 commitBlock;
        uint64 auditAnchor;
        bytes32 secretHash;
        bytes32 root;
        bytes32 weightsHash;
        bytes32 forcedSeed;
        bytes32 auditSeed;
        bytes32 revealedSecret; // set when a forced error was caught: its other forced steps cannot be challenged
    }

    struct Verifier {
        uint128 stake;
        uint128 locked; // challenge bonds of open disputes
        uint32 obligations; // attestations on unsettled tasks and open disputes
        bool barred;
    }

    /// @dev Blocks between the event a seed belongs to and the block whose hash is the seed.
    uint256 public constant DELAY = 4;
    uint256 public constant MAX_AUDIT_LEVEL = 256;
    uint256 public constant MAX_ATTESTERS = 8;
    /// @dev A forced task fakes about one step leaf in FORCED_STEP_ODDS (25%): an audit of 44 steps misses them all
    /// with probability 0.75**44, about 3e-6.
    uint256 public constant FORCED_STEP_ODDS = 4;
    uint256 public constant BPS = 10_000;

    IERC20 public immutable stablecoin;
    IERC20 public immutable tsr;
    address public disputes;

    uint128 public solverBond;
    uint128 public verifierMinStake;
    uint128 public challengeBond;
    uint64 public challengeWindow;
    uint64 public settleTimeout;
    uint16 public forcedOdds; // one task in forcedOdds carries forced errors
    uint16 public jackpotBps; // share of every settled fee that funds the jackpot
    uint16 public auditBps; // share paid to the task's attesters
    uint16 public verifierSlashBps; // share of a lying verifier's stake
    uint16 public challengerBps; // share of a slashed solver bond that goes to the challenger

    uint256 public jackpot; // stablecoin
    uint256 public tsrJackpot; // TSR from slashed stakes
    Task[] private _tasks;
    mapping(address => Verifier) public verifiers;
    mapping(uint256 id => mapping(uint256 slot => address)) public attesterAt;
    mapping(uint256 id => mapping(address => bool)) public attested;
    mapping(uint256 id => mapping(address => bytes32)) public challengeCommits;
    mapping(uint256 id => mapping(address => uint256)) public challengeCommitBlock;
    mapping(address => uint256) public owedStable;
    mapping(address => uint256) public owedTsr;
    /// @dev Set when the attester in slot `slot` of task `id` was slashed for it (and so is not paid for it).
    mapping(uint256 id => mapping(uint256 slot => bool)) public slashedFor;

    event DisputesSet(address indexed disputes);
    event ParamsSet(uint128 solverBond, uint128 verifierMinStake, uint128 challengeBond, uint64 challengeWindow,
                    uint64 settleTimeout, uint16 forcedOdds, uint16 jackpotBps, uint16 auditBps,
                    uint16 verifierSlashBps, uint16 challengerBps);
    event Posted(uint256 indexed id, address indexed submitter, bytes32 paramsHash, bytes32 specHash,
                 bytes32 datasetRoot, uint256 fee, uint256 auditLevel, uint256 trainTime);
    event Cancelled(uint256 indexed id);
    event Unverified(uint256 indexed id, address indexed solver, uint256 feeRefunded, uint256 bondReturned);
    event Claimed(uint256 indexed id, address indexed solver, bytes32 secretHash, uint256 bond, uint256 deadline);
    event Committed(uint256 indexed id, bytes32 root, bytes32 weightsHash, uint256 windowEnd);
    event AuditDrawn(uint256 indexed id, bytes32 seed);
    event AuditReanchored(uint256 indexed id, uint256 anchor);
    event Staked(address indexed verifier, uint256 amount, uint256 stake);
    event Unstaked(address indexed verifier, uint256 amount, uint256 stake);
    event Attested(uint256 indexed id, address indexed verifier);
    event ChallengeCommitted(uint256 indexed id, address indexed verifier);
    event ChallengeOpened(uint256 indexed id, address indexed verifier, uint256 step);
    event ForcedErrorCaught(uint256 indexed id, address indexed verifier, uint256 step, uint256 stable, uint256 tsr);
    event DisputeResolved(uint256 indexed id, address indexed verifier, uint256 step, bool solverLost);
    event SolverSlashed(uint256 indexed id, address indexed solver, uint256 bond);
    event VerifierSlashed(uint256 indexed id, address indexed verifier, uint256 amount);
    event Settled(uint256 indexed id, address indexed solver, uint256 paid, bool forced, uint256 auditPaid);
    event JackpotFunded(address indexed from, uint256 amount);
    event Withdrawn(address indexed to, uint256 stable, uint256 tsr);

    error BadParams(string why);
    error UnknownTask(uint256 id);
    error WrongState(uint256 id, State state);
    error NotSolver(uint256 id, address caller);
    error NotSubmitter(uint256 id, address caller);
    error NotDisputes(address caller);
    error TooEarly(uint256 id, uint256 at);
    error TooLate(uint256 id, uint256 at);
    error BadCommitment(uint256 id, string why);
    error NotEligible(address verifier, string why);
    error Obligations(address verifier, uint256 open);
    error DisputeOpen(uint256 id);
    error AlreadyAttested(uint256 id, address verifier);
    error SeedNotDrawn(uint256 id);
    error NotVerified(uint256 id);

    constructor(address owner_, IERC20 stablecoin_, IERC20 tsr_) Owned(owner_) {
        stablecoin = stablecoin_;
        tsr = tsr_;
        _setParams(10e18, 5e18, 1e18, 1 hours, 1 days, 8, 500, 500, 5000, 5000);
    }

    // ---------------------------------------------------------------- governance

    function setDisputes(address disputes_) external onlyOwner {
        if (disputes_ == address(0)) revert ZeroAddress();
        disputes = disputes_;
        emit DisputesSet(disputes_);
    }

    function setParams(uint128 solverBond_, uint128 verifierMinStake_, uint128 challengeBond_, uint64 window_,
                       uint64 settleTimeout_, uint16 forcedOdds_, uint16 jackpotBps_, uint16 auditBps_,
                       uint16 verifierSlashBps_, uint16 challengerBps_) external onlyOwner {
        _setParams(solverBond_, verifierMinStake_, challengeBond_, window_, settleTimeout_, forcedOdds_, jackpotBps_,
                   auditBps_, verifierSlashBps_, challengerBps_);
    }

    function _setParams(uint128 solverBond_, uint128 verifierMinStake_, uint128 challengeBond_, uint64 window_,
                        uint64 settleTimeout_, uint16 forcedOdds_, uint16 jackpotBps_, uint16 auditBps_,
                        uint16 verifierSlashBps_, uint16 challengerBps_) private {
        if (forcedOdds_ == 0) revert BadParams("forcedOdds must be at least 1");
        if (uint256(jackpotBps_) + auditBps_ > 5000) revert BadParams("jackpot and audit shares above half the fee");
        if (verifierSlashBps_ > BPS || challengerBps_ > BPS) revert BadParams("a share above 100%");
        if (challengeBond_ > verifierMinStake_) revert BadParams("challenge bond above the minimum stake");
        if (window_ == 0 || settleTimeout_ == 0) revert BadParams("zero window");
        solverBond = solverBond_;
        verifierMinStake = verifierMinStake_;
        challengeBond = challengeBond_;
        challengeWindow = window_;
        settleTimeout = settleTimeout_;
        forcedOdds = forcedOdds_;
        jackpotBps = jackpotBps_;
        auditBps = auditBps_;
        verifierSlashBps = verifierSlashBps_;
        challengerBps = challengerBps_;
        emit ParamsSet(solverBond_, verifierMinStake_, challengeBond_, window_, settleTimeout_, forcedOdds_,
                       jackpotBps_, auditBps_, verifierSlashBps_, challengerBps_);
    }

    // ---------------------------------------------------------------- tasks

    function post(TrainParams calldata p, bytes32 specHash, uint128 fee, uint64 trainTime, uint16 auditLevel)
        external
        returns (uint256 id)
    {
        id = _post(p, specHash, fee, trainTime, auditLevel);
        stablecoin.safeTransferFrom(msg.sender, address(this), fee);
    }

    /// @notice post with an EIP-2612 permit for the fee. The permit is tried, not required: if someone copied
    /// it from the mempool and used it first, the allowance is there and the transfer still succeeds.
    function postWithPermit(TrainParams calldata p, bytes32 specHash, uint128 fee, uint64 trainTime,
                            uint16 auditLevel, uint256 permitDeadline, uint8 v, bytes32 r, bytes32 s)
        external
        returns (uint256 id)
    {
        try IERC20Permit(address(stablecoin)).permit(msg.sender, address(this), fee, permitDeadline, v, r, s) {} catch {}
        id = _post(p, specHash, fee, trainTime, auditLevel);
        stablecoin.safeTransferFrom(msg.sender, address(this), fee);
    }

    function _post(TrainParams calldata p, bytes32 specHash, uint128 fee, uint64 trainTime, uint16 auditLevel)
        private
        returns (uint256 id)
    {
        uint256 nl = p.layers.length;
        if (nl < 2 || nl > 17) revert BadParams("layers: between 2 and 17 widths");
        for (uint256 i = 0; i < nl; i++) if (p.layers[i] == 0 || p.layers[i] > 4096) revert BadParams("layer width");
        if (p.steps == 0 || p.batchSize == 0) revert BadParams("zero steps or batch size");
        if (p.lr <= 0 || p.momentum < 0 || p.momentum >= 65536) revert BadParams("lr or momentum out of range");
        if (auditLevel == 0 || auditLevel > MAX_AUDIT_LEVEL) revert BadParams("audit level between 1 and 256");
        if (fee == 0 || trainTime == 0 || trainTime > 30 days) revert BadParams("zero fee or train time");
        id = _tasks.length;
        Task storage t = _tasks.push();
        t.submitter = msg.sender;
        t.state = State.Open;
        t.auditLevel = auditLevel;
        t.fee = fee;
        t.paramsHash = keccak256(abi.encode(p));
        t.datasetRoot = p.datasetRoot;
        t.steps = p.steps;
        t.nLayers = uint32(nl - 1);
        t.trainTime = trainTime;
        emit Posted(id, msg.sender, t.paramsHash, specHash, p.datasetRoot, fee, auditLevel, trainTime);
    }

    function cancel(uint256 id) external {
        Task storage t = _task(id);
        if (msg.sender != t.submitter) revert NotSubmitter(id, msg.sender);
        _expect(id, t, State.Open);
        t.state = State.Cancelled;
        owedStable[t.submitter] += t.fee;
        emit Cancelled(id);
    }

    /// @notice Take a task: lock the solver bond and commit to the secret that decides forced errors.
    function claim(uint256 id, bytes32 secretHash) external {
        Task storage t = _task(id);
        _expect(id, t, State.Open);
        t.state = State.Claimed;
        t.solver = msg.sender;
        t.secretHash = secretHash;
        t.claimBlock = uint64(block.number);
        t.deadline = uint64(block.timestamp) + t.trainTime;
        t.bond = solverBond;
        emit Claimed(id, msg.sender, secretHash, t.bond, t.deadline);
        tsr.safeTransferFrom(msg.sender, address(this), t.bond);
    }

    /// @notice The seed that, with the solver's secret, decides forced errors: blockhash(claimBlock + DELAY),
    /// readable for 256 blocks. Left to expire, it counts as forcing (a solver cannot re-roll it by waiting).
    function forcedSeedOf(uint256 id) public view returns (bytes32 seed, bool expired) {
        Task storage t = _task(id);
        if (t.forcedSeed != bytes32(0)) return (t.forcedSeed, false);
        uint256 at = uint256(t.claimBlock) + DELAY;
        if (block.number <= at) revert TooEarly(id, at + 1);
        seed = blockhash(at);
        expired = seed == bytes32(0);
    }

    /// @notice Commit the Merkle root over the state after every step, and open the final state: its 4L tensor
    /// digests and the proof that leaf `steps` is keccak(steps ++ digests). The weights hash follows from them.
    function commit(uint256 id, bytes32 root, bytes32[] calldata finalDigests, bytes32[] calldata proof) external {
        Task storage t = _task(id);
        _expect(id, t, State.Claimed);
        if (msg.sender != t.solver) revert NotSolver(id, msg.sender);
        if (block.timestamp > t.deadline) revert TooLate(id, t.deadline);
        (bytes32 seed, bool expired) = forcedSeedOf(id);
        if (finalDigests.length != 4 * uint256(t.nLayers)) revert BadCommitment(id, "final state: 4 tensors per layer");
        bytes32 leaf = keccak256(abi.encodePacked(uint256(t.steps), finalDigests));
        if (!_verify(leaf, t.steps, proof, root)) revert BadCommitment(id, "final leaf not in the root");
        t.state = State.Committed;
        t.root = root;
        t.forcedSeed = expired ? bytes32(uint256(1)) : seed;
        t.weightsHash = keccak256(abi.encodePacked(finalDigests[:2 * uint256(t.nLayers)]));
        t.commitBlock = uint64(block.number);
        t.auditAnchor = uint64(block.number);
        t.deadline = uint64(block.timestamp) + challengeWindow;
        emit Committed(id, root, t.weightsHash, t.deadline);
    }

    /// @notice Claimed and never committed in time: the bond is slashed, the fee goes back to the submitter.
    function expire(uint256 id) external {
        Task storage t = _task(id);
        _expect(id, t, State.Claimed);
        if (block.timestamp <= t.deadline) revert TooEarly(id, t.deadline + 1);
        _slashSolver(id, t, address(0));
    }

    // ---------------------------------------------------------------- audits

    /// @notice Fix the audit seed: blockhash(anchor + DELAY), where the anchor is the commit block. If nobody
    /// fixed it within 256 blocks, the anchor moves to the current block: still a hash no caller knows yet.
    function drawAudit(uint256 id) public returns (bytes32) {
        Task storage t = _task(id);
        if (t.auditSeed != bytes32(0)) return t.auditSeed;
        _expect(id, t, State.Committed);
        uint256 at = uint256(t.auditAnchor) + DELAY;
        if (block.number <= at) revert TooEarly(id, at + 1);
        bytes32 seed = blockhash(at);
        if (seed == bytes32(0)) {
            t.auditAnchor = uint64(block.number);
            emit AuditReanchored(id, block.number);
            return bytes32(0);
        }
        t.auditSeed = seed;
        emit AuditDrawn(id, seed);
        return seed;
    }

    /// @notice The i-th audited step, 1..steps.
    function auditStep(uint256 id, uint256 i) public view returns (uint256) {
        Task storage t = _task(id);
        if (t.auditSeed == bytes32(0)) revert SeedNotDrawn(id);
        return _auditStep(t, i);
    }

    /// @notice Whether step `step` is one of a forced task's deliberately wrong leaves (never the last step,
    /// whose leaf the commit opened).
    function isForcedStep(bytes32 secret, bytes32 seed, uint256 steps, uint256 step) public pure returns (bool) {
        if (steps < 2 || step == 0 || step >= steps) return false;
        if (step == 1 + uint256(keccak256(abi.encode(secret, seed))) % (steps - 1)) return true;
        return uint256(keccak256(abi.encode(secret, seed, step))) % FORCED_STEP_ODDS == 0;
    }

    function isForced(bytes32 secret, bytes32 seed, uint256 steps) public view returns (bool) {
        if (steps < 2) return false;
        return seed == bytes32(uint256(1)) || uint256(keccak256(abi.encode(secret, seed, "forced"))) % forcedOdds == 0;
    }

    function stake(uint128 amount) external {
        Verifier storage v = verifiers[msg.sender];
        v.stake += amount;
        emit Staked(msg.sender, amount, v.stake);
        tsr.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Stake is locked while its owner has attested an unsettled task or holds an open dispute.
    function unstake(uint128 amount) external {
        Verifier storage v = verifiers[msg.sender];
        if (v.obligations != 0) revert Obligations(msg.sender, v.obligations);
        v.stake -= amount;
        emit Unstaked(msg.sender, amount, v.stake);
        tsr.safeTransfer(msg.sender, amount);
    }

    /// @notice Sign off on a task's audited steps: paid a share of the fee if right, slashed and barred if an
    /// audited step was a forced error.
    function attest(uint256 id) external {
        Task storage t = _task(id);
        _expect(id, t, State.Committed);
        if (t.auditSeed == bytes32(0)) revert SeedNotDrawn(id);
        if (block.timestamp > t.deadline) revert TooLate(id, t.deadline);
        if (attested[id][msg.sender]) revert AlreadyAttested(id, msg.sender);
        if (t.attesters >= MAX_ATTESTERS) revert NotEligible(msg.sender, "the task has its attesters");
        _eligible(msg.sender, t);
        attested[id][msg.sender] = true;
        attesterAt[id][t.attesters] = msg.sender;
        t.attesters += 1;
        verifiers[msg.sender].obligations += 1;
        emit Attested(id, msg.sender);
    }

    function commitChallenge(uint256 id, bytes32 commitment) external {
        Task storage t = _task(id);
        _expect(id, t, State.Committed);
        challengeCommits[id][msg.sender] = commitment;
        challengeCommitBlock[id][msg.sender] = block.number;
        emit ChallengeCommitted(id, msg.sender);
    }

    /// @notice Open a committed challenge of step `step` (0 challenges the initial state) in a later block.
    /// The commitment is keccak256(abi.encode(challenger, id, step, salt)): bound to its sender.
    function openChallenge(uint256 id, uint256 step, bytes32 salt) external returns (uint256 disputeId) {
        Task storage t = _task(id);
        _expect(id, t, State.Committed);
        if (t.disputed) revert DisputeOpen(id);
        if (block.timestamp > t.deadline) revert TooLate(id, t.deadline);
        if (step > t.steps) revert BadParams("step beyond the task");
        if (t.forcedCaught && isForcedStep(t.revealedSecret, t.forcedSeed, t.steps, step)) {
            revert BadParams("a forced step of a forced error already revealed");
        }
        uint256 at = challengeCommitBlock[id][msg.sender];
        if (at == 0 || challengeCommits[id][msg.sender] != keccak256(abi.encode(msg.sender, id, step, salt))) {
            revert BadCommitment(id, "no matching challenge commitment");
        }
        if (block.number <= at) revert TooEarly(id, at + 1);
        _eligible(msg.sender, t);
        Verifier storage v = verifiers[msg.sender];
        if (v.stake - v.locked < challengeBond) revert NotEligible(msg.sender, "free stake below the challenge bond");
        delete challengeCommits[id][msg.sender];
        delete challengeCommitBlock[id][msg.sender];
        v.locked += challengeBond;
        v.obligations += 1;
        t.disputed = true;
        emit ChallengeOpened(id, msg.sender, step);
        disputeId = ITrainingDisputes(disputes).open(id, msg.sender, t.solver, step, t.root, t.nLayers, t.paramsHash);
    }

    /// @notice The solver answers a challenge of a forced-error step by revealing its secret: the challenger
    /// wins the jackpot (half of each pool) and the dispute ends; the solver is not slashed.
    function revealForced(uint256 id, bytes32 secret) external {
        Task storage t = _task(id);
        if (msg.sender != t.solver) revert NotSolver(id, msg.sender);
        if (!t.disputed || t.forcedCaught) revert BadCommitment(id, "no open dispute");
        if (keccak256(abi.encode(secret)) != t.secretHash) revert BadCommitment(id, "not the committed secret");
        (address challenger, uint256 step) = ITrainingDisputes(disputes).current(id);
        if (!isForced(secret, t.forcedSeed, t.steps) || !isForcedStep(secret, t.forcedSeed, t.steps, step)) {
            revert BadCommitment(id, "the challenged step is not a forced error");
        }
        t.forcedCaught = true;
        t.revealedSecret = secret;
        t.disputed = false;
        _release(challenger);
        uint256 s = jackpot / 2;
        uint256 x = tsrJackpot / 2;
        jackpot -= s;
        tsrJackpot -= x;
        owedStable[challenger] += s;
        owedTsr[challenger] += x;
        emit ForcedErrorCaught(id, challenger, step, s, x);
        ITrainingDisputes(disputes).close(id);
    }

    /// @notice Called by the dispute game when a dispute ends.
    function resolve(uint256 id, address challenger, uint256 step, bool solverLost) external {
        if (msg.sender != disputes) revert NotDisputes(msg.sender);
        Task storage t = _task(id);
        t.disputed = false;
        Verifier storage v = verifiers[challenger];
        emit DisputeResolved(id, challenger, step, solverLost);
        if (solverLost) {
            _release(challenger);
            if (_inAudit(t, step)) _slashAttesters(id, t); // they signed off on a step proven wrong
            _releaseAttesters(id, t);
            _slashSolver(id, t, challenger);
        } else {
            uint128 lost = challengeBond < v.stake ? challengeBond : v.stake;
            _release(challenger);
            v.stake -= lost;
            owedTsr[t.solver] += lost;
            // whoever still wants to challenge gets at least one move's time after a dispute that ran late
            uint64 until = uint64(block.timestamp) + 1 hours;
            if (t.deadline < until) t.deadline = until;
        }
    }

    /// @notice After the window, with no open dispute: the solver reveals its secret and is paid.
    function settle(uint256 id, bytes32 secret) external {
        Task storage t = _task(id);
        _expect(id, t, State.Committed);
        if (msg.sender != t.solver) revert NotSolver(id, msg.sender);
        if (t.disputed) revert DisputeOpen(id);
        if (block.timestamp <= t.deadline) revert TooEarly(id, t.deadline + 1);
        if (t.auditSeed == bytes32(0)) revert SeedNotDrawn(id);
        // unverified work is not paid: a solver that serves no verifier its states (or that no verifier
        // audited) gets no fee; after settleTimeout `forfeit` returns the fee and the bond
        if (t.attesters == 0 && !t.forcedCaught) revert NotVerified(id);
        if (keccak256(abi.encode(secret)) != t.secretHash) revert BadCommitment(id, "not the committed secret");
        bool forced = isForced(secret, t.forcedSeed, t.steps);
        if (forced && !t.forcedCaught && _forcedInAudit(t, secret)) _slashAttesters(id, t);
        t.state = State.Settled;
        uint256 toJackpot = uint256(t.fee) * jackpotBps / BPS;
        uint256 toAudit = uint256(t.fee) * auditBps / BPS;
        uint256 paid = t.fee - toJackpot - toAudit;
        uint256 honest = 0;
        for (uint256 i = 0; i < t.attesters; i++) if (!slashedFor[id][i]) honest++;
        uint256 auditPaid = 0;
        for (uint256 i = 0; i < t.attesters; i++) {
            if (slashedFor[id][i]) continue;
            owedStable[attesterAt[id][i]] += toAudit / honest;
            auditPaid += toAudit / honest;
        }
        _releaseAttesters(id, t);
        jackpot += toJackpot + (toAudit - auditPaid);
        owedStable[t.solver] += paid;
        owedTsr[t.solver] += t.bond;
        emit Settled(id, t.solver, paid, forced, auditPaid);
    }

    /// @notice A solver that never settles (never reveals its secret) forfeits its bond: the fee goes back. A
    /// task nobody verified (no attestation, no forced error caught) is cancelled instead: nobody could tell
    /// honest work from a solver withholding its states, so the fee goes back and the bond is returned.
    function forfeit(uint256 id) external {
        Task storage t = _task(id);
        _expect(id, t, State.Committed);
        if (t.disputed) revert DisputeOpen(id);
        uint256 at = uint256(t.deadline) + settleTimeout;
        if (block.timestamp <= at) revert TooEarly(id, at + 1);
        if (t.attesters == 0 && !t.forcedCaught) {
            t.state = State.Cancelled;
            owedStable[t.submitter] += t.fee;
            owedTsr[t.solver] += t.bond;
            emit Unverified(id, t.solver, t.fee, t.bond);
            return;
        }
        _releaseAttesters(id, t);
        _slashSolver(id, t, address(0));
    }

    function fundJackpot(uint256 amount) external {
        jackpot += amount;
        emit JackpotFunded(msg.sender, amount);
        stablecoin.safeTransferFrom(msg.sender, address(this), amount);
    }

    function withdraw() external {
        uint256 s = owedStable[msg.sender];
        uint256 x = owedTsr[msg.sender];
        owedStable[msg.sender] = 0;
        owedTsr[msg.sender] = 0;
        emit Withdrawn(msg.sender, s, x);
        stablecoin.safeTransfer(msg.sender, s);
        tsr.safeTransfer(msg.sender, x);
    }

    // ---------------------------------------------------------------- views

    function taskCount() external view returns (uint256) {
        return _tasks.length;
    }

    function getTask(uint256 id) external view returns (Task memory) {
        return _task(id);
    }

    // ---------------------------------------------------------------- internals

    function _task(uint256 id) private view returns (Task storage) {
        if (id >= _tasks.length) revert UnknownTask(id);
        return _tasks[id];
    }

    function _expect(uint256 id, Task storage t, State s) private view {
        if (t.state != s) revert WrongState(id, t.state);
    }

    function _eligible(address who, Task storage t) private view {
        Verifier storage v = verifiers[who];
        if (v.barred) revert NotEligible(who, "barred for signing off on a wrong step");
        if (v.stake < verifierMinStake) revert NotEligible(who, "stake below the minimum");
        if (who == t.solver || who == t.submitter) revert NotEligible(who, "the task's own solver or submitter");
    }

    function _release(address challenger) private {
        Verifier storage v = verifiers[challenger];
        v.locked -= challengeBond < v.locked ? challengeBond : v.locked;
        v.obligations -= 1;
    }

    function _auditStep(Task storage t, uint256 i) private view returns (uint256) {
        return 1 + uint256(keccak256(abi.encode(t.auditSeed, i))) % t.steps;
    }

    function _inAudit(Task storage t, uint256 step) private view returns (bool) {
        if (t.auditSeed == bytes32(0)) return false;
        for (uint256 i = 0; i < t.auditLevel; i++) {
            if (_auditStep(t, i) == step) return true;
        }
        return false;
    }

    function _forcedInAudit(Task storage t, bytes32 secret) private view returns (bool) {
        for (uint256 i = 0; i < t.auditLevel; i++) {
            if (isForcedStep(secret, t.forcedSeed, t.steps, _auditStep(t, i))) return true;
        }
        return false;
    }

    /// @dev Bounded: at most MAX_ATTESTERS.
    function _slashAttesters(uint256 id, Task storage t) private {
        for (uint256 i = 0; i < t.attesters; i++) {
            if (slashedFor[id][i]) continue;
            address a = attesterAt[id][i];
            Verifier storage v = verifiers[a];
            uint128 amount = uint128(uint256(v.stake - v.locked) * verifierSlashBps / BPS);
            v.stake -= amount;
            v.barred = true;
            slashedFor[id][i] = true;
            tsrJackpot += amount;
            emit VerifierSlashed(id, a, amount);
        }
    }

    function _slashSolver(uint256 id, Task storage t, address challenger) private {
        t.state = State.Slashed;
        uint256 toChallenger = challenger == address(0) ? 0 : uint256(t.bond) * challengerBps / BPS;
        owedTsr[challenger] += toChallenger;
        tsrJackpot += t.bond - toChallenger;
        owedStable[t.submitter] += t.fee;
        emit SolverSlashed(id, t.solver, t.bond);
    }

    /// @dev Bounded: at most MAX_ATTESTERS. Called once, when a task leaves Committed.
    function _releaseAttesters(uint256 id, Task storage t) private {
        for (uint256 i = 0; i < t.attesters; i++) verifiers[attesterAt[id][i]].obligations -= 1;
    }

    function _verify(bytes32 leaf, uint256 index, bytes32[] calldata proof, bytes32 root) private pure returns (bool) {
        bytes32 node = leaf;
        for (uint256 d = 0; d < proof.length; d++) {
            node = (index >> d) & 1 == 1 ? sha256(abi.encodePacked(proof[d], node)) : sha256(abi.encodePacked(node, proof[d]));
        }
        return index >> proof.length == 0 && node == root;
    }
}

interface ITrainingDisputes {
    function open(uint256 taskId, address challenger, address solver, uint256 step, bytes32 root, uint256 nLayers,
                  bytes32 paramsHash)
        external
        returns (uint256 disputeId);

    function current(uint256 taskId) external view returns (address challenger, uint256 step);

    function close(uint256 taskId) external;
}

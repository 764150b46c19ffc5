// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {EIP712, EIP712Domain} from "./lib/EIP712.sol";
import {Checkpoints} from "./lib/Checkpoints.sol";
import {Owned} from "./lib/Owned.sol";
import {IERC20, SafeTransfer} from "./lib/SafeTransfer.sol";

interface IEmissionSchedule {
    function distribute() external returns (uint256);
}

/// @title Subnets, neurons, stake, commit-reveal weights and 2/3-signed epoch settlement
/// @notice Yuma consensus runs off-chain: every validator computes the epoch from on-chain state
/// (neurons, stake, revealed weights) and signs (EIP-712) the Merkle root of per-UID emissions with
/// the root of the state it read. A result is final once validators holding more than 2/3 of the
/// subnet's stake signed the same root; UIDs then claim with Merkle proofs. Trust assumption:
/// validators holding more than 1/3 of a subnet's stake are honest; a validator that signs two
/// different results for one epoch can be slashed by anyone holding both signatures, for
/// EQUIVOCATION_EPOCHS epochs after it, and unstaked TSR stays in the vault (and slashable) until
/// that window has passed.
/// Epoch boundaries lie on a fixed grid, creation + k*tempo. An epoch reads the state at the latest
/// boundary before the block that finalizes it (at least one tempo after the previous epoch's), and
/// signatures are weighed by the stake each signer had at the end of that block, against the total
/// stake then: stake that arrives later (a flash loan, a stake in the finalizing transaction) counts
/// for nothing in that epoch. Weights revealed between boundaries k-1 and k (what epoch k reads) must
/// have been committed at or before boundary k-1, so nobody can read a reveal and copy it into the
/// same epoch.
/// Subnet 0 is the root network: its "UIDs" are subnets, its epoch leaves allocate the TSR pulled
/// from the EmissionSchedule to subnets, and each subnet's allocation is split 18% to its owner and
/// 82% through its own epoch (41% miners, 41% validators as Yuma decides).
contract SubnetRegistry is Owned, EIP712Domain {
    using SafeTransfer for IERC20;

    uint16 public constant ROOT = 0;
    uint16 public constant OWNER_CUT_BPS = 1800;
    uint16 public constant MAX_TAKE = 11796; // 18% of u16::MAX, Bittensor's default and cap here
    uint16 public constant MAX_UIDS_LIMIT = 4096;
    uint256 public constant SLASH_BPS = 5000;
    /// @notice epochs after epoch e during which a double signature for e can be slashed
    uint64 public constant EQUIVOCATION_EPOCHS = 4;
    /// @notice if a subnet stops finalizing, unstaked TSR still leaves after this many tempos
    uint64 public constant UNBOND_FALLBACK_TEMPOS = 4 * (EQUIVOCATION_EPOCHS + 1);
    bytes32 public constant EPOCH_TYPEHASH = keccak256(
        "EpochResult(uint16 netuid,uint64 epoch,bytes32 stateRoot,bytes32 resultRoot,uint256 emission,uint16 pruneUid)"
    );

    struct Hyper {
        uint16 maxUids;
        uint16 maxValidators;
        uint32 tempo; // blocks between epochs
        uint32 immunityPeriod; // blocks
        uint32 revealWindow; // blocks after a commit during which it may be revealed (in [tempo, 2*tempo])
        uint16 kappa;
        uint32 bondsMovingAverage;
        uint8 yumaVersion; // 0 yuma2, 1 yuma3, 2 yuma3_liquid
    }

    struct Subnet {
        address owner;
        uint16 n;
        uint16 pruneUid; // lowest-emission non-immune UID from the last epoch (0xffff: none)
        uint64 lastEpoch;
        uint64 lastEpochBlock; // boundary block the last finalized epoch read (on the grid creation + k*tempo)
        uint256 registrationCost;
        uint256 pending; // TSR allocated to the subnet, not yet put through an epoch
        uint256 totalStake; // stake on registered hotkeys (a pruned hotkey's vault stops counting)
        Hyper hyper;
    }

    struct Neuron {
        address hotkey;
        uint64 registeredAt;
        uint64 lastUpdate; // block of the last reveal
        uint64 commitBlock; // block of the commit that reveal used
    }

    struct Commit {
        bytes32 hash;
        uint64 block;
    }

    struct Vault {
        uint256 assets; // TSR backing the hotkey's stake on this subnet
        uint256 shares;
        uint16 take;
    }

    /// @dev Unstaked TSR waiting out the equivocation window, as shares of the hotkey's unbonding pool
    /// (slashed with the vault).
    struct Unbonding {
        uint256 shares;
        uint64 releaseEpoch; // free once the subnet's lastEpoch reaches this
        uint64 releaseBlock; // ... or this block passes (a subnet that stopped finalizing)
    }

    struct Pool {
        uint256 assets;
        uint256 shares;
    }

    struct Result {
        bytes32 resultRoot;
        uint256 emission;
        uint256 claimed;
    }

    IERC20 public immutable token;
    IEmissionSchedule public immutable emission;
    uint256 public rootPool; // pulled from the schedule, not yet allocated to a subnet
    uint256 public accounted; // TSR this contract knows it holds; the rest was sent or minted to it
    uint16 public subnetCount;

    mapping(uint16 => Subnet) private _subnets;
    mapping(uint16 => mapping(uint16 => Neuron)) private _neurons;
    mapping(uint16 => mapping(address => uint16)) private _uidPlusOne;
    mapping(uint16 => mapping(uint16 => Commit)) public commits;
    mapping(uint16 => mapping(address => Vault)) public vaults;
    mapping(uint16 => mapping(address => mapping(address => uint256))) public sharesOf;
    mapping(uint16 => mapping(uint64 => Result)) public results;
    mapping(uint16 => mapping(uint64 => mapping(uint16 => bool))) public claimed;
    mapping(uint16 => mapping(uint64 => mapping(address => bool))) public slashed;
    mapping(uint16 => mapping(address => Pool)) public unbondingPool;
    mapping(uint16 => mapping(address => mapping(address => Unbonding))) public unbonding;
    mapping(uint16 => mapping(address => Checkpoints.History)) private _stakeHistory;
    mapping(uint16 => Checkpoints.History) private _totalHistory;

    error BadHyperparameters(string field);
    error UnknownSubnet(uint16 netuid);
    error NotSubnetOwner(uint16 netuid, address caller);
    error AlreadyRegistered(uint16 netuid, address hotkey, uint16 uid);
    error NotRegistered(uint16 netuid, address hotkey);
    error SubnetFull(uint16 netuid);
    error NoCommit(uint16 netuid, uint16 uid);
    error RevealTooEarly(uint64 commitBlock, uint256 nowBlock);
    error RevealWindowClosed(uint64 deadline, uint256 nowBlock);
    error CommitMismatch(bytes32 expected, bytes32 got);
    error BadWeights(string why);
    error ZeroAmount();
    error InsufficientShares(uint256 have, uint256 want);
    error TakeTooHigh(uint16 take, uint16 max);
    error EpochOutOfOrder(uint64 expected, uint64 got);
    error EpochTooSoon(uint64 nextBlock, uint256 nowBlock);
    error EmissionTooHigh(uint256 requested, uint256 available);
    error TooManySignatures(uint256 given, uint256 max);
    error SignersNotSorted();
    error BadSignature();
    error SignerNotStaked(address signer);
    error InsufficientSignedStake(uint256 signed, uint256 total);
    error UnknownResult(uint16 netuid, uint64 epoch);
    error AlreadyClaimed(uint16 netuid, uint64 epoch, uint16 uid);
    error BadProof();
    error ClaimExceedsEmission(uint256 claimed, uint256 emission);
    error NotEquivocation();
    error AlreadySlashed(address validator);
    error NotSubnetLeaf(uint16 netuid);
    error RevealBeforeBoundary(uint64 boundary, uint256 nowBlock);
    error EquivocationTooOld(uint64 epoch, uint64 lastEpoch);
    error StillUnbonding(uint64 releaseEpoch, uint64 releaseBlock);
    error NothingUnbonding();

    event SubnetCreated(uint16 indexed netuid, address indexed owner, Hyper hyper, uint256 registrationCost);
    event NeuronRegistered(uint16 indexed netuid, uint16 indexed uid, address indexed hotkey, address replaced);
    event Staked(uint16 indexed netuid, address indexed hotkey, address indexed staker, uint256 assets, uint256 shares);
    event Unstaked(uint16 indexed netuid, address indexed hotkey, address indexed staker, uint256 assets, uint256 shares);
    event UnbondingStarted(uint16 indexed netuid, address indexed hotkey, address indexed staker, uint256 assets,
        uint64 releaseEpoch, uint64 releaseBlock);
    event RegistrationCostSet(uint16 indexed netuid, uint256 registrationCost);
    event Withdrawn(uint16 indexed netuid, address indexed hotkey, address indexed staker, uint256 assets);
    event TakeSet(uint16 indexed netuid, address indexed hotkey, uint16 take);
    event WeightsCommitted(uint16 indexed netuid, uint16 indexed uid, bytes32 hash);
    event WeightsRevealed(uint16 indexed netuid, uint16 indexed uid, uint64 commitBlock, uint16[] uids, uint16[] values);
    event EmissionPulled(uint256 amount, uint256 rootPool);
    event EpochFinalized(uint16 indexed netuid, uint64 indexed epoch, bytes32 stateRoot, bytes32 resultRoot,
        uint256 emission, uint256 ownerCut, uint256 signedStake, uint256 totalStake, uint16 pruneUid);
    event Claimed(uint16 indexed netuid, uint64 indexed epoch, uint16 indexed uid, address hotkey,
        uint256 incentive, uint256 dividend, uint256 take);
    event SubnetCredited(uint64 indexed rootEpoch, uint16 indexed netuid, uint256 amount);
    event Slashed(uint16 indexed netuid, uint64 indexed epoch, address indexed validator, uint256 amount);

    constructor(address owner_, IERC20 token_, IEmissionSchedule emission_, Hyper memory rootHyper,
        uint256 rootRegistrationCost)
        Owned(owner_)
        EIP712Domain("Tessera SubnetRegistry", "1")
    {
        token = token_;
        emission = emission_;
        // root UIDs cost TSR and are pruned like any subnet's, so free registrations cannot fill root
        _create(owner_, rootHyper, rootRegistrationCost);
    }

    // ---------------------------------------------------------------- subnets and neurons

    /// @notice Create a subnet; the creator pays `creationCost()` TSR into the root pool.
    function createSubnet(Hyper calldata hyper, uint256 registrationCost) external returns (uint16 netuid) {
        uint256 cost = creationCost();
        rootPool += cost; // recycled into emission
        accounted += cost;
        netuid = _create(msg.sender, hyper, registrationCost);
        token.safeTransferFrom(msg.sender, address(this), cost);
    }

    /// @notice Cost of a new subnet: 100 TSR per existing subnet, so subnets cannot be spammed.
    function creationCost() public view returns (uint256) {
        return uint256(subnetCount) * 100 ether;
    }

    function _create(address subnetOwner, Hyper memory h, uint256 registrationCost) private returns (uint16 netuid) {
        if (h.maxUids == 0 || h.maxUids > MAX_UIDS_LIMIT) revert BadHyperparameters("maxUids in [1, 4096]");
        if (h.maxValidators == 0 || h.maxValidators > h.maxUids) revert BadHyperparameters("maxValidators in [1, maxUids]");
        if (h.tempo < 2 || h.tempo > 50400) revert BadHyperparameters("tempo in [2, 50400] blocks");
        // a commit is revealed after the next boundary: a window shorter than tempo could strand it
        if (h.revealWindow < h.tempo || h.revealWindow > 2 * h.tempo) {
            revert BadHyperparameters("revealWindow in [tempo, 2*tempo]");
        }
        if (h.immunityPeriod > 100 * h.tempo) revert BadHyperparameters("immunityPeriod <= 100*tempo");
        if (h.bondsMovingAverage > 1_000_000) revert BadHyperparameters("bondsMovingAverage <= 1000000");
        if (h.yumaVersion > 2) revert BadHyperparameters("yumaVersion 0, 1 or 2");
        netuid = subnetCount++;
        Subnet storage s = _subnets[netuid];
        s.owner = subnetOwner;
        s.hyper = h;
        s.pruneUid = type(uint16).max;
        s.registrationCost = registrationCost;
        s.lastEpochBlock = uint64(block.number);
        emit SubnetCreated(netuid, subnetOwner, h, registrationCost);
    }

    /// @notice The subnet owner sets what a registration costs (root's owner is governance).
    function setRegistrationCost(uint16 netuid, uint256 registrationCost) external {
        Subnet storage s = _subnet(netuid);
        if (msg.sender != s.owner) revert NotSubnetOwner(netuid, msg.sender);
        s.registrationCost = registrationCost;
        emit RegistrationCostSet(netuid, registrationCost);
    }

    /// @notice Register msg.sender as a neuron. When the subnet is full, the UID the last epoch
    /// named for pruning (lowest emission, not immune) is replaced; one replacement per epoch.
    function register(uint16 netuid) external returns (uint16 uid) {
        Subnet storage s = _subnet(netuid);
        uint16 existing = _uidPlusOne[netuid][msg.sender];
        if (existing != 0) revert AlreadyRegistered(netuid, msg.sender, existing - 1);
        address replaced;
        if (s.n < s.hyper.maxUids) {
            uid = s.n++;
        } else {
            uid = s.pruneUid;
            if (uid == type(uint16).max) revert SubnetFull(netuid);
            Neuron storage old = _neurons[netuid][uid];
            if (block.number < old.registeredAt + s.hyper.immunityPeriod) revert SubnetFull(netuid);
            replaced = old.hotkey;
            delete _uidPlusOne[netuid][replaced];
            delete commits[netuid][uid];
            s.pruneUid = type(uint16).max;
            // a pruned hotkey's stake can no longer sign: it stops counting in the total
            _setTotal(s, netuid, s.totalStake - vaults[netuid][replaced].assets);
        }
        _neurons[netuid][uid] = Neuron(msg.sender, uint64(block.number), 0, 0);
        _uidPlusOne[netuid][msg.sender] = uid + 1;
        uint256 returning = vaults[netuid][msg.sender].assets; // stake left on a hotkey pruned before
        if (returning > 0) _setTotal(s, netuid, s.totalStake + returning);
        rootPool += s.registrationCost; // registration fees are recycled into emission
        accounted += s.registrationCost;
        emit NeuronRegistered(netuid, uid, msg.sender, replaced);
        if (s.registrationCost > 0) token.safeTransferFrom(msg.sender, address(this), s.registrationCost);
    }

    // ---------------------------------------------------------------- stake and delegation

    /// @notice Stake TSR on `hotkey` in `netuid` (own stake or delegation). Shares make slashes and
    /// reinvested dividends fall on every staker pro rata.
    function stake(uint16 netuid, address hotkey, uint256 amount) external returns (uint256 shares) {
        Subnet storage s = _subnet(netuid);
        if (_uidPlusOne[netuid][hotkey] == 0) revert NotRegistered(netuid, hotkey);
        if (amount == 0) revert ZeroAmount();
        Vault storage v = vaults[netuid][hotkey];
        if (v.shares == 0 && v.assets == 0) v.take = MAX_TAKE;
        shares = v.shares == 0 || v.assets == 0 ? amount : (amount * v.shares) / v.assets;
        if (shares == 0) revert ZeroAmount();
        v.shares += shares;
        sharesOf[netuid][hotkey][msg.sender] += shares;
        _setAssets(s, netuid, hotkey, v, v.assets + amount);
        accounted += amount;
        emit Staked(netuid, hotkey, msg.sender, amount, shares);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Stop staking `shares`: their TSR stops counting at once and leaves with `withdrawUnstaked`
    /// after EQUIVOCATION_EPOCHS more epochs, slashable until then (a validator cannot unstake before
    /// the proof of its double signature lands).
    function unstake(uint16 netuid, address hotkey, uint256 shares) external returns (uint256 assets) {
        Subnet storage s = _subnet(netuid);
        uint256 have = sharesOf[netuid][hotkey][msg.sender];
        if (shares == 0) revert ZeroAmount();
        if (shares > have) revert InsufficientShares(have, shares);
        Vault storage v = vaults[netuid][hotkey];
        assets = (shares * v.assets) / v.shares;
        sharesOf[netuid][hotkey][msg.sender] = have - shares;
        v.shares -= shares;
        _setAssets(s, netuid, hotkey, v, v.assets - assets);
        Pool storage pool = unbondingPool[netuid][hotkey];
        uint256 poolShares = pool.shares == 0 || pool.assets == 0 ? assets : (assets * pool.shares) / pool.assets;
        pool.assets += assets;
        pool.shares += poolShares;
        Unbonding storage u = unbonding[netuid][hotkey][msg.sender];
        u.shares += poolShares;
        u.releaseEpoch = s.lastEpoch + EQUIVOCATION_EPOCHS + 1;
        u.releaseBlock = uint64(block.number) + UNBOND_FALLBACK_TEMPOS * s.hyper.tempo;
        emit Unstaked(netuid, hotkey, msg.sender, assets, shares);
        emit UnbondingStarted(netuid, hotkey, msg.sender, assets, u.releaseEpoch, u.releaseBlock);
    }

    /// @notice Take unstaked TSR out once its equivocation window has passed.
    function withdrawUnstaked(uint16 netuid, address hotkey) external returns (uint256 assets) {
        Subnet storage s = _subnet(netuid);
        Unbonding memory u = unbonding[netuid][hotkey][msg.sender];
        if (u.shares == 0) revert NothingUnbonding();
        if (s.lastEpoch < u.releaseEpoch && block.number < u.releaseBlock) {
            revert StillUnbonding(u.releaseEpoch, u.releaseBlock);
        }
        Pool storage pool = unbondingPool[netuid][hotkey];
        assets = (u.shares * pool.assets) / pool.shares;
        pool.assets -= assets;
        pool.shares -= u.shares;
        delete unbonding[netuid][hotkey][msg.sender];
        accounted -= assets;
        emit Withdrawn(netuid, hotkey, msg.sender, assets);
        token.safeTransfer(msg.sender, assets);
    }

    /// @notice The hotkey's cut of its dividends before the rest is reinvested for its stakers.
    function setTake(uint16 netuid, uint16 take) external {
        if (_uidPlusOne[netuid][msg.sender] == 0) revert NotRegistered(netuid, msg.sender);
        if (take > MAX_TAKE) revert TakeTooHigh(take, MAX_TAKE);
        vaults[netuid][msg.sender].take = take;
        emit TakeSet(netuid, msg.sender, take);
    }

    function stakeOf(uint16 netuid, address hotkey) public view returns (uint256) {
        return vaults[netuid][hotkey].assets;
    }

    /// @notice A hotkey's stake at the end of block `blockNumber`: what its signature weighs for the epoch
    /// whose boundary that block is.
    function stakeAt(uint16 netuid, address hotkey, uint256 blockNumber) public view returns (uint256) {
        return Checkpoints.at(_stakeHistory[netuid][hotkey], blockNumber);
    }

    function totalStakeAt(uint16 netuid, uint256 blockNumber) public view returns (uint256) {
        return Checkpoints.at(_totalHistory[netuid], blockNumber);
    }

    /// @notice The boundary an epoch finalized in `blockNumber` reads (state and signing stake), or 0 when no
    /// epoch can be finalized in that block yet.
    function epochBoundaryFor(uint16 netuid, uint64 blockNumber) public view returns (uint64) {
        Subnet storage s = _subnet(netuid);
        if (blockNumber <= s.lastEpochBlock + s.hyper.tempo) return 0;
        return _boundaryAtOrAfter(s, blockNumber) - s.hyper.tempo;
    }

    // ---------------------------------------------------------------- commit-reveal weights

    /// @notice Commit keccak256(abi.encode(netuid, hotkey, uids, values, salt)); reveal later.
    function commitWeights(uint16 netuid, bytes32 hash) external {
        uint16 uid = _uidOf(netuid, msg.sender);
        commits[netuid][uid] = Commit(hash, uint64(block.number));
        emit WeightsCommitted(netuid, uid, hash);
    }

    /// @notice Reveal committed weights in a later block, within the reveal window. The epoch reads
    /// revealed weights only, and masks those whose commit predates a miner's registration.
    function revealWeights(uint16 netuid, uint16[] calldata uids, uint16[] calldata values, bytes32 salt) external {
        Subnet storage s = _subnet(netuid);
        uint16 uid = _uidOf(netuid, msg.sender);
        uint64 commitBlock = _openCommit(s, netuid, uid, keccak256(abi.encode(netuid, msg.sender, uids, values, salt)));
        if (uids.length != values.length) revert BadWeights("uids and values differ in length");
        // root validators weigh subnets; subnet validators weigh the subnet's UIDs
        uint16 limit = netuid == ROOT ? subnetCount : s.n;
        if (uids.length > limit) revert BadWeights("more weights than targets");
        for (uint256 i = 0; i < uids.length; i++) {
            if (uids[i] >= limit) revert BadWeights("uid out of range");
            if (i > 0 && uids[i] <= uids[i - 1]) revert BadWeights("uids must be strictly increasing");
        }
        delete commits[netuid][uid];
        Neuron storage neuron = _neurons[netuid][uid];
        neuron.lastUpdate = uint64(block.number);
        neuron.commitBlock = commitBlock;
        emit WeightsRevealed(netuid, uid, commitBlock, uids, values);
    }

    /// @dev The block of the commit this reveal opens, after checking it may be opened now.
    function _openCommit(Subnet storage s, uint16 netuid, uint16 uid, bytes32 got) private view returns (uint64) {
        Commit memory c = commits[netuid][uid];
        if (c.block == 0) revert NoCommit(netuid, uid);
        if (got != c.hash) revert CommitMismatch(c.hash, got);
        if (block.number <= c.block) revert RevealTooEarly(c.block, block.number);
        // reveals read by epoch k happen after boundary k-1 and were committed at or before it
        uint64 boundary = _boundaryAtOrAfter(s, c.block);
        if (block.number <= boundary) revert RevealBeforeBoundary(boundary, block.number);
        uint64 deadline = c.block + s.hyper.revealWindow;
        if (block.number > deadline) revert RevealWindowClosed(deadline, block.number);
        return c.block;
    }

    // ---------------------------------------------------------------- emission and epochs

    /// @notice Pull what the EmissionSchedule owes this registry into the root pool, together with
    /// any TSR that reached the registry outside its own flows (a `distribute()` called by someone
    /// else mints to every recipient; a plain transfer), so none of it is stranded.
    function pullEmission() external returns (uint256 amount) {
        emission.distribute();
        amount = token.balanceOf(address(this)) - accounted;
        rootPool += amount;
        accounted += amount;
        emit EmissionPulled(amount, rootPool);
    }

    function epochDigest(uint16 netuid, uint64 epoch, bytes32 stateRoot, bytes32 resultRoot, uint256 amount,
        uint16 pruneUid) public view returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(EPOCH_TYPEHASH, netuid, epoch, stateRoot, resultRoot, amount, pruneUid));
        return _hashTyped(structHash);
    }

    /// @notice Finalize an epoch result signed by validators holding > 2/3 of the subnet's stake.
    /// Signatures must be ordered by signer address (no duplicates, no loop over storage).
    /// `amount` is what the leaves pay; for a subnet, its owner additionally receives 18/82 of it.
    function finalizeEpoch(uint16 netuid, uint64 epoch, bytes32 stateRoot, bytes32 resultRoot, uint256 amount,
        uint16 pruneUid, bytes[] calldata signatures) external {
        Subnet storage s = _subnet(netuid);
        if (epoch != s.lastEpoch + 1) revert EpochOutOfOrder(s.lastEpoch + 1, epoch);
        uint64 next = s.lastEpochBlock + s.hyper.tempo;
        // the boundary block must be over, so the stake it ends with is final
        if (block.number <= next) revert EpochTooSoon(next + 1, block.number);
        uint64 boundary = _boundaryAtOrAfter(s, uint64(block.number)) - s.hyper.tempo; // the latest one passed
        uint256 signed = _signedStake(netuid, epochDigest(netuid, epoch, stateRoot, resultRoot, amount, pruneUid),
            signatures, s.hyper.maxValidators, boundary);
        _settle(s, netuid, epoch, stateRoot, resultRoot, amount, pruneUid, signed, boundary);
    }

    function _settle(Subnet storage s, uint16 netuid, uint64 epoch, bytes32 stateRoot, bytes32 resultRoot,
        uint256 amount, uint16 pruneUid, uint256 signed, uint64 boundary) private {
        uint256 total = totalStakeAt(netuid, boundary);
        if (signed * 3 <= total * 2) revert InsufficientSignedStake(signed, total);
        uint256 ownerCut = _debit(s, netuid, amount);
        s.lastEpoch = epoch;
        s.lastEpochBlock = boundary;
        s.pruneUid = pruneUid;
        results[netuid][epoch] = Result(resultRoot, amount, 0);
        accounted -= ownerCut;
        emit EpochFinalized(netuid, epoch, stateRoot, resultRoot, amount, ownerCut, signed, total, pruneUid);
        if (ownerCut > 0) token.safeTransfer(s.owner, ownerCut);
    }

    /// @dev Take an epoch's emission (and a subnet owner's 18%) from what is available for it.
    function _debit(Subnet storage s, uint16 netuid, uint256 amount) private returns (uint256 ownerCut) {
        if (netuid == ROOT) {
            if (amount > rootPool) revert EmissionTooHigh(amount, rootPool);
            rootPool -= amount;
            return 0;
        }
        ownerCut = (amount * OWNER_CUT_BPS) / (10_000 - OWNER_CUT_BPS);
        if (amount + ownerCut > s.pending) revert EmissionTooHigh(amount + ownerCut, s.pending);
        s.pending -= amount + ownerCut;
    }

    /// @dev Stake at the boundary behind valid signatures of registered hotkeys, ordered by address.
    function _signedStake(uint16 netuid, bytes32 digest, bytes[] calldata signatures, uint16 maxSigners,
        uint64 boundary) private view returns (uint256 signed)
    {
        if (signatures.length > maxSigners) revert TooManySignatures(signatures.length, maxSigners);
        address previous;
        for (uint256 i = 0; i < signatures.length; i++) {
            address signer = _recover(digest, signatures[i]);
            if (signer <= previous) revert SignersNotSorted();
            previous = signer;
            uint256 weight = _uidPlusOne[netuid][signer] == 0 ? 0 : stakeAt(netuid, signer, boundary);
            if (weight == 0) revert SignerNotStaked(signer);
            signed += weight;
        }
    }

    /// @notice Claim one UID's emission of a finalized epoch. The incentive goes to the hotkey; of the
    /// dividend, the hotkey's take goes to it and the rest is added to its stake for all its stakers.
    function claim(uint16 netuid, uint64 epoch, uint16 uid, address hotkey, uint256 incentive, uint256 dividend,
        bytes32[] calldata proof) external {
        if (netuid == ROOT) revert NotSubnetLeaf(netuid);
        Result storage r = _claimable(netuid, epoch, uid, incentive + dividend,
            keccak256(abi.encode(netuid, epoch, uid, hotkey, incentive, dividend)), proof);
        r.claimed += incentive + dividend;
        claimed[netuid][epoch][uid] = true;
        Vault storage v = vaults[netuid][hotkey];
        uint256 take = v.shares == 0 ? dividend : (dividend * v.take) / type(uint16).max;
        if (dividend > take) _setAssets(_subnets[netuid], netuid, hotkey, v, v.assets + dividend - take);
        accounted -= incentive + take;
        emit Claimed(netuid, epoch, uid, hotkey, incentive, dividend, take);
        if (incentive + take > 0) token.safeTransfer(hotkey, incentive + take);
    }

    /// @notice Move a subnet's share of a finalized root epoch into its pending emission.
    function creditSubnet(uint64 rootEpoch, uint16 netuid, uint256 amount, bytes32[] calldata proof) external {
        _subnet(netuid);
        if (netuid == ROOT) revert NotSubnetLeaf(netuid);
        Result storage r = _claimable(ROOT, rootEpoch, netuid, amount,
            keccak256(abi.encode(ROOT, rootEpoch, netuid, amount)), proof);
        r.claimed += amount;
        claimed[ROOT][rootEpoch][netuid] = true;
        _subnets[netuid].pending += amount;
        emit SubnetCredited(rootEpoch, netuid, amount);
    }

    /// @notice Slash a validator that signed two different results for the same epoch. Half of its
    /// stake (all its stakers, pro rata) goes back to the root pool.
    function slashEquivocation(uint16 netuid, uint64 epoch, bytes32[2] calldata stateRoots,
        bytes32[2] calldata resultRoots, uint256[2] calldata amounts, uint16[2] calldata pruneUids,
        bytes[2] calldata signatures) external {
        Subnet storage s = _subnet(netuid);
        if (epoch + EQUIVOCATION_EPOCHS <= s.lastEpoch) revert EquivocationTooOld(epoch, s.lastEpoch);
        bytes32 a = epochDigest(netuid, epoch, stateRoots[0], resultRoots[0], amounts[0], pruneUids[0]);
        bytes32 b = epochDigest(netuid, epoch, stateRoots[1], resultRoots[1], amounts[1], pruneUids[1]);
        if (a == b) revert NotEquivocation();
        address validator = _recover(a, signatures[0]);
        if (validator != _recover(b, signatures[1])) revert NotEquivocation();
        _slashValidator(s, netuid, epoch, validator);
    }

    function _slashValidator(Subnet storage s, uint16 netuid, uint64 epoch, address validator) private {
        if (slashed[netuid][epoch][validator]) revert AlreadySlashed(validator);
        slashed[netuid][epoch][validator] = true;
        Vault storage v = vaults[netuid][validator];
        Pool storage pool = unbondingPool[netuid][validator];
        uint256 fromPool = (pool.assets * SLASH_BPS) / 10_000; // stake unstaked since is slashed too
        uint256 amount = (v.assets * SLASH_BPS) / 10_000;
        _setAssets(s, netuid, validator, v, v.assets - amount);
        pool.assets -= fromPool;
        amount += fromPool;
        rootPool += amount;
        emit Slashed(netuid, epoch, validator, amount);
    }

    // ---------------------------------------------------------------- views

    function subnet(uint16 netuid) external view returns (Subnet memory) {
        return _subnets[netuid];
    }

    function neuron(uint16 netuid, uint16 uid) external view returns (Neuron memory) {
        return _neurons[netuid][uid];
    }

    function uidOf(uint16 netuid, address hotkey) external view returns (bool registered, uint16 uid) {
        uint16 p = _uidPlusOne[netuid][hotkey];
        return (p != 0, p == 0 ? 0 : p - 1);
    }

    // ---------------------------------------------------------------- internals

    function _subnet(uint16 netuid) private view returns (Subnet storage s) {
        if (netuid >= subnetCount) revert UnknownSubnet(netuid);
        return _subnets[netuid];
    }

    function _uidOf(uint16 netuid, address hotkey) private view returns (uint16) {
        uint16 p = _uidPlusOne[netuid][hotkey];
        if (p == 0) revert NotRegistered(netuid, hotkey);
        return p - 1;
    }

    function _claimable(uint16 netuid, uint64 epoch, uint16 uid, uint256 amount, bytes32 leaf, bytes32[] calldata proof)
        private view returns (Result storage r)
    {
        r = results[netuid][epoch];
        if (r.resultRoot == bytes32(0)) revert UnknownResult(netuid, epoch);
        if (claimed[netuid][epoch][uid]) revert AlreadyClaimed(netuid, epoch, uid);
        bytes32 node = keccak256(abi.encode(leaf));
        for (uint256 i = 0; i < proof.length; i++) {
            bytes32 sibling = proof[i];
            node = node < sibling ? keccak256(abi.encode(node, sibling)) : keccak256(abi.encode(sibling, node));
        }
        if (node != r.resultRoot) revert BadProof();
        if (r.claimed + amount > r.emission) revert ClaimExceedsEmission(r.claimed + amount, r.emission);
    }

    /// @dev The first epoch boundary at or after `blockNumber` (boundaries are lastEpochBlock + k*tempo).
    function _boundaryAtOrAfter(Subnet storage s, uint64 blockNumber) private view returns (uint64) {
        uint64 tempo = s.hyper.tempo;
        uint64 origin = s.lastEpochBlock % tempo; // every boundary is congruent to the creation block
        if (blockNumber <= origin) return origin;
        return origin + ((blockNumber - origin + tempo - 1) / tempo) * tempo;
    }

    /// @dev Every change of a vault's counted stake goes through here: it keeps the checkpoints that
    /// finalization weighs signatures by, and the subnet total (of registered hotkeys only).
    function _setAssets(Subnet storage s, uint16 netuid, address hotkey, Vault storage v, uint256 assets) private {
        uint256 before = v.assets;
        v.assets = assets;
        Checkpoints.push(_stakeHistory[netuid][hotkey], assets);
        if (_uidPlusOne[netuid][hotkey] != 0) _setTotal(s, netuid, s.totalStake + assets - before);
    }

    function _setTotal(Subnet storage s, uint16 netuid, uint256 total) private {
        s.totalStake = total;
        Checkpoints.push(_totalHistory[netuid], total);
    }

    function _recover(bytes32 digest, bytes calldata sig) private pure returns (address signer) {
        signer = EIP712.recover(digest, sig);
        if (signer == address(0)) revert BadSignature();
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Owned} from "./lib/Owned.sol";
import {IERC20, SafeTransfer} from "./lib/SafeTransfer.sol";
import {Resources, Prices, Requirements} from "./lib/MarketTypes.sol";

/// @title Compute providers: endpoint, attributes, capacity, public asks and a TSR bond
/// @notice Capacity is reserved when a provider bids and released when the bid loses or the lease
/// ends, so a provider can never bid more than it declared. Auditors (allow-listed by governance)
/// certify a provider's attribute set; any change to the attributes voids the certifications.
/// The bond is locked while the provider has any open obligation (a bid, whose capacity is reserved until it
/// is refunded or its lease ends; a lease; a pay-per-result escrow account) and leaves only after an
/// unbonding period once none is open, so a provider cannot bid, withdraw and still win a lease with nothing
/// left to slash.
contract ProviderRegistry is Owned {
    using SafeTransfer for IERC20;

    uint16 public constant MAX_SLASH_BPS = 5000;

    struct Provider {
        bool registered;
        uint32 version; // bumped on every attribute change
        uint32 activeLeases;
        uint64 unbondAt; // 0 = not unbonding
        uint256 bond;
        bytes32 region;
        bytes32 gpuModel;
        Resources capacity;
        Resources reserved;
        Prices prices;
        string endpoint;
    }

    IERC20 public immutable bondToken;
    address public market;
    uint256 public minBond;
    uint64 public unbondingPeriod;
    uint16 public slashBps;
    address public slashTreasury;

    mapping(address => Provider) private _providers;
    address[] private _providerList;
    mapping(address => bool) public isAuditor;
    mapping(address => mapping(address => uint32)) public certifiedVersion;
    /// @notice open bids and leases (counted while their capacity is reserved) plus escrow accounts
    mapping(address => uint32) public openObligations;

    event ProviderRegistered(address indexed provider, uint32 version, string endpoint, bytes32 region,
        bytes32 gpuModel, Resources capacity, Prices prices);
    event BondAdded(address indexed provider, uint256 amount, uint256 bond);
    event UnbondRequested(address indexed provider, uint64 unbondAt);
    event UnbondCancelled(address indexed provider);
    event BondWithdrawn(address indexed provider, uint256 amount);
    event Slashed(address indexed provider, uint256 amount, address indexed compensated, uint256 compensation);
    event AuditorSet(address indexed auditor, bool allowed);
    event Certified(address indexed provider, address indexed auditor, uint32 version);
    event CapacityReserved(address indexed provider, Resources resources);
    event CapacityReleased(address indexed provider, Resources resources);
    event LeaseCountChanged(address indexed provider, uint32 activeLeases);
    event ObligationsChanged(address indexed provider, uint32 openObligations);
    event MarketSet(address market);
    event ParamsSet(uint256 minBond, uint64 unbondingPeriod, uint16 slashBps, address slashTreasury);

    error NotMarket(address caller);
    error MarketAlreadySet(address market);
    error NotRegistered(address provider);
    error NotAuditor(address caller);
    error EmptyEndpoint();
    error CapacityBelowReserved(Resources capacity, Resources reserved);
    error BondTooLow(uint256 bond, uint256 minBond);
    error ProviderUnbonding(address provider, uint64 unbondAt);
    error NotUnbonding(address provider);
    error UnbondingNotOver(uint64 unbondAt, uint64 nowTs);
    error HasActiveLeases(uint32 activeLeases);
    error HasOpenObligations(uint32 openObligations);
    error ProviderIneligible(address provider, uint256 bond, uint64 unbondAt);
    error RegionMismatch(bytes32 required, bytes32 offered);
    error GpuModelMismatch(bytes32 required, bytes32 offered);
    error NotCertified(address provider, address auditor);
    error InsufficientCapacity(Resources requested, Resources free);
    error InvalidParams();

    constructor(IERC20 bondToken_, uint256 minBond_, uint64 unbondingPeriod_, uint16 slashBps_, address owner_)
        Owned(owner_)
    {
        bondToken = bondToken_;
        _setParams(minBond_, unbondingPeriod_, slashBps_, owner_);
    }

    modifier onlyMarket() {
        if (msg.sender != market) revert NotMarket(msg.sender);
        _;
    }

    /// @notice Contracts besides the market that may slash for proven misbehaviour (e.g. the
    /// InferenceEscrow, for an invalid proof the provider signed).
    mapping(address => bool) public slashers;

    event SlasherSet(address indexed slasher, bool allowed);

    function setSlasher(address slasher, bool allowed) external onlyOwner {
        if (slasher == address(0)) revert ZeroAddress();
        slashers[slasher] = allowed;
        emit SlasherSet(slasher, allowed);
    }

    // ---- governance ----

    function setMarket(address market_) external onlyOwner {
        if (market != address(0)) revert MarketAlreadySet(market);
        if (market_ == address(0)) revert ZeroAddress();
        market = market_;
        emit MarketSet(market_);
    }

    function setParams(uint256 minBond_, uint64 unbondingPeriod_, uint16 slashBps_, address slashTreasury_)
        external
        onlyOwner
    {
        _setParams(minBond_, unbondingPeriod_, slashBps_, slashTreasury_);
    }

    function _setParams(uint256 minBond_, uint64 unbondingPeriod_, uint16 slashBps_, address slashTreasury_) private {
        if (slashBps_ > MAX_SLASH_BPS || slashTreasury_ == address(0)) revert InvalidParams();
        minBond = minBond_;
        unbondingPeriod = unbondingPeriod_;
        slashBps = slashBps_;
        slashTreasury = slashTreasury_;
        emit ParamsSet(minBond_, unbondingPeriod_, slashBps_, slashTreasury_);
    }

    function setAuditor(address auditor, bool allowed) external onlyOwner {
        if (auditor == address(0)) revert ZeroAddress();
        isAuditor[auditor] = allowed;
        emit AuditorSet(auditor, allowed);
    }

    // ---- providers ----

    /// @notice Register or update. Posting `bondAmount` more TSR is optional on updates.
    function register(
        string calldata endpoint,
        bytes32 region,
        bytes32 gpuModel,
        Resources calldata capacity,
        Prices calldata prices,
        uint256 bondAmount
    ) external {
        if (bytes(endpoint).length == 0) revert EmptyEndpoint();
        Provider storage p = _providers[msg.sender];
        if (!_fits(p.reserved, capacity)) revert CapacityBelowReserved(capacity, p.reserved);
        if (!p.registered) {
            p.registered = true;
            _providerList.push(msg.sender);
        }
        p.version += 1;
        p.endpoint = endpoint;
        p.region = region;
        p.gpuModel = gpuModel;
        p.capacity = capacity;
        p.prices = prices;
        emit ProviderRegistered(msg.sender, p.version, endpoint, region, gpuModel, capacity, prices);
        if (bondAmount > 0) _addBond(p, bondAmount);
    }

    function addBond(uint256 amount) external {
        Provider storage p = _providers[msg.sender];
        if (!p.registered) revert NotRegistered(msg.sender);
        _addBond(p, amount);
    }

    function _addBond(Provider storage p, uint256 amount) private {
        p.bond += amount;
        emit BondAdded(msg.sender, amount, p.bond);
        bondToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    function requestUnbond() external {
        Provider storage p = _providers[msg.sender];
        if (!p.registered) revert NotRegistered(msg.sender);
        p.unbondAt = uint64(block.timestamp) + unbondingPeriod;
        emit UnbondRequested(msg.sender, p.unbondAt);
    }

    function cancelUnbond() external {
        Provider storage p = _providers[msg.sender];
        if (p.unbondAt == 0) revert NotUnbonding(msg.sender);
        p.unbondAt = 0;
        emit UnbondCancelled(msg.sender);
    }

    function withdrawBond() external {
        Provider storage p = _providers[msg.sender];
        if (p.unbondAt == 0) revert NotUnbonding(msg.sender);
        if (block.timestamp < p.unbondAt) revert UnbondingNotOver(p.unbondAt, uint64(block.timestamp));
        if (p.activeLeases > 0) revert HasActiveLeases(p.activeLeases);
        uint32 open = openObligations[msg.sender];
        if (open > 0) revert HasOpenObligations(open);
        uint256 amount = p.bond;
        p.bond = 0;
        p.unbondAt = 0;
        emit BondWithdrawn(msg.sender, amount);
        bondToken.safeTransfer(msg.sender, amount);
    }

    function certify(address provider) external {
        if (!isAuditor[msg.sender]) revert NotAuditor(msg.sender);
        Provider storage p = _providers[provider];
        if (!p.registered) revert NotRegistered(provider);
        certifiedVersion[provider][msg.sender] = p.version;
        emit Certified(provider, msg.sender, p.version);
    }

    // ---- views ----

    function provider(address who) external view returns (Provider memory) {
        return _providers[who];
    }

    function providerCount() external view returns (uint256) {
        return _providerList.length;
    }

    /// @notice Page through providers (off-chain discovery; nothing on-chain loops over them).
    function providersPage(uint256 start, uint256 count) external view returns (address[] memory page) {
        uint256 n = _providerList.length;
        uint256 end = start + count > n ? n : start + count;
        page = new address[](end > start ? end - start : 0);
        for (uint256 i = start; i < end; i++) {
            page[i - start] = _providerList[i];
        }
    }

    function isCertified(address who, address auditor) public view returns (bool) {
        Provider storage p = _providers[who];
        return p.registered && isAuditor[auditor] && certifiedVersion[who][auditor] == p.version;
    }

    /// @notice Reverts with the first reason `who` cannot serve an order with these terms.
    function checkEligible(address who, Requirements calldata req, Resources calldata res) public view {
        Provider storage p = _providers[who];
        if (!p.registered) revert NotRegistered(who);
        if (p.unbondAt != 0) revert ProviderUnbonding(who, p.unbondAt);
        if (p.bond < minBond) revert BondTooLow(p.bond, minBond);
        if (req.region != bytes32(0) && req.region != p.region) revert RegionMismatch(req.region, p.region);
        if (req.gpuModel != bytes32(0) && req.gpuModel != p.gpuModel) {
            revert GpuModelMismatch(req.gpuModel, p.gpuModel);
        }
        if (req.auditor != address(0) && !isCertified(who, req.auditor)) revert NotCertified(who, req.auditor);
        Resources memory free = _sub(p.capacity, p.reserved);
        if (!_fits(res, free)) revert InsufficientCapacity(res, free);
    }

    /// @notice Reverts unless `who` may take on a new obligation now: bonded at least `minBond`, not unbonding.
    /// The market checks it again when a bid becomes a lease (the bond may have been slashed meanwhile).
    function checkBonded(address who) public view {
        Provider storage p = _providers[who];
        if (!p.registered || p.unbondAt != 0 || p.bond < minBond) revert ProviderIneligible(who, p.bond, p.unbondAt);
    }

    // ---- market hooks ----

    /// @dev A bid reserves capacity and opens an obligation; `release` closes it (bid refunded or lease ended).
    function reserve(address who, Requirements calldata req, Resources calldata res) external onlyMarket {
        checkEligible(who, req, res);
        Provider storage p = _providers[who];
        p.reserved = _add(p.reserved, res);
        emit CapacityReserved(who, res);
        _changeObligations(who, true);
    }

    function release(address who, Resources calldata res) external onlyMarket {
        Provider storage p = _providers[who];
        p.reserved = _sub(p.reserved, res);
        emit CapacityReleased(who, res);
        _changeObligations(who, false);
    }

    /// @notice A slasher (e.g. the InferenceEscrow) opens an obligation the bond must answer for; the provider
    /// must be eligible to take it on.
    function lockBond(address who) external {
        if (!slashers[msg.sender]) revert NotMarket(msg.sender);
        checkBonded(who);
        _changeObligations(who, true);
    }

    function unlockBond(address who) external {
        if (!slashers[msg.sender]) revert NotMarket(msg.sender);
        _changeObligations(who, false);
    }

    function _changeObligations(address who, bool open) private {
        uint32 n = open ? openObligations[who] + 1 : openObligations[who] - 1;
        openObligations[who] = n;
        emit ObligationsChanged(who, n);
    }

    function leaseStarted(address who) external onlyMarket {
        Provider storage p = _providers[who];
        p.activeLeases += 1;
        emit LeaseCountChanged(who, p.activeLeases);
    }

    function leaseEnded(address who) external onlyMarket {
        Provider storage p = _providers[who];
        p.activeLeases -= 1;
        emit LeaseCountChanged(who, p.activeLeases);
    }

    /// @notice Slash `slashBps` of the bond for a missed SLA: half compensates `victim`, half goes to the
    /// slash treasury. Returns (slashed, compensation).
    function slash(address who, address victim) external returns (uint256 amount, uint256 compensation) {
        if (msg.sender != market && !slashers[msg.sender]) revert NotMarket(msg.sender);
        Provider storage p = _providers[who];
        amount = (p.bond * slashBps) / 10_000;
        compensation = amount / 2;
        p.bond -= amount;
        emit Slashed(who, amount, victim, compensation);
        bondToken.safeTransfer(victim, compensation);
        bondToken.safeTransfer(slashTreasury, amount - compensation);
    }

    // ---- resource arithmetic ----

    function _fits(Resources memory a, Resources memory b) private pure returns (bool) {
        return a.cpu <= b.cpu && a.memoryMb <= b.memoryMb && a.storageGb <= b.storageGb && a.gpus <= b.gpus;
    }

    function _add(Resources memory a, Resources memory b) private pure returns (Resources memory) {
        return Resources(a.cpu + b.cpu, a.memoryMb + b.memoryMb, a.storageGb + b.storageGb, a.gpus + b.gpus);
    }

    function _sub(Resources memory a, Resources memory b) private pure returns (Resources memory) {
        return Resources(a.cpu - b.cpu, a.memoryMb - b.memoryMb, a.storageGb - b.storageGb, a.gpus - b.gpus);
    }
}

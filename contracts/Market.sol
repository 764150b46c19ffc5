// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Owned} from "./lib/Owned.sol";
import {IERC20, IERC20Permit, SafeTransfer} from "./lib/SafeTransfer.sol";
import {Resources, Requirements} from "./lib/MarketTypes.sol";
import {ProviderRegistry} from "./ProviderRegistry.sol";

/// @title Compute marketplace: orders, a reverse auction, leases that stream escrowed stablecoin
/// @notice Lifecycle: createOrder → bid (during the window) → closeAuction (lowest price wins, the
/// earliest bid breaks ties) or acceptBid (tenant picks early) → lease (Starting) → acknowledge
/// (Active: the provider says the workload runs, billing starts) → heartbeat / withdraw / topUp →
/// closeLease. A lease nobody acknowledged by its start deadline can be closed by anyone for a
/// full refund: a tenant pays nothing for a workload that never started, and a tenant that never
/// sends the manifest holds the provider's capacity for at most the start timeout. Payment accrues per second and is settled lazily. A lease whose escrow runs
/// dry is paused, not killed: a top-up within the grace period resumes it. A provider silent for
/// longer than the SLA is not paid for the silence, and anyone can close its lease, which refunds the
/// tenant and slashes the provider's bond.
///
/// Conservation: the contract always holds exactly the open orders' deposits + the unrefunded bid
/// deposits + the leases' escrow; every unit that leaves goes to a provider, the treasury, or back
/// to whoever deposited it.
contract Market is Owned {
    using SafeTransfer for IERC20;

    uint16 public constant MAX_TAKE_BPS = 500;
    uint64 public constant MAX_BID_WINDOW = 7 days;

    enum OrderState { None, Open, Leased, Cancelled }
    enum LeaseState { None, Active, Paused, Closed, Starting }
    enum CloseReason { Tenant, Provider, MissedHeartbeats, GraceExpired, NotStarted }

    struct OrderSpec {
        Resources resources;
        Requirements requirements;
        uint64 maxPricePerHour;
        uint64 bidWindow;
        bytes32 manifestHash;
        uint256 deposit;
    }

    struct Order {
        address tenant;
        OrderState state;
        uint64 closesAt;
        uint64 bestBid;
        uint32 bidCount;
        uint64 leaseId;
        OrderSpec spec;
    }

    struct Bid {
        uint64 orderId;
        address provider;
        uint64 pricePerHour;
        uint64 placedAt;
        bool settled; // deposit refunded (lost, cancelled) or returned at lease start
        uint256 deposit;
    }

    struct Lease {
        uint64 orderId;
        uint64 bidId;
        address tenant;
        address provider;
        LeaseState state;
        uint64 pricePerHour;
        uint64 startedAt; // when the lease was won; from the acknowledgement on, when billing started
        uint64 settledAt; // billing has been settled up to here
        uint64 lastHeartbeat;
        uint64 pausedAt;
        uint64 billedSeconds;
        uint64 startBy; // a Starting lease not acknowledged by then can be closed by anyone, fully refunded
        uint256 charged; // total billed so far: floor(price * billedSeconds / 3600)
        uint256 escrow;
    }

    /// @notice A lease as of now, with lazy settlement applied.
    struct LeaseStatus {
        LeaseState state;
        uint64 fundedUntil; // billing runs dry at this time (if still active)
        uint64 graceEndsAt; // for a paused lease
        bool breached; // provider silent past the SLA while funded: anyone may close and slash
        uint256 escrow; // remaining after settling now
        uint256 owedToProvider; // not yet paid out, after fee
    }

    IERC20 public immutable stablecoin;
    ProviderRegistry public immutable providers;
    address public treasury;
    uint16 public takeBps;
    uint64 public heartbeatSla;
    uint64 public gracePeriod;
    uint256 public bidDeposit;
    uint64 public startTimeout;

    uint64 public orderCount;
    uint64 public bidCount;
    uint64 public leaseCount;
    mapping(uint64 => Order) private _orders;
    mapping(uint64 => Bid) private _bids;
    mapping(uint64 => Lease) private _leases;
    mapping(uint64 => mapping(address => uint64)) public bidOf; // order → provider → bid id

    event OrderCreated(uint64 indexed orderId, address indexed tenant, uint64 closesAt, OrderSpec spec);
    event OrderCancelled(uint64 indexed orderId, uint256 refund);
    event BidPlaced(uint64 indexed orderId, uint64 indexed bidId, address indexed provider, uint64 pricePerHour);
    event BidRefunded(uint64 indexed bidId, address indexed provider, uint256 amount);
    event LeaseCreated(uint64 indexed leaseId, uint64 indexed orderId, address indexed provider, uint64 bidId,
        address tenant, uint64 pricePerHour, uint256 escrow);
    event LeaseSettled(uint64 indexed leaseId, uint256 paid, uint256 fee, uint64 settledAt, uint256 escrow);
    event LeasePaused(uint64 indexed leaseId, uint64 pausedAt, uint64 graceEndsAt);
    event LeaseResumed(uint64 indexed leaseId, uint64 at);
    event ToppedUp(uint64 indexed leaseId, address indexed from, uint256 amount, uint256 escrow);
    event Heartbeat(uint64 indexed leaseId, uint64 at);
    event LeaseAcknowledged(uint64 indexed leaseId, uint64 at);
    event LeaseClosed(uint64 indexed leaseId, CloseReason reason, uint256 refund, uint256 slashed);
    event ParamsSet(address treasury, uint16 takeBps, uint64 heartbeatSla, uint64 gracePeriod, uint256 bidDeposit,
        uint64 startTimeout);

    error InvalidParams();
    error InvalidOrder(string why);
    error UnknownOrder(uint64 orderId);
    error UnknownBid(uint64 bidId);
    error UnknownLease(uint64 leaseId);
    error OrderNotOpen(uint64 orderId, OrderState state);
    error BidWindowClosed(uint64 orderId, uint64 closesAt);
    error BidWindowOpen(uint64 orderId, uint64 closesAt);
    error PriceAboveMax(uint64 price, uint64 maxPrice);
    error ZeroPrice();
    error DuplicateBid(uint64 orderId, address provider, uint64 bidId);
    error NoBids(uint64 orderId);
    error NotTenant(address caller, address tenant);
    error BidNotForOrder(uint64 bidId, uint64 orderId);
    error BidNotRefundable(uint64 bidId);
    error NotParty(address caller);
    error LeaseNotOpen(uint64 leaseId, LeaseState state);
    error NotProvider(address caller, address provider);
    error GraceExpired(uint64 leaseId, uint64 graceEndsAt);
    error LeaseBreached(uint64 leaseId, uint64 deadline);
    error ZeroAmount();
    error LeaseNotStarted(uint64 leaseId);
    error NotStarting(uint64 leaseId, LeaseState state);

    constructor(
        IERC20 stablecoin_,
        ProviderRegistry providers_,
        address treasury_,
        uint16 takeBps_,
        uint64 heartbeatSla_,
        uint64 gracePeriod_,
        uint256 bidDeposit_,
        uint64 startTimeout_,
        address owner_
    ) Owned(owner_) {
        stablecoin = stablecoin_;
        providers = providers_;
        _setParams(treasury_, takeBps_, heartbeatSla_, gracePeriod_, bidDeposit_, startTimeout_);
    }

    // ---- governance ----

    function setParams(
        address treasury_,
        uint16 takeBps_,
        uint64 heartbeatSla_,
        uint64 gracePeriod_,
        uint256 bidDeposit_,
        uint64 startTimeout_
    ) external onlyOwner {
        _setParams(treasury_, takeBps_, heartbeatSla_, gracePeriod_, bidDeposit_, startTimeout_);
    }

    function _setParams(address treasury_, uint16 takeBps_, uint64 sla_, uint64 grace_, uint256 bidDeposit_,
        uint64 startTimeout_) private {
        if (treasury_ == address(0) || takeBps_ > MAX_TAKE_BPS || sla_ == 0 || startTimeout_ == 0) {
            revert InvalidParams();
        }
        treasury = treasury_;
        takeBps = takeBps_;
        heartbeatSla = sla_;
        gracePeriod = grace_;
        bidDeposit = bidDeposit_;
        startTimeout = startTimeout_;
        emit ParamsSet(treasury_, takeBps_, sla_, grace_, bidDeposit_, startTimeout_);
    }

    // ---- orders and the auction ----

    function createOrder(OrderSpec calldata spec) external returns (uint64 orderId) {
        orderId = _createOrder(spec);
        stablecoin.safeTransferFrom(msg.sender, address(this), spec.deposit);
    }

    /// @notice createOrder with an EIP-2612 permit for the deposit: one transaction, no prior approve.
    function createOrderWithPermit(OrderSpec calldata spec, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        returns (uint64 orderId)
    {
        _tryPermit(spec.deposit, deadline, v, r, s);
        orderId = _createOrder(spec);
        stablecoin.safeTransferFrom(msg.sender, address(this), spec.deposit);
    }

    /// @dev A permit anyone can copy from the mempool and submit first: if it was already used, the allowance
    /// it granted is there and the transfer below succeeds; if not, the transfer fails with the token's error.
    function _tryPermit(uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s) private {
        try IERC20Permit(address(stablecoin)).permit(msg.sender, address(this), value, deadline, v, r, s) {} catch {}
    }

    function _createOrder(OrderSpec calldata spec) private returns (uint64 orderId) {
        Resources calldata res = spec.resources;
        if (res.cpu == 0 && res.memoryMb == 0 && res.storageGb == 0 && res.gpus == 0) {
            revert InvalidOrder("resources are all zero");
        }
        if (spec.maxPricePerHour == 0) revert InvalidOrder("maxPricePerHour is zero");
        if (spec.bidWindow == 0 || spec.bidWindow > MAX_BID_WINDOW) revert InvalidOrder("bidWindow out of range");
        if (spec.deposit == 0) revert InvalidOrder("deposit is zero");
        if (spec.manifestHash == bytes32(0)) revert InvalidOrder("manifestHash is zero");
        orderId = ++orderCount;
        Order storage o = _orders[orderId];
        o.tenant = msg.sender;
        o.state = OrderState.Open;
        o.closesAt = uint64(block.timestamp) + spec.bidWindow;
        o.spec = spec;
        emit OrderCreated(orderId, msg.sender, o.closesAt, spec);
    }

    function bid(uint64 orderId, uint64 pricePerHour) external returns (uint64 bidId) {
        Order storage o = _openOrder(orderId);
        if (block.timestamp >= o.closesAt) revert BidWindowClosed(orderId, o.closesAt);
        if (pricePerHour == 0) revert ZeroPrice();
        if (pricePerHour > o.spec.maxPricePerHour) revert PriceAboveMax(pricePerHour, o.spec.maxPricePerHour);
        uint64 existing = bidOf[orderId][msg.sender];
        if (existing != 0) revert DuplicateBid(orderId, msg.sender, existing);

        bidId = ++bidCount;
        uint256 deposit = bidDeposit;
        _bids[bidId] = Bid(orderId, msg.sender, pricePerHour, uint64(block.timestamp), false, deposit);
        bidOf[orderId][msg.sender] = bidId;
        o.bidCount += 1;
        // strictly lower replaces the best, so among equal prices the earliest bid stays best
        if (o.bestBid == 0 || pricePerHour < _bids[o.bestBid].pricePerHour) o.bestBid = bidId;
        emit BidPlaced(orderId, bidId, msg.sender, pricePerHour);
        providers.reserve(msg.sender, o.spec.requirements, o.spec.resources);
        stablecoin.safeTransferFrom(msg.sender, address(this), deposit);
    }

    /// @notice After the bid window anyone can close the auction: the lowest bid gets the lease.
    function closeAuction(uint64 orderId) external returns (uint64 leaseId) {
        Order storage o = _openOrder(orderId);
        if (block.timestamp < o.closesAt) revert BidWindowOpen(orderId, o.closesAt);
        if (o.bestBid == 0) revert NoBids(orderId);
        return _startLease(orderId, o, o.bestBid);
    }

    /// @notice The tenant may take any bid on its open order at any time, without waiting for the window.
    function acceptBid(uint64 bidId) external returns (uint64 leaseId) {
        Bid storage b = _bids[bidId];
        if (b.provider == address(0)) revert UnknownBid(bidId);
        Order storage o = _openOrder(b.orderId);
        if (msg.sender != o.tenant) revert NotTenant(msg.sender, o.tenant);
        return _startLease(b.orderId, o, bidId);
    }

    function cancelOrder(uint64 orderId) external {
        Order storage o = _openOrder(orderId);
        if (msg.sender != o.tenant) revert NotTenant(msg.sender, o.tenant);
        o.state = OrderState.Cancelled;
        uint256 refund = o.spec.deposit;
        emit OrderCancelled(orderId, refund);
        stablecoin.safeTransfer(o.tenant, refund);
    }

    /// @notice Return a losing (or cancelled-order) bid's deposit and reserved capacity. Anyone may call;
    /// the deposit always goes to the bidder.
    function refundBid(uint64 bidId) external {
        Bid storage b = _bids[bidId];
        if (b.provider == address(0)) revert UnknownBid(bidId);
        Order storage o = _orders[b.orderId];
        if (b.settled || o.state == OrderState.Open) revert BidNotRefundable(bidId);
        b.settled = true;
        emit BidRefunded(bidId, b.provider, b.deposit);
        providers.release(b.provider, o.spec.resources);
        stablecoin.safeTransfer(b.provider, b.deposit);
    }

    function _startLease(uint64 orderId, Order storage o, uint64 bidId) private returns (uint64 leaseId) {
        Bid storage b = _bids[bidId];
        if (b.orderId != orderId) revert BidNotForOrder(bidId, orderId);
        // the bid's bond was locked since it was placed, but it may have been slashed below the minimum or its
        // provider may be unbonding: such a bid cannot become a lease
        providers.checkBonded(b.provider);
        leaseId = ++leaseCount;
        o.state = OrderState.Leased;
        o.leaseId = leaseId;
        b.settled = true;
        uint64 nowTs = uint64(block.timestamp);
        Lease storage l = _leases[leaseId];
        l.orderId = orderId;
        l.bidId = bidId;
        l.tenant = o.tenant;
        l.provider = b.provider;
        l.state = LeaseState.Starting; // nothing accrues until the provider acknowledges the workload runs
        l.pricePerHour = b.pricePerHour;
        l.startedAt = nowTs;
        l.settledAt = nowTs;
        l.lastHeartbeat = nowTs;
        l.escrow = o.spec.deposit;
        l.startBy = nowTs + startTimeout;
        emit LeaseCreated(leaseId, orderId, b.provider, bidId, o.tenant, b.pricePerHour, l.escrow);
        emit BidRefunded(bidId, b.provider, b.deposit);
        providers.leaseStarted(b.provider);
        stablecoin.safeTransfer(b.provider, b.deposit);
    }

    // ---- leases ----

    /// @notice The provider says the workload runs: billing and the heartbeat SLA start now. Only before the
    /// start deadline: after it the tenant (or anyone) may close the lease for a full refund instead.
    function acknowledge(uint64 leaseId) external {
        Lease storage l = _leases[leaseId];
        if (l.state == LeaseState.None) revert UnknownLease(leaseId);
        if (msg.sender != l.provider) revert NotProvider(msg.sender, l.provider);
        if (l.state != LeaseState.Starting) revert NotStarting(leaseId, l.state);
        uint64 nowTs = uint64(block.timestamp);
        if (nowTs > l.startBy) revert LeaseNotStarted(leaseId);
        l.state = LeaseState.Active;
        l.startedAt = nowTs; // the lease's billing starts here, not at the auction
        l.settledAt = nowTs;
        l.lastHeartbeat = nowTs;
        emit LeaseAcknowledged(leaseId, nowTs);
    }

    /// @notice Provider liveness. Cheap: no token transfer. Also allowed while paused.
    function heartbeat(uint64 leaseId) external {
        Lease storage l = _openLease(leaseId);
        if (msg.sender != l.provider) revert NotProvider(msg.sender, l.provider);
        if (l.state == LeaseState.Starting) revert LeaseNotStarted(leaseId);
        _checkBreach(leaseId, l);
        l.lastHeartbeat = uint64(block.timestamp);
        emit Heartbeat(leaseId, l.lastHeartbeat);
    }

    /// @notice Settle what has accrued and pay the provider. When the provider calls, it also counts
    /// as a heartbeat.
    function withdraw(uint64 leaseId) external {
        Lease storage l = _openLease(leaseId);
        _checkBreach(leaseId, l);
        (uint256 paid, uint256 fee) = _settle(leaseId, l, uint64(block.timestamp));
        if (msg.sender == l.provider) {
            l.lastHeartbeat = uint64(block.timestamp);
            emit Heartbeat(leaseId, l.lastHeartbeat);
        }
        _pay(l.provider, paid, fee);
    }

    function topUp(uint64 leaseId, uint256 amount) external {
        _topUp(leaseId, amount);
    }

    function topUpWithPermit(uint64 leaseId, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external {
        _tryPermit(amount, deadline, v, r, s);
        _topUp(leaseId, amount);
    }

    function _topUp(uint64 leaseId, uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        Lease storage l = _openLease(leaseId);
        _checkBreach(leaseId, l);
        (uint256 paid, uint256 fee) = _settle(leaseId, l, uint64(block.timestamp));
        uint64 nowTs = uint64(block.timestamp);
        if (l.state == LeaseState.Paused) {
            uint64 graceEnds = l.pausedAt + gracePeriod;
            if (nowTs > graceEnds) revert GraceExpired(leaseId, graceEnds);
            l.state = LeaseState.Active;
            // nothing accrues while paused, and the provider owed no heartbeats then
            l.settledAt = nowTs;
            l.lastHeartbeat = nowTs;
            emit LeaseResumed(leaseId, nowTs);
        }
        l.escrow += amount;
        emit ToppedUp(leaseId, msg.sender, amount, l.escrow);
        _pay(l.provider, paid, fee);
        stablecoin.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Tenant or provider may close at any time. Anyone may close a lease whose provider has
    /// missed heartbeats past the SLA (refund + slash) or whose grace period ran out.
    function closeLease(uint64 leaseId) external {
        Lease storage l = _openLease(leaseId);
        bool party = msg.sender == l.tenant || msg.sender == l.provider;
        uint64 nowTs = uint64(block.timestamp);
        CloseReason reason = msg.sender == l.provider ? CloseReason.Provider : CloseReason.Tenant;
        uint256 paid;
        uint256 fee;
        bool breach;
        if (l.state == LeaseState.Active) {
            (breach, paid, fee) = _settleForClose(leaseId, l, nowTs);
        }
        if (breach) {
            reason = CloseReason.MissedHeartbeats;
        } else if (l.state == LeaseState.Starting && nowTs > l.startBy) {
            reason = CloseReason.NotStarted; // never acknowledged: everything goes back, nobody is slashed
        } else if (l.state == LeaseState.Paused && nowTs > l.pausedAt + gracePeriod) {
            reason = CloseReason.GraceExpired;
        } else if (!party) {
            revert NotParty(msg.sender);
        }
        l.state = LeaseState.Closed;
        uint256 refund = l.escrow;
        l.escrow = 0;
        uint256 slashed;
        // the registry is the protocol's own contract: its calls come before the token transfers
        providers.release(l.provider, _orders[l.orderId].spec.resources);
        providers.leaseEnded(l.provider);
        if (breach) (slashed,) = providers.slash(l.provider, l.tenant);
        emit LeaseClosed(leaseId, reason, refund, slashed);
        _pay(l.provider, paid, fee);
        stablecoin.safeTransfer(l.tenant, refund);
    }

    // ---- views ----

    function getOrder(uint64 orderId) external view returns (Order memory) {
        return _orders[orderId];
    }

    function getBid(uint64 bidId) external view returns (Bid memory) {
        return _bids[bidId];
    }

    function getLease(uint64 leaseId) external view returns (Lease memory) {
        return _leases[leaseId];
    }

    function leaseStatus(uint64 leaseId) external view returns (LeaseStatus memory s) {
        Lease memory l = _leases[leaseId];
        if (l.state == LeaseState.None) revert UnknownLease(leaseId);
        uint64 nowTs = uint64(block.timestamp);
        s.state = l.state;
        s.escrow = l.escrow;
        if (l.state == LeaseState.Active) {
            s.fundedUntil = _fundedUntil(l);
            uint64 until;
            (s.breached, until) = _billingEnd(_leases[leaseId], nowTs);
            if (until > s.fundedUntil) {
                until = s.fundedUntil;
                s.state = LeaseState.Paused;
                l.pausedAt = s.fundedUntil;
            }
            (uint256 due,) = _accrual(l, until);
            s.escrow = l.escrow - due;
            s.owedToProvider = due - (due * takeBps) / 10_000;
        }
        if (s.state == LeaseState.Paused) s.graceEndsAt = l.pausedAt + gracePeriod;
    }

    /// @notice Whether anyone may close a never-acknowledged lease now (for a full refund).
    function startExpired(uint64 leaseId) external view returns (bool) {
        Lease storage l = _leases[leaseId];
        return l.state == LeaseState.Starting && block.timestamp > l.startBy;
    }

    // ---- internals ----

    function _openOrder(uint64 orderId) private view returns (Order storage o) {
        o = _orders[orderId];
        if (o.state == OrderState.None) revert UnknownOrder(orderId);
        if (o.state != OrderState.Open) revert OrderNotOpen(orderId, o.state);
    }

    function _openLease(uint64 leaseId) private view returns (Lease storage l) {
        l = _leases[leaseId];
        if (l.state == LeaseState.None) revert UnknownLease(leaseId);
        if (l.state == LeaseState.Closed) revert LeaseNotOpen(leaseId, l.state);
    }

    /// @dev Operations other than closing refuse to run on a breached lease: it must be closed.
    function _checkBreach(uint64 leaseId, Lease storage l) private view {
        if (l.state != LeaseState.Active) return;
        (bool breach,) = _billingEnd(l, uint64(block.timestamp));
        if (breach) revert LeaseBreached(leaseId, l.lastHeartbeat + heartbeatSla);
    }

    /// @dev The SLA rule, in one place. An active lease is breached when its provider has been silent
    /// past the SLA while the escrow still funded it (a dry lease owes no heartbeats). Billing runs to
    /// `nowTs`, or for a breached lease only up to the last heartbeat.
    function _billingEnd(Lease storage l, uint64 nowTs) private view returns (bool breach, uint64 until) {
        // storage, and the short-circuit below: the struct is copied only for a lease past its deadline
        uint64 deadline = l.lastHeartbeat + heartbeatSla;
        breach = nowTs > deadline && _fundedUntil(l) > deadline;
        until = !breach ? nowTs : l.lastHeartbeat > l.settledAt ? l.lastHeartbeat : l.settledAt;
    }

    /// @dev Largest billed-seconds count the escrow can pay for, as a time.
    function _fundedUntil(Lease memory l) private pure returns (uint64) {
        uint256 maxBilled = ((l.charged + l.escrow + 1) * 3600 - 1) / l.pricePerHour;
        uint256 t = uint256(l.settledAt) + (maxBilled - l.billedSeconds);
        return t > type(uint64).max ? type(uint64).max : uint64(t);
    }

    /// @dev (amount due, billed seconds after) for settling an active lease up to `until` (≤ fundedUntil).
    function _accrual(Lease memory l, uint64 until) private pure returns (uint256 due, uint64 billed) {
        if (until <= l.settledAt) return (0, l.billedSeconds);
        billed = l.billedSeconds + (until - l.settledAt);
        due = (uint256(l.pricePerHour) * billed) / 3600 - l.charged;
    }

    /// @dev Bill an active lease up to `until`, pausing it where the escrow runs dry. Returns what to
    /// pay out (provider share, fee); the caller transfers after all state changes.
    function _settle(uint64 leaseId, Lease storage l, uint64 until) private returns (uint256 paid, uint256 fee) {
        if (l.state != LeaseState.Active) return (0, 0);
        uint64 dryAt = _fundedUntil(l);
        bool dry = until > dryAt;
        if (dry) until = dryAt;
        (uint256 due, uint64 billed) = _accrual(l, until);
        if (until > l.settledAt) {
            l.billedSeconds = billed;
            l.charged += due;
            l.escrow -= due;
            l.settledAt = until;
        }
        fee = (due * takeBps) / 10_000;
        paid = due - fee;
        if (due > 0) emit LeaseSettled(leaseId, paid, fee, l.settledAt, l.escrow);
        if (dry) {
            l.state = LeaseState.Paused;
            l.pausedAt = dryAt;
            emit LeasePaused(leaseId, dryAt, dryAt + gracePeriod);
        }
    }

    /// @dev Settlement on close. A provider silent past the SLA (while funded) is paid only up to its
    /// last heartbeat; returns breach = true for that case.
    function _settleForClose(uint64 leaseId, Lease storage l, uint64 nowTs)
        private
        returns (bool breach, uint256 paid, uint256 fee)
    {
        uint64 until;
        (breach, until) = _billingEnd(l, nowTs);
        (paid, fee) = _settle(leaseId, l, until);
    }

    function _pay(address provider, uint256 paid, uint256 fee) private {
        stablecoin.safeTransfer(provider, paid);
        stablecoin.safeTransfer(treasury, fee);
    }
}

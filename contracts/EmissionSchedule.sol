// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Owned} from "./lib/Owned.sol";
import {TesseraToken} from "./TesseraToken.sol";

/// @title Bittensor-style TSR emission
/// @notice Every `blockInterval` blocks, `emissionAt(issuance)` TSR are minted, where
///   emission = baseEmission / 2^floor(log2(1 / (1 - issuance/CAP)))
/// so the rate halves each time issuance crosses 1/2, 3/4, 7/8 ... of the cap. Anyone may call
/// `distribute()`; what is due is split among registered recipients in proportion to their weights.
/// The schedule creates the token, so it is the token's only possible minter.
contract EmissionSchedule is Owned {
    uint256 public constant MAX_RECIPIENTS = 16;

    TesseraToken public immutable token;
    uint256 public immutable cap;
    uint256 public immutable baseEmission;
    uint256 public immutable blockInterval;
    uint256 public lastEmissionBlock;

    address[] private _recipients;
    mapping(address => uint256) public weightOf;
    mapping(address => uint256) private _indexPlusOne;
    uint256 public totalWeight;

    event RecipientSet(address indexed recipient, uint256 weight, uint256 totalWeight);
    event Emitted(uint256 periods, uint256 amount, uint256 issuanceAfter, uint256 lastEmissionBlock);
    event EmissionPaid(address indexed recipient, uint256 amount);

    error InvalidSchedule(uint256 baseEmission, uint256 blockInterval);
    error NoRecipients();
    error TooManyRecipients(uint256 max);

    constructor(uint256 baseEmission_, uint256 blockInterval_, address owner_) Owned(owner_) {
        if (baseEmission_ == 0 || blockInterval_ == 0) revert InvalidSchedule(baseEmission_, blockInterval_);
        token = new TesseraToken(address(this));
        cap = token.CAP();
        baseEmission = baseEmission_;
        blockInterval = blockInterval_;
        lastEmissionBlock = block.number;
    }

    /// @notice Number of halvings at a given issuance: the largest k with issuance >= CAP - CAP/2^k.
    function halvingsAt(uint256 issuance) public view returns (uint256 k) {
        if (issuance >= cap) return 256;
        uint256 remaining = cap - issuance;
        // remaining <= cap >> (k+1)  <=>  remaining * 2^(k+1) <= cap, exactly, for integers
        while (k < 255 && remaining <= (cap >> (k + 1))) {
            k++;
        }
    }

    /// @notice TSR minted per period at a given issuance.
    function emissionAt(uint256 issuance) public view returns (uint256) {
        uint256 k = halvingsAt(issuance);
        return k >= 256 ? 0 : baseEmission >> k;
    }

    function recipients() external view returns (address[] memory) {
        return _recipients;
    }

    function periodsDue() public view returns (uint256) {
        return (block.number - lastEmissionBlock) / blockInterval;
    }

    /// @notice What `periods` further periods would emit from `issuance`, stepping era by era, exactly
    /// as if each period were minted on its own. Bounded: at most one step per halving.
    function emissionFor(uint256 issuance, uint256 periods) public view returns (uint256 total) {
        while (periods > 0 && issuance < cap) {
            uint256 k = halvingsAt(issuance);
            uint256 rate = k >= 256 ? 0 : baseEmission >> k;
            if (rate == 0) break;
            uint256 nextThreshold = cap - (cap >> (k + 1));
            uint256 inEra = (nextThreshold - issuance + rate - 1) / rate;
            uint256 n = periods < inEra ? periods : inEra;
            uint256 amount = n * rate;
            if (amount > cap - issuance) amount = cap - issuance;
            issuance += amount;
            total += amount;
            periods -= n;
        }
    }

    function setRecipient(address recipient, uint256 weight) external onlyOwner {
        if (recipient == address(0)) revert ZeroAddress();
        uint256 idx = _indexPlusOne[recipient];
        if (weight == 0) {
            if (idx != 0) {
                address last = _recipients[_recipients.length - 1];
                _recipients[idx - 1] = last;
                _indexPlusOne[last] = idx;
                _recipients.pop();
                delete _indexPlusOne[recipient];
            }
        } else if (idx == 0) {
            if (_recipients.length >= MAX_RECIPIENTS) revert TooManyRecipients(MAX_RECIPIENTS);
            _recipients.push(recipient);
            _indexPlusOne[recipient] = _recipients.length;
        }
        totalWeight = totalWeight - weightOf[recipient] + weight;
        weightOf[recipient] = weight;
        emit RecipientSet(recipient, weight, totalWeight);
    }

    /// @notice Mint everything due since the last distribution to the recipients. Returns the amount.
    function distribute() external returns (uint256 amount) {
        uint256 periods = periodsDue();
        if (periods == 0) return 0;
        uint256 n = _recipients.length;
        if (n == 0) revert NoRecipients();
        amount = emissionFor(token.totalSupply(), periods);
        lastEmissionBlock += periods * blockInterval;
        emit Emitted(periods, amount, token.totalSupply() + amount, lastEmissionBlock);
        if (amount == 0) return 0;
        uint256 paid;
        for (uint256 i = 0; i < n; i++) {
            address r = _recipients[i];
            // the last recipient takes the rounding remainder so exactly `amount` is minted
            uint256 share = i == n - 1 ? amount - paid : (amount * weightOf[r]) / totalWeight;
            paid += share;
            if (share > 0) {
                token.mint(r, share);
                emit EmissionPaid(r, share);
            }
        }
    }
}

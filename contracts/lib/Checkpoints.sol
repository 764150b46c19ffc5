// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice A value's history by block: what it was at the end of any past block. Written once per block at
/// most (a second change in the same block overwrites that block's point), read newest-first because the
/// block asked for is almost always at or after the last change, then by binary search (O(log n), never a
/// walk over the history).
library Checkpoints {
    struct Point {
        uint64 blockNumber;
        uint192 value;
    }

    struct History {
        Point[] points;
    }

    error ValueTooLarge(uint256 value);

    function push(History storage h, uint256 value) internal {
        if (value > type(uint192).max) revert ValueTooLarge(value);
        uint256 n = h.points.length;
        if (n > 0 && h.points[n - 1].blockNumber == block.number) {
            h.points[n - 1].value = uint192(value);
        } else {
            h.points.push(Point(uint64(block.number), uint192(value)));
        }
    }

    /// @dev The value at the end of block `blockNumber` (0 before the first point).
    function at(History storage h, uint256 blockNumber) internal view returns (uint256) {
        uint256 n = h.points.length;
        if (n == 0) return 0;
        Point storage last = h.points[n - 1];
        if (last.blockNumber <= blockNumber) return last.value;
        uint256 lo = 0;
        uint256 hi = n - 1; // points[hi] is after blockNumber
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (h.points[mid].blockNumber <= blockNumber) lo = mid + 1;
            else hi = mid;
        }
        return lo == 0 ? 0 : h.points[lo - 1].value;
    }
}
